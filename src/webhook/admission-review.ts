/**
 * AdmissionReview `admission.k8s.io/v1`: the zod schemas the webhook parses requests with, and
 * the constructors of its answers (after controller-runtime's `Allowed`, `Denied`, `Patched`).
 *
 * Parsing checks the envelope and what the webhook reads (uid, kind, operation, namespace, the
 * pod's metadata and container names); the rest of the pod is kept as sent, unchecked, for the
 * mount planner. The schemas only check (`checkedAs`): the webhook goes on with the object it
 * parsed, not zod's copy, because copying a whole pod costs more than the rest of an admission. Mutating admission runs before the apiserver validates the pod, but after it
 * decoded it into the typed Pod, so field types are the API's.
 */
import { z } from "zod";
import type { JsonPatchOperation } from "../mount/types.js";

export const ADMISSION_API_VERSION = "admission.k8s.io/v1";
export const ADMISSION_KIND = "AdmissionReview";

const StringMap = z.record(z.string(), z.string());

/** The pod in a CREATE request, as far as the webhook reads it; every other field is kept as sent. */
export const AdmissionPod = z.object({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: z
    .object({
      name: z.string().optional(),
      generateName: z.string().optional(),
      namespace: z.string().optional(),
      labels: StringMap.optional(),
      annotations: StringMap.optional(),
    })
    .optional(),
  spec: z.object({
    containers: z.array(z.object({ name: z.string() })),
  }),
});
export type AdmissionPod = z.infer<typeof AdmissionPod>;

const GroupVersionKind = z.object({ group: z.string(), version: z.string(), kind: z.string() });

/** The request part of an AdmissionReview. `object` is parsed separately, only for pod CREATE. */
export const AdmissionRequest = z.object({
  uid: z.string().min(1),
  kind: GroupVersionKind,
  namespace: z.string().optional(),
  name: z.string().optional(),
  operation: z.string(),
  dryRun: z.boolean().optional(),
  object: z.unknown().optional(),
});
export type AdmissionRequest = z.infer<typeof AdmissionRequest>;

/** An AdmissionReview as the apiserver sends it to a webhook registered for v1 only. */
export const AdmissionReview = z.object({
  apiVersion: z.literal(ADMISSION_API_VERSION),
  kind: z.literal(ADMISSION_KIND),
  request: AdmissionRequest,
});
export type AdmissionReview = z.infer<typeof AdmissionReview>;

/**
 * `schema.safeParse(value)`, but on success the data is `value` itself with every field the
 * schema does not name still there (the schemas here have no defaults or transforms, so a value
 * that passes is already of the schema's type).
 */
export function checkedAs<T>(
  schema: z.ZodType<T>,
  value: unknown,
): { success: true; data: T } | { success: false; error: z.ZodError } {
  const result = schema.safeParse(value);
  return result.success ? { success: true, data: value as T } : { success: false, error: result.error };
}

/** `metav1.Status` in a response: why a request was refused. */
export interface AdmissionStatus {
  readonly code: number;
  readonly reason?: string;
  readonly message: string;
}

/** The response part of an AdmissionReview. */
export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: "JSONPatch";
  /** Base64 of the JSON-encoded RFC 6902 patch. */
  readonly patch?: string;
  readonly status?: AdmissionStatus;
  readonly warnings?: readonly string[];
}

/** The AdmissionReview the webhook answers with. */
export interface AdmissionReviewResponse {
  readonly apiVersion: typeof ADMISSION_API_VERSION;
  readonly kind: typeof ADMISSION_KIND;
  readonly response: AdmissionResponse;
}

function review(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}

/** Admits the object unchanged. */
export function allowed(uid: string): AdmissionReviewResponse {
  return review({ uid, allowed: true });
}

/**
 * Admits the object with `patch` applied (no patch when it is empty), with `warnings` for the
 * client (kubectl prints them) when there are any.
 */
export function patched(
  uid: string,
  patch: readonly JsonPatchOperation[],
  warnings?: readonly string[],
): AdmissionReviewResponse {
  const warn = warnings !== undefined && warnings.length > 0 ? { warnings } : undefined;
  if (patch.length === 0) return warn === undefined ? allowed(uid) : review({ uid, allowed: true, ...warn });
  const encoded = Buffer.from(JSON.stringify(patch)).toString("base64");
  return review({ uid, allowed: true, patchType: "JSONPatch", patch: encoded, ...warn });
}

/**
 * Refuses the object: 403 Forbidden with `message`, which the apiserver shows the client as
 * `admission webhook "<name>" denied the request: <message>`.
 */
export function denied(uid: string, message: string): AdmissionReviewResponse {
  return review({ uid, allowed: false, status: { code: 403, reason: "Forbidden", message } });
}

/** How an answer counts in metrics and logs. */
export type AdmissionResult = "allowed" | "patched" | "denied";

/** Classifies an answer. */
export function resultOf(answer: AdmissionReviewResponse): AdmissionResult {
  if (!answer.response.allowed) return "denied";
  return answer.response.patch === undefined ? "allowed" : "patched";
}
