/**
 * Rollouts, the I/O shell (the decisions are in `rollout.ts`): reads the owners of stale pods by
 * name — ReplicaSet → Deployment through ownerReferences, StatefulSet and DaemonSet directly,
 * never a list — and annotates a workload's pod template with a JSON merge patch under the
 * operator's field manager.
 *
 * RBAC: `get` on apps/v1 replicasets; `get` and `patch` on apps/v1 deployments, statefulsets
 * and daemonsets in the watched namespaces.
 */
import type { V1OwnerReference, V1Pod } from "@kubernetes/client-node";
import { z } from "zod";
import { isNotFound } from "../runtime/kube-errors.js";
import type { ControllerKubeApi } from "./kube-api.js";
import {
  ownerRefusal,
  ownersOf,
  replicaSetOwner,
  templatePatch,
  type ObservedWorkload,
  type PodOwner,
  type WorkloadRef,
} from "./rollout.js";

/** What is read of an owner: its UID, ownerReferences, selector and pod template's annotations. */
const OwnerObject = z.looseObject({
  metadata: z.looseObject({
    uid: z.string().optional(),
    ownerReferences: z
      .array(
        z.looseObject({
          apiVersion: z.string(),
          kind: z.string(),
          name: z.string(),
          uid: z.string(),
          controller: z.boolean().optional(),
        }),
      )
      .optional(),
  }),
  spec: z
    .looseObject({
      selector: z
        .looseObject({
          matchLabels: z.record(z.string(), z.string()).optional(),
          matchExpressions: z
            .array(
              z.object({ key: z.string(), operator: z.string(), values: z.array(z.string()).optional() }),
            )
            .optional(),
        })
        .optional(),
      template: z
        .looseObject({
          metadata: z.looseObject({ annotations: z.record(z.string(), z.string()).optional() }).optional(),
        })
        .optional(),
    })
    .optional(),
});
type OwnerObject = z.infer<typeof OwnerObject>;

/** GETs one owner by name; undefined when it is gone (its pods are going too). Throws on other API errors. */
async function getOwner(
  kube: Pick<ControllerKubeApi, "getWorkload">,
  namespace: string,
  kind: PodOwner["kind"],
  name: string,
  signal?: AbortSignal,
): Promise<OwnerObject | undefined> {
  try {
    const raw = await kube.getWorkload(namespace, kind, name, signal);
    const parsed = OwnerObject.safeParse(raw);
    if (!parsed.success)
      throw new Error(`${kind} ${namespace}/${name} from the API is malformed: ${parsed.error.message}`);
    return parsed.data;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** What `observeOwningWorkloads` found: the workloads to consider, and the owners it refused. */
export interface OwningWorkloads {
  readonly workloads: ObservedWorkload[];
  /** Why a claimed owner was left alone (its UID or selector does not match the pods). */
  readonly refused: string[];
}

/**
 * The workloads that own `pods` (deduplicated), each read once with its template annotations.
 * Pods owned by a bare ReplicaSet, a Job or nothing are skipped, as are owners deleted meanwhile.
 * An owner is trusted only when the object read has the UID the ownerReference names and its
 * selector selects the pods (`ownerRefusal`), at every step (ReplicaSet, then its Deployment):
 * a pod's ownerReferences are whatever its creator wrote.
 * Throws KubeApiError on any other failure (e.g. Forbidden without the RBAC above).
 */
export async function observeOwningWorkloads(
  kube: Pick<ControllerKubeApi, "getWorkload">,
  namespace: string,
  pods: Iterable<V1Pod>,
  signal?: AbortSignal,
): Promise<OwningWorkloads> {
  const workloads = new Map<string, ObservedWorkload>();
  const refused: string[] = [];
  const read = async (
    claimed: { kind: PodOwner["kind"]; name: string; uid: string },
    owned: readonly V1Pod[],
  ): Promise<OwnerObject | undefined> => {
    const object = await getOwner(kube, namespace, claimed.kind, claimed.name, signal);
    if (object === undefined) return undefined;
    const why = ownerRefusal(claimed, { uid: object.metadata.uid, selector: object.spec?.selector }, owned);
    if (why === undefined) return object;
    refused.push(why);
    return undefined;
  };
  await Promise.all(
    ownersOf(pods).map(async ({ owner, pods: owned }) => {
      let workload: (WorkloadRef & { uid: string }) | undefined =
        owner.kind === "ReplicaSet" ? undefined : { kind: owner.kind, name: owner.name, uid: owner.uid };
      if (owner.kind === "ReplicaSet") {
        const rs = await read(owner, owned);
        const refs: V1OwnerReference[] | undefined = rs?.metadata.ownerReferences;
        workload = replicaSetOwner(refs);
      }
      if (workload === undefined) return;
      const object = await read(workload, owned);
      if (object === undefined) return;
      workloads.set(`${workload.kind}/${workload.name}`, {
        kind: workload.kind,
        name: workload.name,
        templateAnnotations: object.spec?.template?.metadata?.annotations,
      });
    }),
  );
  return { workloads: [...workloads.values()], refused };
}

/**
 * Sets `annotationKey: digest` on the workload's pod template with a JSON merge patch (field
 * manager `modelpack-operator`), which makes its controller roll out new pods under its own
 * strategy. Patching again with the same value changes nothing. Throws KubeApiError.
 */
export async function annotateTemplate(
  kube: Pick<ControllerKubeApi, "patchWorkload">,
  namespace: string,
  workload: WorkloadRef,
  annotationKey: string,
  digest: string,
  signal?: AbortSignal,
): Promise<void> {
  await kube.patchWorkload(
    namespace,
    workload.kind,
    workload.name,
    templatePatch(annotationKey, digest),
    signal,
  );
}
