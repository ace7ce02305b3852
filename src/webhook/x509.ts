/**
 * X.509 v3 certificates made in-process with Node's crypto: a self-signed CA and the serving
 * certificates it signs, ECDSA P-256 with SHA-256. Node can parse and verify certificates
 * (`X509Certificate`) but not create them, so this module encodes the DER itself — only the
 * fixed, small subset of RFC 5280 a webhook CA needs, built from values this process made (it
 * never parses untrusted DER).
 *
 * Guarantees:
 * - CA: basicConstraints critical `cA=TRUE, pathLen=0`, keyUsage critical
 *   digitalSignature|keyCertSign|cRLSign, a subjectKeyIdentifier.
 * - Serving certificate: basicConstraints critical `cA=FALSE`, keyUsage critical digitalSignature,
 *   extKeyUsage serverAuth, subjectAltName with every DNS name and IP address asked for (Go's TLS,
 *   and so the apiserver, ignores the CN), an authorityKeyIdentifier naming the CA.
 * - Serial numbers are 16 random bytes, positive. `notBefore` is backdated for clock skew by
 *   5 minutes, or a tenth of the validity when that is shorter (so short-lived test certificates
 *   are not mostly backdating).
 * - Times use UTCTime up to 2049 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
} from "node:crypto";
import { isIP } from "node:net";
import { OperatorError } from "../errors.js";

/** A certificate and its private key, both PEM. */
export interface CertificateAndKey {
  readonly certPem: string;
  readonly keyPem: string;
}

/** What `createCertificateAuthority` makes. */
export interface CertificateAuthorityRequest {
  /** Subject CN. Default `modelpack-operator-webhook-ca`. */
  readonly commonName?: string;
  /** Issue time, ms since the epoch (the injected clock's `now()`). */
  readonly now: number;
  /** Lifetime in ms from `now`. */
  readonly validityMs: number;
}

/** What `issueServingCertificate` makes. */
export interface ServingCertificateRequest {
  /** DNS SANs, e.g. `modelpack-operator-webhook.modelpack-system.svc`. */
  readonly dnsNames?: readonly string[];
  /** IP SANs, e.g. `127.0.0.1`. */
  readonly ipAddresses?: readonly string[];
  /** Subject CN. Default: the first SAN. */
  readonly commonName?: string;
  readonly now: number;
  readonly validityMs: number;
}

/** Thrown for a request that cannot make a valid certificate (no SANs, a bad IP, bad validity). */
export class CertificateRequestError extends OperatorError<"InvalidCertificateRequest"> {
  constructor(message: string) {
    super("InvalidCertificateRequest", message);
  }
}

const CLOCK_SKEW_MS = 5 * 60_000;

/** Creates a self-signed CA with a fresh P-256 key. Throws CertificateRequestError on bad validity. */
export function createCertificateAuthority(request: CertificateAuthorityRequest): CertificateAndKey {
  checkValidity(request.validityMs);
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const name = distinguishedName(request.commonName ?? "modelpack-operator-webhook-ca");
  const keyId = keyIdentifier(spki);
  const tbs = tbsCertificate({
    issuer: name,
    subject: name,
    spki,
    now: request.now,
    validityMs: request.validityMs,
    extensions: [
      extension(OID.basicConstraints, true, sequence(boolean(true), integer(Buffer.from([0])))),
      extension(
        OID.keyUsage,
        true,
        keyUsageBits(KEY_USAGE.digitalSignature | KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign),
      ),
      extension(OID.subjectKeyIdentifier, false, octetString(keyId)),
    ],
  });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return { certPem: signedCertificatePem(tbs, keyPem), keyPem };
}

/**
 * Issues a serving certificate signed by `ca` with a fresh P-256 key. Throws
 * CertificateRequestError when no SAN is given, an IP address does not parse or the validity is
 * not positive; throws what Node throws when `ca` is not a CA certificate and key PEM.
 */
export function issueServingCertificate(
  ca: CertificateAndKey,
  request: ServingCertificateRequest,
): CertificateAndKey {
  checkValidity(request.validityMs);
  const dnsNames = request.dnsNames ?? [];
  const ipAddresses = request.ipAddresses ?? [];
  if (dnsNames.length === 0 && ipAddresses.length === 0) {
    throw new CertificateRequestError("a serving certificate needs at least one DNS name or IP address");
  }
  const caCert = new X509Certificate(ca.certPem);
  const caSpki = caCert.publicKey.export({ type: "spki", format: "der" });
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const names = [
    ...dnsNames.map((dns) => tagged(0x82, Buffer.from(dns, "ascii"))),
    ...ipAddresses.map((ip) => tagged(0x87, ipBytes(ip))),
  ];
  const tbs = tbsCertificate({
    issuer: rawSubject(caCert),
    subject: distinguishedName(request.commonName ?? dnsNames[0] ?? ipAddresses[0] ?? ""),
    spki,
    now: request.now,
    validityMs: request.validityMs,
    extensions: [
      extension(OID.basicConstraints, true, sequence()),
      extension(OID.keyUsage, true, keyUsageBits(KEY_USAGE.digitalSignature)),
      extension(OID.extKeyUsage, false, sequence(objectIdentifier(OID.serverAuth))),
      extension(OID.subjectAltName, false, sequence(...names)),
      extension(OID.authorityKeyIdentifier, false, sequence(tagged(0x80, keyIdentifier(caSpki)))),
    ],
  });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return { certPem: signedCertificatePem(tbs, ca.keyPem), keyPem };
}

// ---------------------------------------------------------------------------------------------
// Certificate structure (RFC 5280 §4.1)

const OID = {
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

/** keyUsage bits, numbered from the most significant bit of the first byte (RFC 5280 §4.2.1.3). */
const KEY_USAGE = { digitalSignature: 1 << 7, keyCertSign: 1 << 2, cRLSign: 1 << 1 } as const;

function checkValidity(validityMs: number): void {
  if (!Number.isFinite(validityMs) || validityMs <= 0) {
    throw new CertificateRequestError(
      `certificate validity must be a positive duration, not ${validityMs} ms`,
    );
  }
}

function tbsCertificate(parts: {
  issuer: Buffer;
  subject: Buffer;
  spki: Buffer;
  now: number;
  validityMs: number;
  extensions: Buffer[];
}): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // positive
  if (serial[0] === 0) serial[0] = 1; // minimal encoding keeps all 16 bytes
  return sequence(
    tagged(0xa0, integer(Buffer.from([2]))), // version v3
    integer(serial),
    sequence(objectIdentifier(OID.ecdsaWithSha256)),
    parts.issuer,
    sequence(
      time(parts.now - Math.min(CLOCK_SKEW_MS, Math.floor(parts.validityMs / 10))),
      time(parts.now + parts.validityMs),
    ),
    parts.subject,
    parts.spki,
    tagged(0xa3, sequence(...parts.extensions)),
  );
}

function signedCertificatePem(tbs: Buffer, signerKeyPem: string): string {
  const signature = sign("sha256", tbs, { key: createPrivateKey(signerKeyPem), dsaEncoding: "der" });
  const der = sequence(tbs, sequence(objectIdentifier(OID.ecdsaWithSha256)), bitString(signature));
  return toPem("CERTIFICATE", der);
}

function distinguishedName(commonName: string): Buffer {
  return sequence(set(sequence(objectIdentifier(OID.commonName), utf8String(commonName))));
}

/** The issuer's subject exactly as encoded in its certificate, so name chaining compares bytes. */
function rawSubject(cert: X509Certificate): Buffer {
  // Certificate → tbsCertificate → [version, serial, signature, issuer, validity, subject, …]
  const tbs = children(children(cert.raw)[0] ?? Buffer.alloc(0));
  const subject = tbs[5];
  if (subject === undefined) throw new CertificateRequestError("the CA certificate has no subject");
  return subject;
}

/** SHA-1 of the whole SubjectPublicKeyInfo (RFC 7093 §2 method 4 allows any such hash). */
function keyIdentifier(spki: Buffer): Buffer {
  return createHash("sha1").update(spki).digest();
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? sequence(objectIdentifier(oid), boolean(true), octetString(value))
    : sequence(objectIdentifier(oid), octetString(value));
}

function keyUsageBits(bits: number): Buffer {
  let unused = 0;
  while (unused < 7 && (bits & (1 << unused)) === 0) unused++;
  return tagged(0x03, Buffer.from([unused, bits]));
}

function ipBytes(ip: string): Buffer {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split(".").map(Number));
  if (family === 6) {
    const [head = "", tail = ""] = ip.split("::");
    const groups = (part: string): number[] =>
      part === "" ? [] : part.split(":").map((g) => parseInt(g, 16));
    const left = groups(head);
    const right = ip.includes("::") ? groups(tail) : [];
    const middle = new Array<number>(8 - left.length - right.length).fill(0);
    const words = [...left, ...middle, ...right];
    const out = Buffer.alloc(16);
    words.forEach((word, i) => out.writeUInt16BE(word, i * 2));
    return out;
  }
  throw new CertificateRequestError(
    `"${ip}" is not an IP address (IPv4-mapped and zoned forms are not supported)`,
  );
}

function time(ms: number): Buffer {
  const iso = new Date(ms).toISOString(); // 2026-01-02T03:04:05.678Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, ""); // 20260102030405
  const year = new Date(ms).getUTCFullYear();
  return year < 2050
    ? tagged(0x17, Buffer.from(`${digits.slice(2)}Z`, "ascii"))
    : tagged(0x18, Buffer.from(`${digits}Z`, "ascii"));
}

function toPem(label: string, der: Buffer): string {
  const base64 = der.toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${base64}${base64.endsWith("\n") ? "" : "\n"}-----END ${label}-----\n`;
}

// ---------------------------------------------------------------------------------------------
// DER (X.690) primitives

function tagged(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function sequence(...items: Buffer[]): Buffer {
  return tagged(0x30, Buffer.concat(items));
}

function set(...items: Buffer[]): Buffer {
  return tagged(0x31, Buffer.concat(items));
}

function boolean(value: boolean): Buffer {
  return tagged(0x01, Buffer.from([value ? 0xff : 0x00]));
}

/** A non-negative INTEGER from big-endian magnitude bytes, minimally encoded. */
function integer(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const bytes = magnitude.subarray(start);
  return tagged(0x02, (bytes[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function octetString(content: Buffer): Buffer {
  return tagged(0x04, content);
}

function bitString(content: Buffer): Buffer {
  return tagged(0x03, Buffer.concat([Buffer.from([0]), content]));
}

function utf8String(value: string): Buffer {
  return tagged(0x0c, Buffer.from(value, "utf8"));
}

function objectIdentifier(oid: string): Buffer {
  const [first = 0, second = 0, ...rest] = oid.split(".").map(Number);
  const bytes: number[] = [first * 40 + second];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128))
      chunk.unshift((value & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tagged(0x06, Buffer.from(bytes));
}

/** The encoded children of a constructed DER value (our own or Node's, never a peer's bytes). */
function children(der: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let offset = headerLength(der, 0);
  while (offset < der.length) {
    const header = headerLength(der, offset);
    const end = offset + header + contentLength(der, offset);
    out.push(der.subarray(offset, end));
    offset = end;
  }
  return out;
}

function headerLength(der: Buffer, offset: number): number {
  const first = der[offset + 1] ?? 0;
  return first < 0x80 ? 2 : 2 + (first & 0x7f);
}

function contentLength(der: Buffer, offset: number): number {
  const first = der[offset + 1] ?? 0;
  if (first < 0x80) return first;
  let n = 0;
  for (let i = 0; i < (first & 0x7f); i++) n = n * 256 + (der[offset + 2 + i] ?? 0);
  return n;
}

/**
 * A fresh CA and a serving certificate it signed, in one call: for tests, benchmarks and static
 * mode. `caPem` is the CA certificate clients trust. Validity defaults to one day from `now`
 * (default: the current time).
 */
export function selfSignedServingCertificates(request: {
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly now?: number;
  readonly validityMs?: number;
}): { readonly certPem: string; readonly keyPem: string; readonly caPem: string } {
  const now = request.now ?? Date.now();
  const validityMs = request.validityMs ?? 24 * 3600_000;
  const ca = createCertificateAuthority({ now, validityMs });
  const serving = issueServingCertificate(ca, {
    ...(request.dnsNames !== undefined && { dnsNames: request.dnsNames }),
    ...(request.ipAddresses !== undefined && { ipAddresses: request.ipAddresses }),
    now,
    validityMs,
  });
  return { certPem: serving.certPem, keyPem: serving.keyPem, caPem: ca.certPem };
}
