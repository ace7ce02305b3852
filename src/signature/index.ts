/**
 * Signature verification of ModelPack artifacts (cosign / Sigstore), shared by the CLI and the
 * controller. Guarantees:
 * - the pure parts (which requirements apply: policy.ts; the verdict: decide.ts) import no I/O;
 * - cryptography is sigstore-js's (check.ts), never ours;
 * - every registry read is bounded in count and size (find.ts), every cache in entries (verifier.ts);
 * - a registry failure is a transient VerificationUnavailable verdict, never a thrown error.
 */
export {
  checkSignature,
  describeSignature,
  identityMatches,
  keyFingerprint,
  prepareRequirement,
} from "./check.js";
export {
  decideVerification,
  type CheckResult,
  type SignatureCheck,
  type SignatureSource,
  type VerificationFailureReason,
  type VerificationVerdict,
  type VerifiedSignature,
} from "./decide.js";
export { findBundles, findLegacySignatures, type FoundSignature, type SignatureRegistry } from "./find.js";
export {
  applicableRules,
  IdentitySpec,
  matchesRepository,
  PolicyRule,
  requirementFingerprint,
  ruleRequirement,
  VerificationPolicy,
  type Requirement,
  type TrustedKey,
} from "./policy.js";
export {
  createSignatureVerifier,
  type SignatureVerifier,
  type SignatureVerifierOptions,
  type Verification,
} from "./verifier.js";
