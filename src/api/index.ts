/**
 * api: the ModelDeployment custom resource (`modelpack.dev/v1alpha1`) — its schema, types,
 * CRD and conditions. Pure: no I/O, no clocks (callers pass `now`), no state of its own.
 *
 * Guarantees:
 * - One source of truth: the zod schemas in v1alpha1.ts give the TypeScript types
 *   (`z.infer` = parsed, defaults applied; `z.input` = as written) and, through crd.ts, the CRD in
 *   `crds/`. `bash scripts/check-crds.sh` fails when the file there is stale.
 * - The apiserver and zod enforce the same rules with the same messages: each rule in
 *   validation-rules.ts is one value holding its CEL, its TypeScript check and its message, and
 *   zod's defaults are the CRD's defaults. Unknown fields: kubectl refuses them, the apiserver
 *   prunes them, zod drops them.
 * - References must name their registry host; beyond that, the CRD accepts exactly what
 *   `parseReference` accepts (one documented edge: Docker Hub names of 247–255 characters).
 * - The generated CRD is structural (no $ref, no additionalProperties: false, metadata is
 *   `{type: object}`), byte-for-byte deterministic, and within the apiserver's CEL cost budget.
 * - setCondition changes `lastTransitionTime` only when a condition's status changes; summarize
 *   derives Ready / Reconciling / Stalled the kstatus way; Reconciling and Stalled are present only
 *   while True. Condition messages and status.validation are bounded so status stays small.
 * - Reasons (conditions.ts) are stable API: never renamed, never reused for another meaning.
 */
export * from "./names.js";
export * from "./v1alpha1.js";
export * from "./conditions.js";
export { deriveSummary, summarize, type Summary, type SummaryInput } from "./summarize.js";
export { shortDigest, validationReport, SHORT_DIGEST_LENGTH, type Finding } from "./status-fields.js";
export { parseDuration, DURATION_PATTERN } from "./duration.js";
export { MIN_REFRESH_INTERVAL_MS, RULES } from "./validation-rules.js";
export type { Rule, RuleReason, CelValidation } from "./rule.js";
export {
  CRD_FILE,
  GENERATE_COMMAND,
  modelDeploymentCrd,
  modelDeploymentSchema,
  PRINTER_COLUMNS,
  renderCrdYaml,
} from "./crd.js";
export type { Json, JsonObject } from "./json.js";
