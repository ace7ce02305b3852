/**
 * Condition types, reasons and the pure helpers that maintain a `status.conditions` list in the
 * metav1.Condition shape. Conditions are observations, not a state machine: every reconcile sets
 * each of them from what it saw, and these helpers keep `lastTransitionTime` meaningful.
 */
import { truncate } from "./truncate.js";
import type { Condition, ConditionStatus, ModelDeploymentStatus } from "./v1alpha1.js";

/** The condition types a ModelDeployment reports. */
export const ConditionType = {
  /** Summary: True when the model is resolved, valid, mountable and (under Rollout) in every pod. */
  Ready: "Ready",
  /** The reference was resolved to a digest with the given credentials. */
  Resolved: "Resolved",
  /** The artifact is a valid ModelPack model. */
  Validated: "Validated",
  /** The chosen strategy can mount this artifact in this cluster. */
  MountSupported: "MountSupported",
  /**
   * The artifact's cosign signatures satisfy spec.model.verify and the operator's verification
   * policy. Present only when one of them applies; then Ready requires it.
   */
  Verified: "Verified",
  /**
   * An image variant of the artifact (publish-image) was found: True when it matches and pods
   * mount it, False (a warning, never blocking Ready) when it is ignored: it does not match the
   * artifact or its signatures do not satisfy the requirements. Absent when none was found or
   * none was needed (status.imageVariant says which).
   */
  ImageVariant: "ImageVariant",
  /** kstatus, abnormal-true: work is in progress. Present only while True. */
  Reconciling: "Reconciling",
  /** kstatus, abnormal-true: no progress is possible until someone acts. Present only while True. */
  Stalled: "Stalled",
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** The conditions `summarize` derives Ready, Reconciling and Stalled from, in the order they happen. */
export const STEP_CONDITION_TYPES = [
  ConditionType.Resolved,
  ConditionType.Validated,
  ConditionType.MountSupported,
] as const;

/**
 * Every reason the operator writes. Values are stable API: tools and alerts match on them, so a
 * reason is never renamed or reused for another meaning. `terminal` reasons need someone to act
 * (fix the spec, the Secret, the artifact or the cluster) and make a False step condition Stalled;
 * the others are transient and make it Reconciling while the operator retries.
 */
export const Reason = {
  // Resolved
  /** True: the reference resolved to status.resolved.digest. */
  Resolved: "Resolved",
  /** False: the reference does not parse (only objects that bypassed the CRD's rules). */
  ReferenceInvalid: "ReferenceInvalid",
  /** False: the registry is not on the operator's allow-list. */
  RegistryNotAllowed: "RegistryNotAllowed",
  /** False: a Secret in spec.model.pullSecrets does not exist (yet): the operator checks again. */
  SecretNotFound: "SecretNotFound",
  /** False: a named Secret is not a usable kubernetes.io/dockerconfigjson Secret. */
  SecretInvalid: "SecretInvalid",
  /** False: the registry refused the credentials, or anonymous access. */
  Unauthorized: "Unauthorized",
  /** False: the repository does not exist (or the credentials cannot see it). */
  RepositoryNotFound: "RepositoryNotFound",
  /** False: the repository exists but the tag or digest does not. */
  ManifestNotFound: "ManifestNotFound",
  /** False: the registry served bytes that do not match their digest. */
  DigestMismatch: "DigestMismatch",
  /** False, transient: the registry is unreachable, timed out, rate-limited or failing (5xx). */
  RegistryUnavailable: "RegistryUnavailable",
  // Validated
  /** True: the artifact is valid ModelPack (warnings, if any, are in status.validation). */
  Validated: "Validated",
  /** False: the artifact is not a ModelPack model (e.g. a container image). */
  NotModelPack: "NotModelPack",
  /** False: the manifest or config violates the ModelPack specification (see status.validation). */
  ValidationFailed: "ValidationFailed",
  /** False: the config follows an older ModelPack spec version; re-pack with a current modctl. */
  LegacyModelPack: "LegacyModelPack",
  /** False: the config blob is far larger than any real model's (over 1 MiB); it was not fetched. */
  ConfigTooLarge: "ConfigTooLarge",
  // MountSupported
  /** True: mounted as an image volume. */
  ImageVolumeSupported: "ImageVolumeSupported",
  /** True: spec.strategy is InitContainer. */
  InitContainerRequested: "InitContainerRequested",
  /** True: strategy Auto, and image volumes cannot be used here; the message says why. */
  InitContainerFallback: "InitContainerFallback",
  /** False: strategy ImageVolume, but the apiserver drops image volumes (feature gate off). */
  ImageVolumeUnsupported: "ImageVolumeUnsupported",
  /** False: strategy ImageVolume, but the nodes' container runtime cannot mount this artifact. */
  RuntimeCannotMount: "RuntimeCannotMount",
  /**
   * False, retried: the init container pulls need the operator's registry CA bundle in the
   * namespace (ConfigMap modelpack-ca-bundle) and the operator could not write it (often RBAC).
   */
  CABundleUnavailable: "CABundleUnavailable",
  // Verified
  /** True: every required signer signed the digest (status.verification names them). */
  Verified: "Verified",
  /** False: the digest carries no cosign signature; the publisher must sign it. */
  SignatureMissing: "SignatureMissing",
  /** False: its signatures are malformed, altered or sign another digest. */
  SignatureInvalid: "SignatureInvalid",
  /** False: it is signed, but not by a key or identity that is trusted. */
  UntrustedSigner: "UntrustedSigner",
  /**
   * False: the signatures could not be checked: the registry failed while reading them (retried),
   * or a key or trusted root is missing or unreadable.
   */
  VerificationUnavailable: "VerificationUnavailable",
  // ImageVariant (and status.imageVariant.reason)
  /** True: pods mount the artifact's image variant (status.imageVariant.reference). */
  ImageVariantUsed: "ImageVariantUsed",
  /** False: the variant found does not match the artifact (files, paths or source digests); ignored. */
  ImageVariantMismatch: "ImageVariantMismatch",
  /** False: signatures are required and the variant's do not satisfy them; ignored. */
  ImageVariantUnsigned: "ImageVariantUnsigned",
  /** status.imageVariant only: the artifact mounts as it is, or image volumes are not used at all. */
  ImageVariantNotNeeded: "ImageVariantNotNeeded",
  /** status.imageVariant only: none was found (referrers API or sha256-<hex> tag). */
  ImageVariantNotFound: "ImageVariantNotFound",
  /** status.imageVariant only: the variant matches, but some nodes cannot mount an image volume of it. */
  ImageVariantNotMountable: "ImageVariantNotMountable",
  /** status.imageVariant only: the registry failed while the variant was looked for (retried). */
  ImageVariantUnavailable: "ImageVariantUnavailable",
  // Shared
  /** Unknown, or Reconciling: the step has not been observed for this generation yet. */
  Progressing: "Progressing",
  /** Ready False and Reconciling True: pods still mount an earlier digest and are being rolled out. */
  RollingOut: "RollingOut",
  /** Ready True. */
  Ready: "Ready",
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** Reasons that need someone to act; see Reason. */
export const TERMINAL_REASONS: ReadonlySet<string> = new Set<Reason>([
  Reason.ReferenceInvalid,
  Reason.RegistryNotAllowed,
  Reason.SecretNotFound,
  Reason.SecretInvalid,
  Reason.Unauthorized,
  Reason.RepositoryNotFound,
  Reason.ManifestNotFound,
  Reason.DigestMismatch,
  Reason.NotModelPack,
  Reason.ValidationFailed,
  Reason.LegacyModelPack,
  Reason.ConfigTooLarge,
  Reason.ImageVolumeUnsupported,
  Reason.RuntimeCannotMount,
  Reason.SignatureMissing,
  Reason.SignatureInvalid,
  Reason.UntrustedSigner,
]);

/** Whether a reason needs someone to act (Stalled) rather than time (Reconciling). */
export function isTerminalReason(reason: string): boolean {
  return TERMINAL_REASONS.has(reason);
}

/** What a reconcile says about one condition; setCondition adds the transition time. */
export interface ConditionUpdate {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
  /** The metadata.generation observed; set it on every update. */
  readonly observedGeneration?: number;
}

/** Messages are cut to this length (with "…") to keep the status small; metav1 allows 32768. */
export const CONDITION_MESSAGE_LIMIT = 1024;

/**
 * Returns a new list with `next` in place of the condition of the same type (or appended), never
 * mutating `conditions`. `lastTransitionTime` becomes `now` only when the type is new or its
 * status changed; a new reason, message or observedGeneration keeps the previous time. Times are
 * written as RFC 3339 with second precision, as metav1.Time serialises them.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: ConditionUpdate,
  now: Date,
): Condition[] {
  const list = conditions ?? [];
  const index = list.findIndex((c) => c.type === next.type);
  const previous = index >= 0 ? list[index] : undefined;
  const condition: Condition = {
    type: next.type,
    status: next.status,
    ...(next.observedGeneration !== undefined && { observedGeneration: next.observedGeneration }),
    lastTransitionTime:
      previous !== undefined && previous.status === next.status
        ? previous.lastTransitionTime
        : formatTime(now),
    reason: next.reason,
    message: truncate(next.message, CONDITION_MESSAGE_LIMIT),
  };
  return index >= 0 ? list.map((c, i) => (i === index ? condition : c)) : [...list, condition];
}

/** Returns a new list without the condition of `type` (the same list's items otherwise). */
export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** The condition of `type`, or undefined (which readers treat as Unknown). */
export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * Whether the status says Ready for `generation` (the object's metadata.generation): Ready is
 * True and both status.observedGeneration and the Ready condition's observedGeneration (when set)
 * equal it. A Ready=True left from an earlier generation is not ready: the new spec is unobserved.
 */
export function isReady(status: ModelDeploymentStatus | undefined, generation: number): boolean {
  if (status?.observedGeneration !== generation) return false;
  const ready = getCondition(status.conditions, ConditionType.Ready);
  return ready?.status === "True" && (ready.observedGeneration ?? generation) === generation;
}

/** RFC 3339 in UTC with second precision: `2026-01-02T03:04:05Z`. */
export function formatTime(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, "Z");
}
