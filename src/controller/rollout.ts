/**
 * Rollouts, the pure half (the I/O shell is `workloads.ts`): which workloads own the stale pods,
 * and which of their pod templates must be annotated so they roll out under their own strategy.
 *
 * Guarantees:
 * - No I/O, no clock; the same input gives the same decision, in a deterministic order.
 * - Idempotent: a workload whose template already carries the annotation with the digest is
 *   never patched again (its rollout is in progress or done).
 * - `updatePolicy: Pinned`, or a ModelDeployment that is not ready to admit pods, restarts
 *   nothing: new pods would be refused or get what the old ones have.
 * - The annotation key is a valid annotation key for every ModelDeployment name.
 */
import type { V1OwnerReference, V1Pod } from "@kubernetes/client-node";
import { STEP_CONDITION_TYPES, type Condition, type UpdatePolicy } from "../api/index.js";
import {
  ANNOTATION_NAME_MAX_LENGTH,
  isValidAnnotationKey,
  POD_ANNOTATION_PREFIX,
} from "../mount/annotations.js";
import { shortHash } from "../mount/names.js";
import { isEmptyLabelSelector, matchesLabelSelector, type LabelSelector } from "../runtime/label-selector.js";

const ROLLOUT_KEY = "rollout.";

/**
 * `modelpack.dev/rollout.<modeldeployment-name>`: the pod-template annotation whose value is the
 * digest a rollout was started for. A name too long or unusable for a key is replaced by
 * `<first characters>-<10 hex of sha256(name)>` (as the pod annotations do), so the key stays
 * valid and distinct per name.
 */
export function rolloutAnnotation(modelDeployment: string): string {
  const plain = `${POD_ANNOTATION_PREFIX}${ROLLOUT_KEY}${modelDeployment}`;
  if (isValidAnnotationKey(plain)) return plain;
  const hash = shortHash(modelDeployment);
  const room = ANNOTATION_NAME_MAX_LENGTH - ROLLOUT_KEY.length - 1 - hash.length;
  const body = modelDeployment
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .slice(0, room)
    .replace(/[^A-Za-z0-9]+$/, "");
  const suffix = body === "" || !/^[A-Za-z0-9]/.test(body) ? hash : `${body}-${hash}`;
  return `${POD_ANNOTATION_PREFIX}${ROLLOUT_KEY}${suffix}`;
}

/** The kinds whose pod template is annotated. */
export type WorkloadKind = "Deployment" | "StatefulSet" | "DaemonSet";
const WORKLOAD_KINDS: readonly string[] = ["Deployment", "StatefulSet", "DaemonSet"] satisfies WorkloadKind[];

/** A workload in the ModelDeployment's namespace. */
export interface WorkloadRef {
  readonly kind: WorkloadKind;
  readonly name: string;
}

/**
 * A pod's controlling owner: a workload, or a ReplicaSet whose own owner must be looked up, with
 * the UID the pod's ownerReference names (checked against the object read: see `ownerRefusal`).
 */
export type PodOwner = (WorkloadRef | { readonly kind: "ReplicaSet"; readonly name: string }) & {
  readonly uid: string;
};

function controllerRef(
  ownerReferences: readonly V1OwnerReference[] | undefined,
): V1OwnerReference | undefined {
  return ownerReferences?.find((o) => o.controller === true && o.apiVersion === "apps/v1");
}

/**
 * The controlling owner of a pod (the ownerReference with `controller: true` in apps/v1):
 * a ReplicaSet, StatefulSet or DaemonSet; undefined for a bare pod or any other owner (a Job,
 * another operator's resource), which is left alone.
 */
export function podOwner(pod: V1Pod): PodOwner | undefined {
  const ref = controllerRef(pod.metadata?.ownerReferences);
  if (ref === undefined) return undefined;
  if (ref.kind === "ReplicaSet") return { kind: "ReplicaSet", name: ref.name, uid: ref.uid };
  if (ref.kind === "StatefulSet" || ref.kind === "DaemonSet")
    return { kind: ref.kind, name: ref.name, uid: ref.uid };
  return undefined;
}

/** The Deployment controlling a ReplicaSet, from its ownerReferences; undefined for a bare ReplicaSet. */
export function replicaSetOwner(
  ownerReferences: readonly V1OwnerReference[] | undefined,
): (WorkloadRef & { readonly uid: string }) | undefined {
  const ref = controllerRef(ownerReferences);
  return ref?.kind === "Deployment" ? { kind: "Deployment", name: ref.name, uid: ref.uid } : undefined;
}

/** One owner and the pods that name it, as `ownersOf` groups them. */
export interface OwnedPods {
  readonly owner: PodOwner;
  readonly pods: readonly V1Pod[];
}

/** The distinct owners (kind, name and UID) of these pods with their pods, in first-seen order. */
export function ownersOf(pods: Iterable<V1Pod>): OwnedPods[] {
  const seen = new Map<string, { owner: PodOwner; pods: V1Pod[] }>();
  for (const pod of pods) {
    const owner = podOwner(pod);
    if (owner === undefined) continue;
    const key = `${owner.kind}/${owner.name}/${owner.uid}`;
    const group = seen.get(key);
    if (group === undefined) seen.set(key, { owner, pods: [pod] });
    else group.pods.push(pod);
  }
  return [...seen.values()];
}

/** The distinct owners of these pods, in first-seen order. */
export function distinctOwners(pods: Iterable<V1Pod>): PodOwner[] {
  return ownersOf(pods).map((g) => g.owner);
}

/** What `ownerRefusal` reads of an owner object. */
export interface OwnerFacts {
  readonly uid: string | undefined;
  readonly selector: LabelSelector | undefined;
}

/**
 * Why an object read by name is not the owner the pods claim, or undefined when it is (pure).
 * A pod's ownerReferences are written by whoever creates the pod: a tenant allowed to create pods
 * (but not to edit a StatefulSet) could name any workload. So the object's UID must be the one
 * the reference names, and the object's selector must select every one of the pods; otherwise
 * the operator leaves the object alone.
 */
export function ownerRefusal(
  claimed: { readonly kind: string; readonly name: string; readonly uid: string },
  object: OwnerFacts,
  pods: readonly V1Pod[],
): string | undefined {
  const who = `${claimed.kind} ${claimed.name}`;
  if (object.uid === undefined || object.uid !== claimed.uid)
    return `${who} has UID ${object.uid ?? "(none)"}, not the ${claimed.uid} its pods' ownerReference names`;
  const selector = object.selector;
  if (selector === undefined || isEmptyLabelSelector(selector)) return `${who} has no selector`;
  const strays = pods.filter((p) => !matchesLabelSelector(selector, p.metadata?.labels));
  if (strays.length > 0)
    return `${who}'s selector does not select pod ${strays[0]?.metadata?.name ?? "?"}, which claims it as owner`;
  return undefined;
}

/** Whether `kind` names a workload whose template is annotated. */
export function isWorkloadKind(kind: string): kind is WorkloadKind {
  return WORKLOAD_KINDS.includes(kind);
}

/** A workload as read, with its pod template's annotations. */
export interface ObservedWorkload extends WorkloadRef {
  readonly templateAnnotations: Readonly<Record<string, string>> | undefined;
}

export interface RolloutInput {
  readonly updatePolicy: UpdatePolicy;
  /** Whether the ModelDeployment admits pods with `digest` now (see `isReadyToRoll`). */
  readonly readyToRoll: boolean;
  readonly annotationKey: string;
  readonly digest: string;
  /** The owning workloads of the stale pods. */
  readonly workloads: readonly ObservedWorkload[];
}

/** What to do: the workloads to annotate, and those whose rollout to this digest already started. */
export interface RolloutDecision {
  readonly restart: readonly WorkloadRef[];
  readonly inProgress: readonly WorkloadRef[];
}

/**
 * Decides which workloads to annotate: under `Rollout`, when ready to roll, every workload whose
 * template does not already carry `annotationKey: digest`, sorted by kind then name and without
 * duplicates. Under `Pinned`, or when not ready to roll, nothing.
 */
export function decideRollout(input: RolloutInput): RolloutDecision {
  if (input.updatePolicy !== "Rollout" || !input.readyToRoll) return { restart: [], inProgress: [] };
  const unique = new Map<string, ObservedWorkload>();
  for (const w of input.workloads) unique.set(`${w.kind}/${w.name}`, w);
  const sorted = [...unique.values()].sort((a, b) =>
    a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind.localeCompare(b.kind),
  );
  const restart: WorkloadRef[] = [];
  const inProgress: WorkloadRef[] = [];
  for (const w of sorted) {
    const ref = { kind: w.kind, name: w.name };
    if (w.templateAnnotations?.[input.annotationKey] === input.digest) inProgress.push(ref);
    else restart.push(ref);
  }
  return { restart, inProgress };
}

/**
 * Whether a ModelDeployment's planned conditions let new pods in: every step condition
 * (Resolved, Validated, MountSupported, and Verified where present) True for this generation. Rolling out earlier would
 * replace running pods with pods the webhook refuses.
 */
export function isReadyToRoll(conditions: readonly Condition[] | undefined, generation: number): boolean {
  const current = (c: Condition | undefined): boolean =>
    c?.status === "True" && (c.observedGeneration === undefined || c.observedGeneration >= generation);
  // Verified is present only where signatures are required, and then must hold too.
  const verified = conditions?.find((x) => x.type === "Verified");
  return (
    STEP_CONDITION_TYPES.every((type) => current(conditions?.find((x) => x.type === type))) &&
    (verified === undefined || current(verified))
  );
}

/** The JSON merge patch that annotates a workload's pod template (and nothing else). */
export function templatePatch(
  annotationKey: string,
  digest: string,
): { spec: { template: { metadata: { annotations: Record<string, string> } } } } {
  return { spec: { template: { metadata: { annotations: { [annotationKey]: digest } } } } };
}

/** The message of the event naming the restarted workloads. */
export function rolloutMessage(restarted: readonly WorkloadRef[], digest: string): string {
  return `restarted ${restarted.map((w) => `${w.kind}/${w.name}`).join(", ")} to mount ${digest}`;
}
