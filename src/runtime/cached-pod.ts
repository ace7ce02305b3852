/**
 * What the pod informer keeps of each pod: a slim projection, after controller-runtime's cache
 * transforms (`cache.Options.DefaultTransform`). A pod as the API serves it is about 6.5 KiB of
 * JSON and several times that as a decoded object; most of it (spec, container statuses,
 * conditions, managedFields, other tools' annotations) is read by nobody here. A cluster of
 * 20,000 pods would otherwise keep hundreds of MiB in the operator.
 *
 * Guarantees:
 * - A `CachedPod` holds only: metadata name, namespace, uid, resourceVersion, labels, the
 *   annotations whose key starts with one of the kept prefixes, ownerReferences (apiVersion,
 *   kind, name, uid, controller), deletionTimestamp (as a `Date`), and status.phase.
 * - The projection never keeps a reference into the decoded input: everything it returns is
 *   freshly built, so the page of the list it came from can be collected.
 * - `CachedPod` and client-node's `V1Pod` are assignable to each other: code written against
 *   `V1Pod` that reads only the fields above works unchanged on cached pods.
 */
import type { V1OwnerReference } from "@kubernetes/client-node";
import { z } from "zod";
import { ObjectDecodeError } from "./kube-object.js";

/** A pod's metadata as cached: see the module header for what survives. */
export interface CachedPodMetadata {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  /** Only the annotations whose key starts with a kept prefix. */
  annotations?: Record<string, string>;
  ownerReferences?: V1OwnerReference[];
  deletionTimestamp?: Date;
}

/** A pod as the pod informer caches it (optional fields as in `V1Pod`, so the two are interchangeable). */
export interface CachedPod {
  metadata?: CachedPodMetadata;
  status?: { phase?: string };
}

/** The fields read from the API's pod; `z.object` drops every other key. */
const PodSource = z.object({
  metadata: z.object({
    name: z.string().min(1),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().min(1),
    labels: z.record(z.string(), z.string()).nullish(),
    annotations: z.record(z.string(), z.string()).nullish(),
    ownerReferences: z
      .array(
        z.object({
          apiVersion: z.string(),
          kind: z.string(),
          name: z.string(),
          uid: z.string(),
          controller: z.boolean().nullish(),
        }),
      )
      .nullish(),
    deletionTimestamp: z.iso.datetime({ offset: true }).nullish(),
  }),
  status: z.object({ phase: z.string().nullish() }).nullish(),
});

/** Options of `createPodProjection`. */
export interface PodProjectionOptions {
  /** Annotation key prefixes to keep, e.g. `modelpack.dev/`. Default: none (no annotations kept). */
  annotationPrefixes?: readonly string[];
}

/**
 * A decoder for the pod informer: checks the fields it keeps with zod and returns a fresh
 * `CachedPod` with nothing else. Throws ObjectDecodeError naming the first malformed field.
 */
export function createPodProjection(options: PodProjectionOptions = {}): (raw: unknown) => CachedPod {
  const prefixes = options.annotationPrefixes ?? [];
  const kept = (key: string): boolean => prefixes.some((prefix) => key.startsWith(prefix));
  return (raw) => {
    const parsed = PodSource.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ObjectDecodeError(
        `pod from the API is malformed at ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`,
      );
    }
    const { metadata: m, status } = parsed.data;
    const metadata: CachedPodMetadata = { name: m.name, resourceVersion: m.resourceVersion };
    if (m.namespace !== undefined) metadata.namespace = m.namespace;
    if (m.uid !== undefined) metadata.uid = m.uid;
    if (m.labels && Object.keys(m.labels).length > 0) metadata.labels = m.labels;
    if (m.annotations) {
      let annotations: Record<string, string> | undefined;
      for (const [key, value] of Object.entries(m.annotations))
        if (kept(key)) (annotations ??= {})[key] = value;
      if (annotations !== undefined) metadata.annotations = annotations;
    }
    if (m.ownerReferences && m.ownerReferences.length > 0)
      metadata.ownerReferences = m.ownerReferences.map((o) => ({
        apiVersion: o.apiVersion,
        kind: o.kind,
        name: o.name,
        uid: o.uid,
        ...(o.controller != null && { controller: o.controller }),
      }));
    if (m.deletionTimestamp != null) metadata.deletionTimestamp = new Date(m.deletionTimestamp);
    const pod: CachedPod = { metadata };
    if (status?.phase != null) pod.status = { phase: status.phase };
    return pod;
  };
}
