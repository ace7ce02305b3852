/**
 * Object keys, after client-go's MetaNamespaceKeyFunc: `namespace/name` for namespaced objects,
 * `name` for cluster-scoped ones. Queues, stores and reconcilers agree on this one format.
 */

/** The identifying part of an object's metadata. */
export interface ObjectMetaLike {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
}

/** Anything with Kubernetes object metadata; typed client-node objects (V1Pod, …) satisfy it. */
export interface KubeObjectLike {
  metadata?: ObjectMetaLike;
}

/** A parsed key; `namespace` is absent for cluster-scoped objects. */
export interface ObjectName {
  namespace?: string;
  name: string;
}

/** `namespace/name`, or `name` when the object has no namespace. Throws if the object has no name. */
export function objectKey(object: KubeObjectLike): string {
  const name = object.metadata?.name;
  if (!name) throw new TypeError("object has no metadata.name; it cannot be keyed");
  const namespace = object.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

/** The key of a namespace and name: `namespace/name`, or `name` if namespace is empty or absent. */
export function joinObjectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** Splits a key made by `objectKey` (names and namespaces never contain `/`). */
export function splitObjectKey(key: string): ObjectName {
  const slash = key.indexOf("/");
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
