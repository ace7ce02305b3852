/**
 * X.509 v3 certificates made in-process: a self-signed CA and the serving certificates it signs,
 * ECDSA P-256 with SHA-256. Node can parse and verify certificates (`X509Certificate`) but not
 * create them, so the certificate structure is built with `@peculiar/asn1-x509` (the RFC 5280
 * ASN.1 schema that `@peculiar/x509` and PKI.js build on) and serialised by `@peculiar/asn1-schema`;
 * keys and signatures stay with Node's crypto, synchronously. (`@peculiar/x509`'s generator would
 * do the same through WebCrypto, but only asynchronously and with a global Reflect polyfill.)
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
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_serverAuth,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from "@peculiar/asn1-x509";
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
const ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
const COMMON_NAME = "2.5.4.3";

/** Creates a self-signed CA with a fresh P-256 key. Throws CertificateRequestError on bad validity. */
export function createCertificateAuthority(request: CertificateAuthorityRequest): CertificateAndKey {
  checkValidity(request.validityMs);
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const name = distinguishedName(request.commonName ?? "modelpack-operator-webhook-ca");
  const tbs = tbsCertificate({
    issuer: name,
    subject: name,
    spki,
    now: request.now,
    validityMs: request.validityMs,
    extensions: [
      extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: true, pathLenConstraint: 0 })),
      extension(
        id_ce_keyUsage,
        true,
        new KeyUsage(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign),
      ),
      extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdentifier(spki))),
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
  const names = [
    ...dnsNames.map((dNSName) => new GeneralName({ dNSName })),
    ...ipAddresses.map((ip) => new GeneralName({ iPAddress: checkedIp(ip) })),
  ];
  const caCert = new X509Certificate(ca.certPem);
  const caSpki = caCert.publicKey.export({ type: "spki", format: "der" });
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const tbs = tbsCertificate({
    issuer: AsnConvert.parse(caCert.raw, Certificate).tbsCertificate.subject,
    subject: distinguishedName(request.commonName ?? dnsNames[0] ?? ipAddresses[0] ?? ""),
    spki,
    now: request.now,
    validityMs: request.validityMs,
    extensions: [
      extension(id_ce_basicConstraints, true, new BasicConstraints()),
      extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
      extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth])),
      extension(id_ce_subjectAltName, false, new SubjectAlternativeName(names)),
      extension(
        id_ce_authorityKeyIdentifier,
        false,
        new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyIdentifier(caSpki)) }),
      ),
    ],
  });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return { certPem: signedCertificatePem(tbs, ca.keyPem), keyPem };
}

function checkValidity(validityMs: number): void {
  if (!Number.isFinite(validityMs) || validityMs <= 0) {
    throw new CertificateRequestError(
      `certificate validity must be a positive duration, not ${validityMs} ms`,
    );
  }
}

/** `ip` when it is an IPv4 address or a plain IPv6 address; CertificateRequestError otherwise. */
function checkedIp(ip: string): string {
  const family = isIP(ip);
  if (family === 4 || (family === 6 && !ip.includes(".") && !ip.includes("%"))) return ip;
  throw new CertificateRequestError(
    `"${ip}" is not an IP address (IPv4-mapped and zoned forms are not supported)`,
  );
}

function tbsCertificate(parts: {
  issuer: Name;
  subject: Name;
  spki: Buffer;
  now: number;
  validityMs: number;
  extensions: Extension[];
}): TBSCertificate {
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // positive
  if (serial[0] === 0) serial[0] = 1; // minimal encoding keeps all 16 bytes
  return new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(serial),
    signature: new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 }),
    issuer: parts.issuer,
    validity: new Validity({
      notBefore: new Date(parts.now - Math.min(CLOCK_SKEW_MS, Math.floor(parts.validityMs / 10))),
      notAfter: new Date(parts.now + parts.validityMs),
    }),
    subject: parts.subject,
    subjectPublicKeyInfo: AsnConvert.parse(parts.spki, SubjectPublicKeyInfo),
    extensions: new Extensions(parts.extensions),
  });
}

function signedCertificatePem(tbs: TBSCertificate, signerKeyPem: string): string {
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = sign("sha256", tbsDer, { key: createPrivateKey(signerKeyPem), dsaEncoding: "der" });
  const certificate = new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 }),
    signatureValue: toArrayBuffer(signature),
  });
  return toPem("CERTIFICATE", Buffer.from(AsnConvert.serialize(certificate)));
}

function distinguishedName(commonName: string): Name {
  return new Name([
    new RelativeDistinguishedName([
      new AttributeTypeAndValue({ type: COMMON_NAME, value: new AttributeValue({ utf8String: commonName }) }),
    ]),
  ]);
}

/** SHA-1 of the whole SubjectPublicKeyInfo (RFC 7093 §2 method 4 allows any such hash). */
function keyIdentifier(spki: Buffer): ArrayBuffer {
  return toArrayBuffer(createHash("sha1").update(spki).digest());
}

function extension(extnID: string, critical: boolean, value: object): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  return new Uint8Array(bytes).buffer;
}

function toPem(label: string, der: Buffer): string {
  const base64 = der.toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${base64}${base64.endsWith("\n") ? "" : "\n"}-----END ${label}-----\n`;
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
