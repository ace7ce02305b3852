import { z } from "zod";
import { isStrictDateTime } from "./date-time.js";

/**
 * The ModelPack config blob (`application/vnd.cncf.model.config.v1+json`) as zod schemas, mirroring
 * model-spec `schema/config-schema.json` (main) exactly: every object closed, only `descriptor`,
 * `config`, `modelfs`, `modelfs.type` and `modelfs.diffIds` required, nothing nullable. The
 * constraints the docs state but the schema does not (paramSize grammar, precision list, digests,
 * URLs, SPDX) are deliberately absent here; config.ts reports them as warnings.
 */

/** RFC 3339 date-time as the reference validator accepts it (see date-time.ts). */
export const DateTime = z.string().refine(isStrictDateTime, { params: { code: "date-time" } });

export const MODALITIES = ["text", "image", "audio", "video", "embedding", "other"] as const;
/** An input or output kind; the enum is case-sensitive. */
export const Modality = z.enum(MODALITIES);
export type Modality = z.infer<typeof Modality>;

export const ModelCapabilities = z.strictObject({
  inputTypes: z.array(Modality).optional(),
  outputTypes: z.array(Modality).optional(),
  knowledgeCutoff: DateTime.optional(),
  reasoning: z.boolean().optional(),
  toolUsage: z.boolean().optional(),
  reward: z.boolean().optional(),
  /** ISO 639-1 codes; the schema checks only two lowercase ASCII letters. */
  languages: z.array(z.string().regex(/^[a-z]{2}$/)).optional(),
});
export type ModelCapabilities = z.infer<typeof ModelCapabilities>;

export const ModelDescriptor = z.strictObject({
  createdAt: DateTime.optional(),
  authors: z.array(z.string()).optional(),
  family: z.string().optional(),
  name: z.string().min(1).optional(),
  docURL: z.string().optional(),
  sourceURL: z.string().optional(),
  datasetsURL: z.array(z.string()).optional(),
  version: z.string().optional(),
  revision: z.string().optional(),
  vendor: z.string().optional(),
  licenses: z.array(z.string()).optional(),
  title: z.string().optional(),
  description: z.string().optional(),
});
export type ModelDescriptor = z.infer<typeof ModelDescriptor>;

/** The `config` member: execution parameters (Go's `v1.ModelConfig`). */
export const ModelExecutionConfig = z.strictObject({
  architecture: z.string().optional(),
  format: z.string().optional(),
  paramSize: z.string().optional(),
  precision: z.string().optional(),
  quantization: z.string().optional(),
  capabilities: ModelCapabilities.optional(),
});
export type ModelExecutionConfig = z.infer<typeof ModelExecutionConfig>;

export const ModelFS = z.strictObject({
  type: z.enum(["layers"]),
  /** Layer DiffIDs, first to last. The schema accepts any strings; digests are only a warning. */
  diffIds: z.array(z.string()).min(1),
});
export type ModelFS = z.infer<typeof ModelFS>;

/** The whole config document (Go's `v1.Model`). */
export const ModelConfig = z.strictObject({
  descriptor: ModelDescriptor,
  config: ModelExecutionConfig,
  modelfs: ModelFS,
});
export type ModelConfig = z.infer<typeof ModelConfig>;
