/**
 * modelpack: pure ModelPack knowledge (no I/O, no clocks, no globals).
 *
 * Guarantees:
 * - validateConfig gives exactly the reference validator's verdict (model-spec
 *   `schema/validator.go`: Go decoding + JSON Schema 2020-12 with format assertion), including
 *   its strict date-time and its handling of repeated keys; everything else it says is a warning.
 * - Configs of older spec versions (diff_ids, snake_case capabilities, puantization, …) are
 *   recognised and reported as one `config.legacy` error naming the version and the renames.
 * - validateManifest separates MUST (errors) from SHOULD and cross-checks (warnings); legacy
 *   `vnd.cnai` artifacts are accepted with warnings.
 * - Every Issue has a stable `code`, a field `path` and a message naming what was found and what
 *   is allowed. No function here throws on bad input.
 * - File paths from annotations are never trusted: layerFilePath returns them raw, and
 *   isSafeRelativePath decides whether they may be joined to a directory.
 * - lintMountability and mountability state only facts read from CRI-O and containerd code
 *   (reference/image-volumes.md); lint codes (MP001…) never change meaning.
 */
export * from "./media-types.js";
export * from "./json.js";
export * from "./issues.js";
export * from "./date-time.js";
export * from "./digest.js";
export * from "./config.js";
export { detectLegacyConfig, type LegacyConfig } from "./config-legacy.js";
export * from "./manifest.js";
export * from "./lint.js";
export * from "./summary.js";
