/**
 * Decoding objects from the API into what the informer caches. Watched objects are parsed, not
 * cast: custom resources get a zod-checked envelope (metadata validated, the rest kept as
 * `unknown` for the reconciler to parse with its own schema); core kinds go through
 * client-node's generated ObjectSerializer, so list and watch yield the same typed objects
 * (dates as `Date`) — client-node's own informer gives Dates from lists but strings from watches.
 */
import { ObjectSerializer } from "@kubernetes/client-node/dist/serializer.js";
import { z } from "zod";
import { OperatorError } from "../errors.js";

/** The metadata fields the runtime relies on; everything else is kept as sent. */
export const ObjectMeta = z.looseObject({
  name: z.string().min(1),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().min(1),
  generation: z.number().int().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  deletionTimestamp: z.string().optional(),
  finalizers: z.array(z.string()).optional(),
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
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

/** Any object as the API serves it: checked envelope, unchecked body (`spec`, `status`, …). */
export const KubeObject = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMeta,
});
export type KubeObject = z.infer<typeof KubeObject>;

/** Thrown when an object from the API does not have the expected shape. */
export class ObjectDecodeError extends OperatorError<"InvalidObject"> {
  constructor(message: string, options?: { cause?: unknown }) {
    super("InvalidObject", message, options);
  }
}

/**
 * Drops `metadata.managedFields` in place (client-go's TransformStripManagedFields): it is often
 * the largest part of an object and no reader here needs it. Returns its argument.
 */
export function stripManagedFields(raw: unknown): unknown {
  if (typeof raw === "object" && raw !== null && "metadata" in raw) {
    const { metadata } = raw;
    if (typeof metadata === "object" && metadata !== null) Reflect.deleteProperty(metadata, "managedFields");
  }
  return raw;
}

/** Parses the envelope of any object; throws ObjectDecodeError naming the first bad field. */
export function decodeKubeObject(raw: unknown): KubeObject {
  const parsed = KubeObject.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ObjectDecodeError(
    `object from the API is malformed at ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`,
  );
}

/**
 * A decoder for a client-node model type such as `V1Pod`: checks the envelope with zod, then
 * deserializes with client-node's generated serializer. `T` must be the model named by `typeName`.
 */
export function decodeAs<T>(typeName: string): (raw: unknown) => T {
  return (raw) => {
    decodeKubeObject(raw);
    const typed: T = ObjectSerializer.deserialize(raw, typeName);
    return typed;
  };
}
