/**
 * ModelDeployments compiled for admission: each cached object is parsed, its selector compiled
 * and its verdict decided — a MountTarget, or the refusal message — once per object version, not
 * once per pod. The informer replaces an object on every change and never mutates one, so a
 * WeakMap keyed by the object is exactly "once per version" and lets old versions be collected.
 */
import { z } from "zod";
import {
  ConditionType,
  getCondition,
  isReady,
  LabelSelector,
  ModelDeployment,
  Reason,
  type ModelDeploymentStatus,
} from "../api/index.js";
import type { MountTarget } from "../mount/types.js";
import { parseReference } from "../oci/reference.js";
import { compileLabelSelector, type LabelMatcher } from "../runtime/label-selector.js";

/** What admission does with a pod this ModelDeployment selects. */
export type Verdict =
  | { readonly admit: true; readonly target: MountTarget }
  | { readonly admit: false; readonly message: string };

/** One ModelDeployment, ready for the hot path. */
export interface Candidate {
  readonly namespace: string;
  readonly name: string;
  readonly matches: LabelMatcher;
  readonly verdict: Verdict;
}

/** Enough of a ModelDeployment that fails its schema to say which pods it meant to select. */
const SelectorOnly = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string() }),
  spec: z.object({ selector: LabelSelector }),
});

/**
 * Compiles one cached ModelDeployment. Returns undefined for an object that selects nothing
 * (no name, namespace or parseable selector). An object that fails the v1alpha1 schema but has a
 * selector refuses the pods it selects: admitting them would start them without their model.
 */
export function compileCandidate(raw: unknown, policy: AdmissionPolicy = {}): Candidate | undefined {
  const parsed = ModelDeployment.safeParse(raw);
  if (!parsed.success) {
    const partial = SelectorOnly.safeParse(raw);
    if (!partial.success) return undefined;
    const { name, namespace } = partial.data.metadata;
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? "" : ` at ${issue.path.join(".") || "(root)"}: ${issue.message}`;
    return {
      namespace,
      name,
      matches: compileLabelSelector(partial.data.spec.selector),
      verdict: {
        admit: false,
        message:
          `${subject(namespace, name)} selects this pod but does not match the modelpack.dev/v1alpha1 schema${where}; ` +
          `fix the ModelDeployment (kubectl apply validates it) — ${RETRY_HINT}`,
      },
    };
  }
  const md = parsed.data;
  const { name, namespace } = md.metadata;
  if (name === undefined || namespace === undefined) return undefined;
  return {
    namespace,
    name,
    matches: compileLabelSelector(md.spec.selector),
    verdict: verdict(md, namespace, name, policy),
  };
}

/** What the administrator allows, checked again at admission (the status is not trusted for it). */
export interface AdmissionPolicy {
  /** `run --allowed-registries`: when non-empty, only these registries (`host[:port]`). */
  readonly allowedRegistries?: readonly string[];
  /**
   * `run --verification-policy`: whether the administrator requires signatures for a repository.
   * Then (as with spec.model.verify) status.verification must record the pinned digest.
   */
  readonly signaturesRequired?: (registry: string, repository: string) => boolean;
}

/** Compiled candidates by cached object; share one per process. Never holds an object alive. */
export class CandidateCache {
  readonly #compiled = new WeakMap<object, Candidate | null>();
  readonly #policy: AdmissionPolicy;

  constructor(policy: AdmissionPolicy = {}) {
    this.#policy = policy;
  }

  /** The compiled form of `raw`, compiling it on first sight. */
  get(raw: object): Candidate | undefined {
    let compiled = this.#compiled.get(raw);
    if (compiled === undefined) {
      compiled = compileCandidate(raw, this.#policy) ?? null;
      this.#compiled.set(raw, compiled);
    }
    return compiled ?? undefined;
  }
}

/** The retry hint every refusal ends with (the admission policies end theirs with it too). */
export const RETRY_HINT =
  "the pod's controller (e.g. its ReplicaSet) keeps retrying, so the pod is created once the ModelDeployment is Ready";

function subject(namespace: string, name: string): string {
  return `ModelDeployment ${namespace}/${name}`;
}

/**
 * Admit when the status is Ready for the current generation, or Ready=False only because a
 * rollout is in progress (reason RollingOut: every step is done; refusing the rollout's new pods
 * would stall it), and the status names the pinned reference and the strategy. Refuse otherwise,
 * saying which ModelDeployment, why, and what to do.
 */
export function verdict(
  md: ModelDeployment,
  namespace: string,
  name: string,
  policy: AdmissionPolicy = {},
): Verdict {
  const generation = md.metadata.generation ?? 0;
  const status = md.status;
  if (isReady(status, generation) || isRollingOut(status, generation)) {
    const resolved = status?.resolved;
    const strategy = status?.strategy;
    if (resolved === undefined || strategy === undefined) {
      return {
        admit: false,
        message:
          `${subject(namespace, name)} selects this pod and says Ready, but its status has no ` +
          `${resolved === undefined ? "status.resolved" : "status.strategy"}; the operator rewrites it on its next reconcile — ${RETRY_HINT}`,
      };
    }
    const untrusted = pinnedProblem(md.spec.model.reference, resolved, policy);
    if (untrusted !== undefined) {
      return {
        admit: false,
        message:
          `${subject(namespace, name)} selects this pod, but ${untrusted}. Only the operator should write the status ` +
          `subresource: check who may (RBAC on modeldeployments/status); the operator rewrites it on its next reconcile — ${RETRY_HINT}`,
      };
    }
    const unsigned = verificationProblem(md, resolved.digest, policy);
    if (unsigned !== undefined) {
      return {
        admit: false,
        message: `${subject(namespace, name)} selects this pod, but ${unsigned}; the operator verifies signatures before it says Ready — ${RETRY_HINT}`,
      };
    }
    const variant = status?.imageVariant;
    const imageReference =
      strategy === "ImageVolume" && variant?.used === true ? variant.reference : undefined;
    const variantTrouble =
      imageReference === undefined
        ? undefined
        : variantProblem(md, imageReference, variant?.verified, policy);
    if (variantTrouble !== undefined) {
      return {
        admit: false,
        message: `${subject(namespace, name)} selects this pod, but ${variantTrouble}; the operator rewrites it on its next reconcile — ${RETRY_HINT}`,
      };
    }
    const subPath = md.spec.mount.subPath;
    const containers = md.spec.mount.containers;
    return {
      admit: true,
      target: {
        name,
        namespace,
        pinnedReference: resolved.reference,
        digest: resolved.digest,
        ...(imageReference !== undefined && { imageReference }),
        strategy,
        mountPath: md.spec.mount.path,
        ...(subPath !== undefined && subPath !== "" && { subPath }),
        ...(containers !== undefined && containers.length > 0 && { containers }),
        pullSecrets: (md.spec.model.pullSecrets ?? []).map((s) => s.name),
        sizeBytes: status?.model?.sizeBytes ?? 0,
      },
    };
  }
  return {
    admit: false,
    message: `${subject(namespace, name)} selects this pod but is not Ready: ${notReadyCause(status, generation, namespace, name)}`,
  };
}

/**
 * Why `status.resolved` cannot be what the operator verified for this spec, or undefined (pure).
 * Whoever may write the status subresource could otherwise point pods at any image: the pinned
 * reference must name the spec's registry and repository, carry exactly `resolved.digest` (and the
 * spec's digest, when it names one), and its registry must be allowed.
 */
export function pinnedProblem(
  specReference: string,
  resolved: { readonly reference: string; readonly digest: string },
  policy: AdmissionPolicy,
): string | undefined {
  let spec;
  let pinned;
  try {
    spec = parseReference(specReference);
    pinned = parseReference(resolved.reference);
  } catch {
    return `status.resolved.reference ${JSON.stringify(resolved.reference)} or spec.model.reference does not parse`;
  }
  if (pinned.registry !== spec.registry || pinned.repository !== spec.repository)
    return `status.resolved.reference ${resolved.reference} is not in ${spec.registry}/${spec.repository}, the repository spec.model.reference names`;
  if (pinned.digest === undefined || pinned.digest !== resolved.digest)
    return `status.resolved.reference ${resolved.reference} is not pinned to status.resolved.digest ${resolved.digest}`;
  if (spec.digest !== undefined && spec.digest !== pinned.digest)
    return `status.resolved.digest ${resolved.digest} is not the digest spec.model.reference names (${spec.digest})`;
  const allowed = policy.allowedRegistries;
  if (allowed !== undefined && allowed.length > 0 && !allowed.includes(pinned.registry))
    return `registry ${pinned.registry} is not in the operator's allowed registries (${allowed.join(", ")})`;
  return undefined;
}

/**
 * Why a digest that must be signed is not recorded as verified, or undefined (pure): where
 * spec.model.verify or the administrator's policy requires signatures, status.verification must
 * name exactly the pinned digest (a status written before the requirement, or by someone else,
 * does not let pods in).
 */
export function verificationProblem(
  md: ModelDeployment,
  digest: string,
  policy: AdmissionPolicy,
): string | undefined {
  let required = md.spec.model.verify !== undefined;
  if (!required && policy.signaturesRequired !== undefined) {
    try {
      const ref = parseReference(md.spec.model.reference);
      required = policy.signaturesRequired(ref.registry, ref.repository);
    } catch {
      required = true;
    }
  }
  if (!required) return undefined;
  const recorded = md.status?.verification?.digest;
  if (recorded === digest) return undefined;
  return recorded === undefined
    ? `its model must be signed (${md.spec.model.verify !== undefined ? "spec.model.verify" : "the operator's verification policy"}) and status.verification records no verified signature for ${digest}`
    : `its model must be signed and status.verification records ${recorded}, not the pinned ${digest}`;
}

/**
 * Why status.imageVariant cannot be what pods mount, or undefined (pure): the variant must be
 * pinned by digest in the spec's repository (on an allowed registry), and where signatures are
 * required, recorded as verified.
 */
export function variantProblem(
  md: ModelDeployment,
  reference: string,
  verified: boolean | undefined,
  policy: AdmissionPolicy,
): string | undefined {
  let spec;
  let variant;
  try {
    spec = parseReference(md.spec.model.reference);
    variant = parseReference(reference);
  } catch {
    return `status.imageVariant.reference ${JSON.stringify(reference)} does not parse`;
  }
  if (
    variant.registry !== spec.registry ||
    variant.repository !== spec.repository ||
    variant.digest === undefined
  )
    return `status.imageVariant.reference ${reference} is not pinned by digest in ${spec.registry}/${spec.repository}, the repository spec.model.reference names`;
  const allowed = policy.allowedRegistries;
  if (allowed !== undefined && allowed.length > 0 && !allowed.includes(variant.registry))
    return `registry ${variant.registry} is not in the operator's allowed registries (${allowed.join(", ")})`;
  const required =
    md.spec.model.verify !== undefined ||
    policy.signaturesRequired?.(spec.registry, spec.repository) === true;
  if (required && verified !== true)
    return `its model must be signed and status.imageVariant does not record the image variant ${variant.digest} as verified`;
  return undefined;
}

function isRollingOut(status: ModelDeploymentStatus | undefined, generation: number): boolean {
  if (status?.observedGeneration !== generation) return false;
  const ready = getCondition(status.conditions, ConditionType.Ready);
  return (
    ready?.status === "False" &&
    ready.reason === Reason.RollingOut &&
    (ready.observedGeneration ?? generation) === generation
  );
}

function notReadyCause(
  status: ModelDeploymentStatus | undefined,
  generation: number,
  namespace: string,
  name: string,
): string {
  const wait = `wait for it (kubectl wait --for=condition=Ready modeldeployment/${name} -n ${namespace}); ${RETRY_HINT}`;
  if (status?.observedGeneration === undefined) {
    return `the operator has not processed it yet; ${wait}. If this persists, check that modelpack-operator is running`;
  }
  const ready = getCondition(status.conditions, ConditionType.Ready);
  const observed = Math.min(
    status.observedGeneration,
    ready?.observedGeneration ?? status.observedGeneration,
  );
  if (observed !== generation) {
    return `the operator has not processed generation ${generation} of its spec yet (its status describes generation ${observed}); ${wait}`;
  }
  const stalled = getCondition(status.conditions, ConditionType.Stalled);
  if (stalled?.status === "True") {
    return (
      `Stalled, ${stalled.reason}: ${stalled.message}. This needs someone to act: fix the cause above ` +
      `(the ModelDeployment, its pull Secret, the artifact or the cluster; see kubectl describe modeldeployment ${name} -n ${namespace}) — ${RETRY_HINT}`
    );
  }
  if (ready === undefined || ready.status === "Unknown") {
    return `its Ready condition is ${ready === undefined ? "missing" : "Unknown"}; ${wait}`;
  }
  return `${ready.reason}: ${ready.message}. The operator retries on its own; ${wait}`;
}
