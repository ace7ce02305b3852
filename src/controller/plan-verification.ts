/**
 * The Verified condition and status.verification (pure), from what the signature step observed.
 * plan.ts calls these; they decide nothing about the other conditions.
 */
import {
  ConditionType,
  formatTime,
  Reason,
  type ModelDeploymentStatus,
  type VerificationRecord,
} from "../api/index.js";
import type { VerificationObservation } from "./verification.js";

/** What the Verified step writes: the condition (or its removal), the record, an event. */
export interface VerificationStep {
  /** Undefined: remove the Verified condition (nothing requires signatures). */
  readonly condition?: {
    readonly status: "True" | "False" | "Unknown";
    readonly reason: string;
    readonly message: string;
  };
  /** Undefined: status.verification is removed. */
  readonly record?: VerificationRecord;
  readonly event?: { readonly type: "Normal" | "Warning"; readonly reason: string; readonly message: string };
}

/**
 * Whether a verification failure of a newly resolved digest leaves the previous digest in
 * service (pure): the previous one was verified for this generation under the same requirements.
 * Then pods keep getting it; the new digest reaches no pod until it verifies.
 */
export function holdsBackNewDigest(
  verification: VerificationObservation | undefined,
  previousVerifiedUnderSameRequirements: boolean,
): boolean {
  return (
    verification !== undefined && "failure" in verification.outcome && previousVerifiedUnderSameRequirements
  );
}

/**
 * The Verified step for one reconcile. `digest`: the digest just resolved (undefined when the
 * reference did not resolve); `serving`: a failed resolution keeps the previous, verified digest.
 */
export function planVerification(input: {
  readonly verification: VerificationObservation | undefined;
  readonly previous: ModelDeploymentStatus | undefined;
  readonly digest: string | undefined;
  readonly serving: boolean;
  readonly now: Date;
}): VerificationStep {
  const { verification, previous, digest } = input;
  if (verification === undefined) return {};
  const outcome = verification.outcome;
  if (digest === undefined || "notChecked" in outcome) {
    if (input.serving && previous?.verification !== undefined) {
      const kept = previous.conditions?.find((c) => c.type === ConditionType.Verified);
      return {
        record: previous.verification,
        ...(kept !== undefined && {
          condition: { status: kept.status, reason: kept.reason, message: kept.message },
        }),
      };
    }
    if ("failure" in outcome) return failed(outcome.failure);
    return {
      condition: {
        status: "Unknown",
        reason: Reason.Progressing,
        message: "waiting for the reference to resolve",
      },
    };
  }
  if ("failure" in outcome) return failed(outcome.failure);
  const kept = previous?.verification;
  const same = kept?.digest === digest && kept.requirement === verification.requirement;
  const signers = outcome.verified.map((s) => `${s.signer} (signature ${s.signatureDigest})`).join("; ");
  return {
    condition: { status: "True", reason: Reason.Verified, message: `${digest} is signed by ${signers}` },
    record: {
      digest,
      requirement: verification.requirement,
      verifiedAt: same && kept !== undefined ? kept.verifiedAt : formatTime(input.now),
      signatures: outcome.verified.slice(0, 16).map((s) => ({
        requirement: s.requirement.slice(0, 256),
        signer: s.signer.slice(0, 1024),
        signatureDigest: s.signatureDigest,
      })),
    },
    ...(!same && {
      event: { type: "Normal", reason: Reason.Verified, message: `${digest} is signed by ${signers}` },
    }),
  };
}

function failed(failure: { reason: string; message: string }): VerificationStep {
  return {
    condition: { status: "False", reason: failure.reason, message: failure.message },
    event: { type: "Warning", reason: failure.reason, message: failure.message },
  };
}

/**
 * The Verified step when a newly resolved digest failed verification and the previous, verified
 * digest stays in service: the condition says why and what is served; the record stays.
 */
export function heldBackVerification(
  failure: { readonly reason: string; readonly message: string },
  previous: ModelDeploymentStatus,
): VerificationStep {
  const message =
    `${failure.message}; pods keep getting ${previous.resolved?.digest ?? "?"}, verified at ` +
    `${previous.verification?.verifiedAt ?? "?"}, until the new digest verifies (a change of the spec drops it)`;
  return {
    condition: { status: "False", reason: failure.reason, message },
    ...(previous.verification !== undefined && { record: previous.verification }),
    event: { type: "Warning", reason: failure.reason, message },
  };
}
