/**
 * The pods a ModelDeployment selects, as the controller sees them (pure, no I/O):
 * - `isCountedPod`: which selected pods count (not terminating, not finished);
 * - `countPods`: `status.pods` — matched, current (annotated with the resolved digest), stale;
 * - `modelDeploymentKeysForPod`: the pod informer's mapping from a pod to the keys of the
 *   ModelDeployments in its namespace that select it, so pod changes update the counts.
 *
 * What a pod got is read from the annotations the admission webhook writes (`podModelDigest`).
 * Pods are the pod informer's slim `CachedPod`s (client-node `V1Pod`s fit too): only metadata
 * (labels, our annotations, ownerReferences, deletionTimestamp) and status.phase are read.
 */
import { z } from "zod";
import { LabelSelector, type PodCounts } from "../api/index.js";
import { podModelDigest } from "../mount/index.js";
import type { CachedPod } from "../runtime/cached-pod.js";
import { joinObjectKey } from "../runtime/keys.js";
import { matchesLabelSelector } from "../runtime/label-selector.js";

/**
 * Whether a selected pod counts: one that is being deleted (deletionTimestamp set) or has
 * finished (phase Succeeded or Failed) never mounts anything again, so it is neither current
 * nor stale.
 */
export function isCountedPod(pod: CachedPod): boolean {
  if (pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null) return false;
  const phase = pod.status?.phase;
  return phase !== "Succeeded" && phase !== "Failed";
}

/**
 * `status.pods` of ModelDeployment `name` over the pods its selector matched: `matched` counts
 * the pods that count (`isCountedPod`), `current` those annotated with `digest`, `stale` the
 * rest (an earlier digest, or none: created before the ModelDeployment, or admitted without it).
 * With `digest` undefined (nothing resolved) every matched pod is stale. The caller selects;
 * this function does not look at labels.
 */
export function countPods(pods: Iterable<CachedPod>, name: string, digest: string | undefined): PodCounts {
  let matched = 0;
  let current = 0;
  for (const pod of pods) {
    if (!isCountedPod(pod)) continue;
    matched++;
    if (digest !== undefined && podModelDigest(pod, name) === digest) current++;
  }
  return { matched, current, stale: matched - current };
}

/**
 * The counted pods that do not mount `digest` from ModelDeployment `name` (the ones a rollout
 * replaces), in the order given.
 */
export function stalePods<P extends CachedPod>(pods: Iterable<P>, name: string, digest: string): P[] {
  const stale: P[] = [];
  for (const pod of pods) if (isCountedPod(pod) && podModelDigest(pod, name) !== digest) stale.push(pod);
  return stale;
}

/** Enough of a cached ModelDeployment to say which pods it selects. */
const SelectorOnly = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string() }),
  spec: z.object({ selector: LabelSelector }),
});

/**
 * The keys (`namespace/name`) of the ModelDeployments among `modelDeployments` that are in the
 * pod's namespace and whose selector matches the pod's labels. Objects without a name,
 * namespace or parseable selector select nothing. The caller passes the ModelDeployments of
 * the pod's namespace (the store's namespace index); others are filtered out anyway.
 */
export function modelDeploymentKeysForPod(pod: CachedPod, modelDeployments: Iterable<unknown>): string[] {
  const namespace = pod.metadata?.namespace;
  if (namespace === undefined) return [];
  const keys: string[] = [];
  for (const raw of modelDeployments) {
    const parsed = SelectorOnly.safeParse(raw);
    if (!parsed.success || parsed.data.metadata.namespace !== namespace) continue;
    if (matchesLabelSelector(parsed.data.spec.selector, pod.metadata?.labels))
      keys.push(joinObjectKey(namespace, parsed.data.metadata.name));
  }
  return keys;
}
