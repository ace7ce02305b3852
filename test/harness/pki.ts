/**
 * A throwaway PKI made with the `openssl` CLI (OpenSSL >= 3.0): one EC P-256 CA that signs the
 * kube-apiserver serving certificate, the admin client certificate and any serving certificate a
 * test needs (webhooks on https://127.0.0.1:PORT). Nothing here is meant to outlive a test run.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { HarnessError } from "./errors.js";

const run = promisify(execFile);

/** A CA whose key is on disk; `issue*` functions sign with it. */
export interface CertificateAuthority {
  readonly certPath: string;
  readonly keyPath: string;
  readonly certPem: string;
  /** Folder holding the CA files; issued certificates are made in a scratch folder below it. */
  readonly dir: string;
}

/** A certificate and its key, PEM-encoded, plus the PEM of the CA that signed it (the trust anchor). */
export interface ServingCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
}

/** What a certificate is for: subject alternative names for servers, subject fields for clients. */
export interface ServingCertificateRequest {
  /** IP SANs, e.g. `["127.0.0.1"]`. Go's TLS ignores the CN, so a server needs a SAN it is dialled by. */
  ipSans?: readonly string[];
  /** DNS SANs, e.g. `["localhost", "svc.ns.svc"]`. */
  dnsSans?: readonly string[];
  /** Defaults to the first SAN. */
  commonName?: string;
}

/** The files kube-apiserver and its clients need; paths are absolute. */
export interface ControlPlanePki {
  readonly ca: CertificateAuthority;
  readonly apiserverCertPath: string;
  readonly apiserverKeyPath: string;
  /** Client certificate of `CN=kubernetes-admin, O=system:masters` (cluster-admin through the group). */
  readonly adminCertPem: string;
  readonly adminKeyPem: string;
  /** EC key pair that signs and verifies service-account tokens. */
  readonly serviceAccountKeyPath: string;
  readonly serviceAccountPublicKeyPath: string;
}

const VALID_DAYS = "365";
const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/**
 * Creates the CA, the apiserver serving certificate (SANs 127.0.0.1, localhost and the in-cluster
 * names of the `kubernetes` Service), the admin client certificate and the service-account key
 * pair in `dir` (created if missing). Throws HarnessError `pki-failed` naming the openssl command.
 */
export async function createControlPlanePki(
  dir: string,
  extraIpSans: readonly string[] = [],
): Promise<ControlPlanePki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = await createCertificateAuthority(dir);
  const saKeyPath = join(dir, "sa.key");
  const saPubPath = join(dir, "sa.pub");
  const [apiserver, admin] = await Promise.all([
    signCertificate(ca, {
      name: "apiserver",
      outDir: dir,
      subject: "/CN=kube-apiserver",
      extensions: serverExtensions({
        ipSans: ["127.0.0.1", "10.0.0.1", ...extraIpSans],
        dnsSans: ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
      }),
    }),
    signCertificate(ca, {
      name: "admin",
      outDir: dir,
      subject: "/O=system:masters/CN=kubernetes-admin",
      extensions: ["extendedKeyUsage=clientAuth", "keyUsage=critical,digitalSignature"],
    }),
    openssl(dir, [
      "genpkey",
      "-algorithm",
      "EC",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-out",
      saKeyPath,
    ]).then(() => openssl(dir, ["pkey", "-in", saKeyPath, "-pubout", "-out", saPubPath])),
  ]);
  return {
    ca,
    apiserverCertPath: apiserver.certPath,
    apiserverKeyPath: apiserver.keyPath,
    adminCertPem: admin.certPem,
    adminKeyPem: admin.keyPem,
    serviceAccountKeyPath: saKeyPath,
    serviceAccountPublicKeyPath: saPubPath,
  };
}

/** Creates a self-signed EC P-256 CA (`ca.crt`, `ca.key`) in `dir`. */
export async function createCertificateAuthority(dir: string): Promise<CertificateAuthority> {
  const certPath = join(dir, "ca.crt");
  const keyPath = join(dir, "ca.key");
  // prettier-ignore
  await openssl(dir, [
    "req", "-x509", ...EC_KEY, "-keyout", keyPath, "-out", certPath, "-days", VALID_DAYS,
    "-subj", "/CN=modelpack-harness-ca",
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { certPath, keyPath, certPem: await readFile(certPath, "utf8"), dir };
}

/**
 * Issues a serving certificate signed by `ca`, e.g. `{ ipSans: ["127.0.0.1"] }` for a webhook on
 * https://127.0.0.1:PORT. Safe to call concurrently (each call uses its own scratch folder and a
 * random serial). Throws HarnessError `pki-failed` if no SAN is given or openssl fails.
 */
export async function issueServingCertificate(
  ca: CertificateAuthority,
  request: ServingCertificateRequest,
): Promise<ServingCertificate> {
  const ipSans = request.ipSans ?? [];
  const dnsSans = request.dnsSans ?? [];
  const commonName = request.commonName ?? ipSans[0] ?? dnsSans[0];
  if (commonName === undefined) {
    throw new HarnessError("pki-failed", "issueServingCertificate needs at least one IP or DNS SAN");
  }
  const scratch = await mkdtemp(join(ca.dir, "issued-"));
  try {
    const signed = await signCertificate(ca, {
      name: "serving",
      outDir: scratch,
      subject: `/CN=${commonName}`,
      extensions: serverExtensions({ ipSans, dnsSans }),
    });
    return { certPem: signed.certPem, keyPem: signed.keyPem, caPem: ca.certPem };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function serverExtensions(sans: { ipSans: readonly string[]; dnsSans: readonly string[] }): string[] {
  const names = [...sans.ipSans.map((ip) => `IP:${ip}`), ...sans.dnsSans.map((dns) => `DNS:${dns}`)];
  return [
    `subjectAltName=${names.join(",")}`,
    "extendedKeyUsage=serverAuth",
    "keyUsage=critical,digitalSignature,keyEncipherment",
  ];
}

interface SignedFiles {
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

async function signCertificate(
  ca: CertificateAuthority,
  request: { name: string; outDir: string; subject: string; extensions: readonly string[] },
): Promise<SignedFiles> {
  const base = join(request.outDir, request.name);
  const keyPath = `${base}.key`;
  const csrPath = `${base}.csr`;
  const extPath = `${base}.ext`;
  const certPath = `${base}.crt`;
  await writeFile(extPath, request.extensions.join("\n") + "\n");
  await openssl(request.outDir, [
    "req",
    ...EC_KEY,
    "-keyout",
    keyPath,
    "-out",
    csrPath,
    "-subj",
    request.subject,
  ]);
  // A random serial instead of -CAcreateserial: the shared ca.srl file would race between
  // concurrent issues, and equal serials from one CA make TLS stacks reject the second certificate.
  const serial = "0x" + randomBytes(16).toString("hex");
  // prettier-ignore
  await openssl(request.outDir, [
    "x509", "-req", "-in", csrPath, "-CA", ca.certPath, "-CAkey", ca.keyPath, "-set_serial", serial,
    "-days", VALID_DAYS, "-extfile", extPath, "-out", certPath,
  ]);
  const [certPem, keyPem] = await Promise.all([readFile(certPath, "utf8"), readFile(keyPath, "utf8")]);
  return { certPath, keyPath, certPem, keyPem };
}

async function openssl(cwd: string, args: readonly string[]): Promise<void> {
  try {
    await run("openssl", args, { cwd });
  } catch (err) {
    const stderr = err instanceof Error && "stderr" in err ? String(err.stderr).trim() : "";
    throw new HarnessError(
      "pki-failed",
      `openssl ${args.join(" ")} failed in ${cwd}: ${stderr || String(err)}`,
      {
        cause: err,
      },
    );
  }
}
