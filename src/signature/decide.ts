/**
 * The verdict on an artifact's signatures (pure): every requirement needs one signature that
 * verifies for it; otherwise the first unmet requirement says why, with the fix.
 */

/** Where a signature was found. */
export type SignatureSource = "referrers" | "referrers-tag" | "legacy-tag";

/** What checking one signature against one requirement found. */
export type CheckResult =
  | { readonly kind: "verified"; readonly signer: string }
  /** Well-formed and about this artifact, but not by a key or identity the requirement trusts. */
  | { readonly kind: "untrusted"; readonly message: string }
  /** Malformed, about another digest, or its signature does not verify (altered). */
  | { readonly kind: "invalid"; readonly message: string }
  /** Could not be checked with what the requirement gives (no trusted root, …). */
  | { readonly kind: "unavailable"; readonly message: string };

export interface SignatureCheck {
  /** Digest of the manifest that carries the signature. */
  readonly signatureDigest: string;
  readonly source: SignatureSource;
  readonly result: CheckResult;
}

/** The failure reasons of the Verified condition (and the CLI's JSON). */
export type VerificationFailureReason =
  "SignatureMissing" | "SignatureInvalid" | "UntrustedSigner" | "VerificationUnavailable";

/** The signature that met one requirement. */
export interface VerifiedSignature {
  readonly requirement: string;
  readonly signer: string;
  readonly signatureDigest: string;
  readonly source: SignatureSource;
}

export type VerificationVerdict =
  | { readonly verified: true; readonly signatures: readonly VerifiedSignature[] }
  | {
      readonly verified: false;
      readonly reason: VerificationFailureReason;
      readonly message: string;
      /** Whether trying again later can help without anyone acting (a registry outage). */
      readonly transient: boolean;
    };

/** How a signing command is shown in messages. */
const SIGN_HINT = "cosign sign --key cosign.key";

/**
 * Decides the verdict for `pinned` (registry/repository@digest) from the checks of every found
 * signature against each requirement (`checks[i]` for `requirements[i]`, one entry per
 * signature). No signature at all is SignatureMissing. For an unmet requirement the most useful
 * cause wins: a signature that could not be checked (VerificationUnavailable: fix the trust
 * material), then a signer that is not trusted (UntrustedSigner), then an invalid signature.
 */
export function decideVerification(
  pinned: string,
  requirements: readonly { readonly source: string }[],
  checks: readonly (readonly SignatureCheck[])[],
): VerificationVerdict {
  const signatures: VerifiedSignature[] = [];
  for (const [i, requirement] of requirements.entries()) {
    const forThis = checks[i] ?? [];
    const ok = forThis.find((c) => c.result.kind === "verified");
    if (ok !== undefined && ok.result.kind === "verified") {
      signatures.push({
        requirement: requirement.source,
        signer: ok.result.signer,
        signatureDigest: ok.signatureDigest,
        source: ok.source,
      });
      continue;
    }
    return unmet(pinned, requirement.source, forThis);
  }
  return { verified: true, signatures };
}

function unmet(pinned: string, source: string, checks: readonly SignatureCheck[]): VerificationVerdict {
  if (checks.length === 0) {
    return {
      verified: false,
      reason: "SignatureMissing",
      transient: false,
      message:
        `${pinned} has no cosign signature (no Sigstore bundle through the referrers API or its ` +
        `sha256-<hex> tag, no legacy .sig tag), and ${source} requires one; have the publisher sign ` +
        `this digest (${SIGN_HINT} ${pinned}, or keyless in CI)`,
    };
  }
  const first = (kind: CheckResult["kind"]): string | undefined => {
    const found = checks.find((c) => c.result.kind === kind);
    return found === undefined || found.result.kind === "verified"
      ? undefined
      : `signature ${found.signatureDigest}: ${found.result.message}`;
  };
  const count = `${checks.length} signature${checks.length === 1 ? "" : "s"}`;
  const unavailable = first("unavailable");
  if (unavailable !== undefined)
    return {
      verified: false,
      reason: "VerificationUnavailable",
      transient: false,
      message: `${pinned}: cannot check its ${count} against ${source}: ${unavailable}`,
    };
  const untrusted = first("untrusted");
  if (untrusted !== undefined)
    return {
      verified: false,
      reason: "UntrustedSigner",
      transient: false,
      message:
        `${pinned} is signed, but not by a signer ${source} trusts (${count} checked; ${untrusted}); ` +
        `sign it with a trusted key or identity, or add its signer to ${source}`,
    };
  return {
    verified: false,
    reason: "SignatureInvalid",
    transient: false,
    message:
      `${pinned}: none of its ${count} is valid (${first("invalid") ?? "?"}); ` +
      `the signature was altered or signs another artifact: sign this digest again (${SIGN_HINT} ${pinned})`,
  };
}
