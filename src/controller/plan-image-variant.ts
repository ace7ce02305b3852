/**
 * The image variant's part of a plan (pure): whether a reconcile should look for the artifact's
 * image variant, what the strategy decision may use of what it found, and what status.imageVariant
 * and the ImageVariant condition say. plan.ts calls these; image-variant.ts does the I/O.
 */
import { Reason, type ImageVariantStatus, type ModelDeployment } from "../api/index.js";
import type { ArtifactInspection } from "../artifact/inspect.js";
import { mountability } from "../modelpack/index.js";
import type { ClusterCapabilities } from "./capabilities.js";
import type { VariantObservation } from "./image-variant.js";
import { decideStrategy, type StrategyDecision, type VariantOption } from "./strategy.js";

/**
 * Whether a variant could change the decision (pure): the artifact is valid, image volumes are
 * wanted and kept by the apiserver, and without a variant some node cannot mount the artifact.
 */
export function wantsImageVariant(
  md: ModelDeployment,
  capabilities: ClusterCapabilities,
  inspection: ArtifactInspection,
): boolean {
  if (md.spec.strategy === "InitContainer" || !inspection.valid || inspection.manifest === undefined)
    return false;
  if (capabilities.imageVolumeField !== "kept" || capabilities.nodes.length === 0) return false;
  return (
    decideStrategy(md.spec.strategy, capabilities, mountability(inspection.manifest)).strategy !==
    "ImageVolume"
  );
}

/** What the strategy decision may use: a matching (and, where required, signed) variant, and the hint. */
export function variantOption(
  observed: VariantObservation | undefined,
  pinnedReference: string,
): { variant?: VariantOption; publishHint: string } {
  const publishHint = `modelpack-operator publish-image ${pinnedReference}`;
  const found = observed !== undefined && "found" in observed.outcome ? observed.outcome.found : undefined;
  if (found === undefined || found.problems.length > 0 || observed?.signature?.verified === false)
    return { publishHint };
  return { variant: { digest: found.digest, mount: found.mount }, publishHint };
}

/** status.imageVariant, the ImageVariant condition (undefined: remove it) and a warning event. */
export interface ImageVariantStep {
  readonly status?: ImageVariantStatus;
  readonly condition?: { status: "True" | "False"; reason: string; message: string };
  readonly event?: { type: "Warning"; reason: string; message: string };
}

/**
 * The variant's status after the strategy decision (pure). `repository` is
 * `registry/repository` of the artifact, where the variant lives.
 */
export function planImageVariant(
  observed: VariantObservation | undefined,
  decision: StrategyDecision,
  repository: string,
): ImageVariantStep {
  const record = (
    reason: Reason,
    message: string,
    extra: Partial<ImageVariantStatus> = {},
  ): ImageVariantStatus => ({
    used: false,
    reason,
    message: message.slice(0, 2048),
    ...extra,
  });
  if (decision.variant !== undefined) {
    const message = `pods mount the image variant ${decision.variant} of the artifact (containerd mounts images, not ModelPack artifacts)`;
    return {
      status: record(Reason.ImageVariantUsed, message, {
        used: true,
        digest: decision.variant,
        reference: `${repository}@${decision.variant}`,
        ...(observed?.signature !== undefined && { verified: true }),
      }),
      condition: { status: "True", reason: Reason.ImageVariantUsed, message },
    };
  }
  if (observed === undefined)
    return {
      status: record(
        Reason.ImageVariantNotNeeded,
        decision.strategy === "ImageVolume"
          ? "every node mounts the artifact itself"
          : "not looked for: image volumes are not used (strategy InitContainer, or the apiserver does not keep them)",
      ),
    };
  const outcome = observed.outcome;
  if ("failure" in outcome)
    return {
      status: record(
        Reason.ImageVariantUnavailable,
        `could not look for an image variant: ${outcome.failure}`,
      ),
    };
  if ("none" in outcome)
    return {
      status: record(
        Reason.ImageVariantNotFound,
        `no image variant of the artifact in ${repository} (${outcome.via === "api" ? "referrers API" : "sha256-<hex> referrers tag"}); publish one with modelpack-operator publish-image`,
      ),
    };
  const found = outcome.found;
  const digest = { digest: found.digest };
  if (found.problems.length > 0) {
    const message = `the image variant ${found.digest} does not match the artifact and is ignored: ${found.problems.join("; ")}; publish a new one with modelpack-operator publish-image --force`;
    return {
      status: record(Reason.ImageVariantMismatch, message, digest),
      condition: { status: "False", reason: Reason.ImageVariantMismatch, message },
      event: { type: "Warning", reason: Reason.ImageVariantMismatch, message },
    };
  }
  if (observed.signature?.verified === false) {
    const message = `the image variant ${found.digest} is ignored: its signatures do not satisfy the verification requirements (${observed.signature.message}); sign the variant's digest as the artifact's`;
    return {
      status: record(Reason.ImageVariantUnsigned, message, { ...digest, verified: false }),
      condition: { status: "False", reason: Reason.ImageVariantUnsigned, message },
      event: { type: "Warning", reason: Reason.ImageVariantUnsigned, message },
    };
  }
  return {
    status: record(
      Reason.ImageVariantNotMountable,
      `the image variant ${found.digest} matches, but not every node can mount it as an image volume: ${decision.mountSupported.message}`,
      digest,
    ),
  };
}

/** How soon a ModelDeployment whose variant would help but is not used looks again (5 min). */
export const VARIANT_RECHECK_MS = 5 * 60_000;

/**
 * The work queue's next step with the variant's recheck (pure): where a variant was looked for
 * and is not used (none yet, a mismatch, unsigned, the registry failed), the key comes back
 * within VARIANT_RECHECK_MS, so a variant published later is picked up without a spec change.
 */
export function variantRecheck<R extends { readonly requeueAfterMs?: number }>(
  next: R,
  variant: ImageVariantStatus | undefined,
): R {
  if (variant === undefined || variant.used || variant.reason === Reason.ImageVariantNotNeeded) return next;
  return { ...next, requeueAfterMs: Math.min(next.requeueAfterMs ?? VARIANT_RECHECK_MS, VARIANT_RECHECK_MS) };
}
