import {
  ConditionType,
  parseDuration,
  Reason,
  removeCondition,
  setCondition,
  shortDigest,
  summarize,
  validationReport,
  type Condition,
  type ModelDeployment,
  type ModelDeploymentStatus,
  type ModelInfo,
  type PodCounts,
} from "../api/index.js";
import type { ArtifactInspection } from "../artifact/inspect.js";
import { mountability, modelManifestFamily, modelConfigFamily } from "../modelpack/index.js";
import type { RegistryErrorCode } from "../oci/errors.js";
import type { ClusterCapabilities } from "./capabilities.js";
import { heldBackVerification, holdsBackNewDigest, planVerification } from "./plan-verification.js";
import type { VariantObservation } from "./image-variant.js";
import { planImageVariant, variantOption } from "./plan-image-variant.js";
import { decideStrategy } from "./strategy.js";
import type { VerificationObservation } from "./verification.js";

/** Why the artifact could not be looked at: a reason for the Resolved condition and a message. */
export interface ResolveFailure {
  readonly reason: Reason;
  readonly message: string;
  /** Whether retrying later can help without anyone changing anything (network, 5xx). */
  readonly transient: boolean;
  /** How long the registry asked us to wait (Retry-After), when it said. */
  readonly retryAfterMs?: number;
}

/** What one reconcile observed; everything the plan needs, nothing it has to fetch. */
export interface Observation {
  readonly modelDeployment: ModelDeployment;
  readonly outcome: { readonly inspection: ArtifactInspection } | { readonly failure: ResolveFailure };
  readonly capabilities: ClusterCapabilities;
  readonly now: Date;
  /**
   * The selected pods, counted against the digest this reconcile resolved (`countPods`); absent
   * when the operator does not watch pods, and then the previous counts are kept.
   */
  readonly pods?: PodCounts;
  /**
   * Why the operator's registry CA bundle could not be published into the namespace, when the
   * InitContainer strategy needs it there (see ca-bundle.ts).
   */
  readonly caBundleFailure?: string;
  /** Whether the operator may restart workloads under updatePolicy Rollout (default true). */
  readonly workloadRollout?: boolean;
  /** The signature step (verification.ts); absent when nothing requires signatures. */
  readonly verification?: VerificationObservation;
  /** The image-variant step (image-variant.ts); absent when no variant was looked for. */
  readonly imageVariant?: VariantObservation;
}

export interface PlannedEvent {
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

/** The desired status, the events to emit, and when to look again. */
export interface Plan {
  readonly status: ModelDeploymentStatus;
  readonly events: readonly PlannedEvent[];
  /** Re-resolve a tag after this long (its refresh interval); undefined means only on change. */
  readonly requeueAfterMs?: number;
}

const FAILURE_BY_CODE: Record<RegistryErrorCode, { reason: Reason; transient: boolean }> = {
  InvalidReference: { reason: Reason.ReferenceInvalid, transient: false },
  RegistryNotAllowed: { reason: Reason.RegistryNotAllowed, transient: false },
  UnsupportedCredentials: { reason: Reason.SecretInvalid, transient: false },
  Unauthorized: { reason: Reason.Unauthorized, transient: false },
  Denied: { reason: Reason.Unauthorized, transient: false },
  NotFound: { reason: Reason.ManifestNotFound, transient: false },
  DigestMismatch: { reason: Reason.DigestMismatch, transient: false },
  TooLarge: { reason: Reason.NotModelPack, transient: false },
  Unreachable: { reason: Reason.RegistryUnavailable, transient: true },
  Timeout: { reason: Reason.RegistryUnavailable, transient: true },
  RateLimited: { reason: Reason.RegistryUnavailable, transient: true },
  ServerError: { reason: Reason.RegistryUnavailable, transient: true },
  InvalidResponse: { reason: Reason.RegistryUnavailable, transient: true },
};

/** Maps a registry error code to the Resolved condition's reason (pure). */
export function resolveFailure(
  code: RegistryErrorCode,
  message: string,
  retryAfterSeconds?: number,
): ResolveFailure {
  const mapped = FAILURE_BY_CODE[code];
  return {
    reason: mapped.reason,
    transient: mapped.transient,
    message,
    ...(retryAfterSeconds !== undefined && { retryAfterMs: retryAfterSeconds * 1000 }),
  };
}

/**
 * Whether `status.resolved` was verified for `generation`, so that a failed refresh keeps it in
 * service (pure). Statuses written before `resolved.observedGeneration` existed count as verified
 * when Validated is True for this generation (it is only set True from a successful resolution).
 * With `requirement` (signatures are required: its fingerprint), the digest must also have been
 * verified under exactly those requirements (status.verification).
 */
export function verifiedForGeneration(
  status: ModelDeploymentStatus | undefined,
  generation: number,
  requirement?: string,
): boolean {
  const resolved = status?.resolved;
  if (resolved === undefined || status?.strategy === undefined) return false;
  if (requirement !== undefined) {
    const verification = status.verification;
    if (verification?.digest !== resolved.digest || verification.requirement !== requirement) return false;
  }
  if (resolved.observedGeneration !== undefined) return resolved.observedGeneration === generation;
  const validated = status.conditions?.find((c) => c.type === ConditionType.Validated);
  return validated?.status === "True" && validated.observedGeneration === generation;
}

function modelInfo(inspection: ArtifactInspection): ModelInfo | undefined {
  const s = inspection.summary;
  if (s === undefined) return undefined;
  const text = (value: string | undefined): string | undefined =>
    value === undefined || value === "" ? undefined : value.slice(0, 256);
  const fields = {
    name: text(s.name),
    family: text(s.family),
    version: text(s.version),
    architecture: text(s.architecture),
    format: text(s.format),
    paramSize: text(s.paramSize),
    precision: text(s.precision),
    quantization: text(s.quantization),
  };
  return {
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
    sizeBytes: s.sizeBytes,
    layers: s.layers,
    files: s.files,
  };
}

/** Why an inspected artifact is not usable, or undefined when it validated. */
function validationVerdict(inspection: ArtifactInspection): { reason: Reason; message: string } | undefined {
  if (inspection.valid) return undefined;
  const isModelPack =
    (inspection.artifactType !== undefined && modelManifestFamily(inspection.artifactType) !== undefined) ||
    (inspection.manifest !== undefined &&
      modelConfigFamily(inspection.manifest.config.mediaType) !== undefined);
  const first = inspection.errors[0];
  const detail = first === undefined ? "" : `: ${first.path !== "" ? `${first.path}: ` : ""}${first.message}`;
  const more =
    inspection.errors.length > 1 ? ` (and ${inspection.errors.length - 1} more in status.validation)` : "";
  if (!isModelPack) {
    return {
      reason: Reason.NotModelPack,
      message: `${inspection.pinnedReference} is not a ModelPack artifact (artifactType ${inspection.artifactType ?? "absent"}${
        inspection.manifest !== undefined ? `, config ${inspection.manifest.config.mediaType}` : ""
      }); point spec.model.reference at a model packaged with modctl or another ModelPack tool`,
    };
  }
  if (first?.code === "ConfigTooLarge") {
    return { reason: Reason.ConfigTooLarge, message: `${inspection.pinnedReference}: ${first.message}` };
  }
  if (inspection.legacy !== undefined) {
    return {
      reason: Reason.LegacyModelPack,
      message: `${inspection.pinnedReference}: ${inspection.legacy.message}; re-package it with a current modctl`,
    };
  }
  return {
    reason: Reason.ValidationFailed,
    message: `${inspection.pinnedReference} fails ModelPack validation${detail}${more}`,
  };
}

/**
 * Computes the desired status of a ModelDeployment from what was observed (pure, level-based:
 * the same observation always gives the same plan). Conditions keep their lastTransitionTime
 * unless their status changes; the summary conditions (Ready, Reconciling, Stalled) are derived.
 */
export function plan(observation: Observation): Plan {
  const { modelDeployment: md, now } = observation;
  const generation = md.metadata.generation ?? 0;
  const previous = md.status;
  let conditions: Condition[] = [...(previous?.conditions ?? [])];
  const set = (type: string, status: "True" | "False" | "Unknown", reason: string, message: string): void => {
    conditions = setCondition(
      conditions,
      { type, status, reason, message, observedGeneration: generation },
      now,
    );
  };
  const events: PlannedEvent[] = [];
  const status: { -readonly [K in keyof ModelDeploymentStatus]: ModelDeploymentStatus[K] } = {
    observedGeneration: generation,
  };
  // What stays true of the last good resolution while the registry cannot be reached.
  if (previous?.resolved !== undefined) status.resolved = previous.resolved;
  if (previous?.model !== undefined) status.model = previous.model;
  if (previous?.strategy !== undefined) status.strategy = previous.strategy;
  if (previous?.imageVariant !== undefined) status.imageVariant = previous.imageVariant;
  if (observation.pods !== undefined) status.pods = observation.pods;
  else if (previous?.pods !== undefined) status.pods = previous.pods;

  // A failed refresh never takes a digest verified for this generation out of service: only a
  // spec change does. Resolved shows the failure, Ready stays True, new pods get the digest.
  const verification = observation.verification;
  const verifiedBefore = verifiedForGeneration(previous, generation, verification?.requirement);
  const serving = "failure" in observation.outcome && verifiedBefore ? previous : undefined;
  // Likewise a moved tag whose new digest fails verification: the verified one stays in service
  // and the new one reaches no pod (status.resolved keeps the old digest).
  const heldBack =
    "inspection" in observation.outcome && holdsBackNewDigest(verification, verifiedBefore)
      ? previous
      : undefined;
  if (heldBack !== undefined) {
    if (previous?.validation !== undefined) status.validation = previous.validation;
  } else if (serving?.resolved !== undefined && "failure" in observation.outcome) {
    const failure = observation.outcome.failure;
    const message =
      `${failure.message}; serving ${serving.resolved.digest} verified at ${serving.resolved.resolvedAt} ` +
      "until the registry answers again (only a change of the spec drops it)";
    set(ConditionType.Resolved, "False", failure.reason, message);
    if (previous?.validation !== undefined) status.validation = previous.validation;
    events.push({ type: "Warning", reason: failure.reason, message });
  } else if ("failure" in observation.outcome) {
    const failure = observation.outcome.failure;
    set(ConditionType.Resolved, "False", failure.reason, failure.message);
    if (!failure.transient) {
      // A terminal failure means the last resolution no longer describes the spec.
      delete status.resolved;
      delete status.model;
      delete status.strategy;
      delete status.imageVariant;
      set(ConditionType.Validated, "Unknown", Reason.Progressing, "waiting for the reference to resolve");
      set(
        ConditionType.MountSupported,
        "Unknown",
        Reason.Progressing,
        "waiting for the reference to resolve",
      );
    }
    events.push({ type: "Warning", reason: failure.reason, message: failure.message });
  } else {
    const inspection = observation.outcome.inspection;
    const digestChanged =
      previous?.resolved?.digest !== undefined && previous.resolved.digest !== inspection.digest;
    status.resolved = {
      reference: inspection.pinnedReference,
      digest: inspection.digest,
      shortDigest: shortDigest(inspection.digest),
      observedGeneration: generation,
      resolvedAt:
        digestChanged || previous?.resolved?.resolvedAt === undefined
          ? now.toISOString().replace(/\.\d{3}Z$/, "Z")
          : previous.resolved.resolvedAt,
    };
    set(
      ConditionType.Resolved,
      "True",
      Reason.Resolved,
      `${inspection.reference} resolved to ${inspection.digest}`,
    );
    if (digestChanged) {
      events.push({
        type: "Normal",
        reason: "DigestChanged",
        message: `${inspection.reference} moved from ${previous?.resolved?.digest ?? "?"} to ${inspection.digest}`,
      });
    } else if (previous?.resolved === undefined) {
      events.push({
        type: "Normal",
        reason: Reason.Resolved,
        message: `${inspection.reference} resolved to ${inspection.digest}`,
      });
    }
    const model = modelInfo(inspection);
    if (model !== undefined) status.model = model;
    status.validation = validationReport({
      errors: inspection.errors,
      warnings: inspection.warnings,
      lint: inspection.lint,
    });
    const verdict = validationVerdict(inspection);
    if (verdict !== undefined || inspection.manifest === undefined) {
      const reason = verdict?.reason ?? Reason.NotModelPack;
      const message = verdict?.message ?? `${inspection.pinnedReference} has no readable manifest`;
      set(ConditionType.Validated, "False", reason, message);
      set(ConditionType.MountSupported, "Unknown", Reason.Progressing, "waiting for a valid artifact");
      delete status.strategy;
      delete status.imageVariant;
      events.push({ type: "Warning", reason, message });
    } else {
      const findings = inspection.warnings.length + inspection.lint.length;
      set(
        ConditionType.Validated,
        "True",
        Reason.Validated,
        `valid ModelPack artifact${findings > 0 ? ` (${findings} warnings and lint findings in status.validation)` : ""}`,
      );
      if (findings > 0 && previous?.validation === undefined) {
        events.push({
          type: "Normal",
          reason: "ValidationWarnings",
          message: `${findings} warnings and lint findings; see status.validation`,
        });
      }
      const decision = decideStrategy(
        md.spec.strategy,
        observation.capabilities,
        mountability(inspection.manifest),
        variantOption(observation.imageVariant, inspection.pinnedReference),
      );
      const variantStep = planImageVariant(
        observation.imageVariant,
        decision,
        inspection.pinnedReference.slice(0, inspection.pinnedReference.lastIndexOf("@")),
      );
      if (variantStep.status !== undefined) status.imageVariant = variantStep.status;
      else delete status.imageVariant;
      if (variantStep.condition !== undefined)
        set(
          ConditionType.ImageVariant,
          variantStep.condition.status,
          variantStep.condition.reason,
          variantStep.condition.message,
        );
      else conditions = removeCondition(conditions, ConditionType.ImageVariant);
      if (variantStep.event !== undefined && previous?.imageVariant?.reason !== variantStep.status?.reason)
        events.push(variantStep.event);
      if (decision.strategy === "InitContainer" && observation.caBundleFailure !== undefined) {
        set(ConditionType.MountSupported, "False", Reason.CABundleUnavailable, observation.caBundleFailure);
        events.push({
          type: "Warning",
          reason: Reason.CABundleUnavailable,
          message: observation.caBundleFailure,
        });
      } else {
        set(
          ConditionType.MountSupported,
          decision.mountSupported.status,
          decision.mountSupported.reason,
          decision.mountSupported.message,
        );
      }
      if (decision.strategy !== undefined) status.strategy = decision.strategy;
      else delete status.strategy;
    }
  }

  const step =
    heldBack?.resolved !== undefined && verification !== undefined && "failure" in verification.outcome
      ? heldBackVerification(verification.outcome.failure, heldBack)
      : planVerification({
          verification,
          previous,
          digest: "inspection" in observation.outcome ? observation.outcome.inspection.digest : undefined,
          serving: serving !== undefined,
          now,
        });
  if (step.condition !== undefined)
    set(ConditionType.Verified, step.condition.status, step.condition.reason, step.condition.message);
  else conditions = removeCondition(conditions, ConditionType.Verified);
  if (step.record !== undefined) status.verification = step.record;
  if (step.event !== undefined) events.push(step.event);

  const summary = summarize(
    {
      generation,
      conditions,
      pods: status.pods,
      updatePolicy: md.spec.updatePolicy,
      servingVerifiedDigest: serving !== undefined || heldBack !== undefined,
      ...(verification !== undefined && { verificationRequired: true }),
      ...(observation.workloadRollout === false && { workloadRollout: false }),
    },
    now,
  );
  status.conditions = summary;
  const wasReady = previous?.conditions?.find((c) => c.type === ConditionType.Ready)?.status === "True";
  const isReadyNow = summary.find((c) => c.type === ConditionType.Ready)?.status === "True";
  if (isReadyNow && !wasReady)
    events.push({
      type: "Normal",
      reason: Reason.Ready,
      message: `model ready: ${status.resolved?.reference ?? ""} via ${status.strategy ?? "?"}`,
    });

  const refreshMs = parseDuration(md.spec.model.refreshInterval) ?? 0;
  const isTag = !/@/.test(md.spec.model.reference);
  return { status, events, ...(isTag && refreshMs > 0 && { requeueAfterMs: refreshMs }) };
}
