/**
 * When the self-managed certificates must change (pure, table-tested): keep them, issue a new
 * serving certificate from the current CA, or make a new CA. Each certificate is renewed once
 * `renewFraction` (default 2/3) of its lifetime has passed, long before it expires, so a replica
 * that is briefly unable to write the Secret still serves a valid certificate.
 *
 * CA rotation keeps trust continuous: the new CA is added to the bundle in front of the previous
 * ones that are still valid, so certificates issued by either verify while replicas and the
 * webhook configuration catch up.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { splitPem } from "./certificate-source.js";

/** What the operator keeps in its Secret. */
export interface StoredCertificates {
  /** The CA that signs serving certificates now. */
  readonly caCertPem: string;
  readonly caKeyPem: string;
  /** Every CA clients should trust: the signing CA first, then earlier ones still valid. */
  readonly caBundlePem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** Lifetimes of the self-managed certificates. */
export interface CertificateLifetimes {
  /** Default 10 years. */
  readonly caValidityMs: number;
  /** Default 1 year (never beyond the CA's own expiry). */
  readonly certValidityMs: number;
  /** Fraction of a lifetime after which it is renewed, in (0, 1). Default 2/3. */
  readonly renewFraction: number;
}

const YEAR_MS = 365 * 24 * 3600_000;

/** The defaults of CertificateLifetimes. */
export const DEFAULT_LIFETIMES: CertificateLifetimes = {
  caValidityMs: 10 * YEAR_MS,
  certValidityMs: YEAR_MS,
  renewFraction: 2 / 3,
};

/** The names the serving certificate must cover. */
export interface ServingNames {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

/** What to do with the stored certificates. */
export type RotationDecision =
  /** Serve them; decide again at `renewAt` (ms since the epoch). */
  | { readonly action: "keep"; readonly renewAt: number }
  /** Issue a new serving certificate from the current CA (the bundle does not change). */
  | { readonly action: "issue"; readonly reason: string }
  /** Make a new CA and a serving certificate from it; keep the earlier CAs that are valid in the bundle. */
  | { readonly action: "rotate-ca"; readonly reason: string };

/**
 * Decides (pure apart from parsing PEM). Any stored part that does not parse, a CA key that does
 * not match, or a CA past its renewal point → rotate-ca; a serving certificate that does not parse,
 * was not issued by the CA, does not match its key, lacks a wanted name, or is past its renewal
 * point → issue; otherwise keep until the earlier renewal point.
 */
export function decideRotation(
  stored: StoredCertificates | undefined,
  names: ServingNames,
  now: number,
  renewFraction = DEFAULT_LIFETIMES.renewFraction,
): RotationDecision {
  if (stored === undefined) return { action: "rotate-ca", reason: "no certificates stored yet" };
  const ca = parse(stored.caCertPem, stored.caKeyPem);
  if (ca === undefined)
    return { action: "rotate-ca", reason: "the stored CA or its key does not parse or match" };
  if (!ca.cert.ca) return { action: "rotate-ca", reason: "the stored CA certificate is not a CA" };
  const caRenewAt = renewalPoint(ca.cert, renewFraction);
  if (now >= caRenewAt)
    return {
      action: "rotate-ca",
      reason: `the CA is due for renewal (expires ${ca.cert.validToDate.toISOString()})`,
    };
  if (!bundleHas(stored.caBundlePem, ca.cert))
    return { action: "rotate-ca", reason: "the CA bundle does not hold the signing CA" };

  const leaf = parse(stored.certPem, stored.keyPem);
  if (leaf === undefined)
    return { action: "issue", reason: "the serving certificate or its key does not parse or match" };
  if (!leaf.cert.checkIssued(ca.cert) || !leaf.cert.verify(ca.cert.publicKey)) {
    return { action: "issue", reason: "the serving certificate was not issued by the current CA" };
  }
  const missing = [
    ...names.dnsNames.filter((dns) => leaf.cert.checkHost(dns, { wildcards: false }) === undefined),
    ...names.ipAddresses.filter((ip) => leaf.cert.checkIP(ip) === undefined),
  ];
  if (missing.length > 0)
    return { action: "issue", reason: `the serving certificate does not cover ${missing.join(", ")}` };
  const leafRenewAt = renewalPoint(leaf.cert, renewFraction);
  if (now >= leafRenewAt) {
    return {
      action: "issue",
      reason: `the serving certificate is due for renewal (expires ${leaf.cert.validToDate.toISOString()})`,
    };
  }
  return { action: "keep", renewAt: Math.min(caRenewAt, leafRenewAt) };
}

/** `notBefore + fraction × lifetime`, in ms since the epoch. */
export function renewalPoint(cert: X509Certificate, fraction: number): number {
  const from = cert.validFromDate.getTime();
  return from + (cert.validToDate.getTime() - from) * fraction;
}

/**
 * The bundle after a CA rotation: `newCaPem` first, then each certificate of `previousBundlePem`
 * that is still valid at `now` (at most `keep` of them); an unreadable previous bundle is dropped.
 */
export function rotatedBundle(
  newCaPem: string,
  previousBundlePem: string | undefined,
  now: number,
  keep = 2,
): string {
  let previous: string[];
  try {
    previous = previousBundlePem === undefined ? [] : splitPem(previousBundlePem);
  } catch {
    previous = [];
  }
  const valid = previous.filter((pem) => {
    try {
      return new X509Certificate(pem).validToDate.getTime() > now;
    } catch {
      return false;
    }
  });
  return [newCaPem.endsWith("\n") ? newCaPem : `${newCaPem}\n`, ...valid.slice(0, keep)].join("");
}

function parse(certPem: string, keyPem: string): { cert: X509Certificate } | undefined {
  try {
    const cert = new X509Certificate(certPem);
    return cert.checkPrivateKey(createPrivateKey(keyPem)) ? { cert } : undefined;
  } catch {
    return undefined;
  }
}

function bundleHas(bundlePem: string, ca: X509Certificate): boolean {
  try {
    return splitPem(bundlePem).some((pem) => new X509Certificate(pem).fingerprint256 === ca.fingerprint256);
  } catch {
    return false;
  }
}
