import {
  lintMountability,
  modelConfigFamily,
  OciManifest,
  summarizeModel,
  validateConfig,
  validateManifest,
  type Issue,
  type LintFinding,
  type ModelConfig,
  type ModelSummary,
} from "../modelpack/index.js";
import type { Descriptor, FetchedManifest } from "../oci/client.js";
import { formatReference, pinnedReference, type ImageReference } from "../oci/reference.js";

/** Everything known about a remote artifact after fetching, verifying and validating it. */
export interface ArtifactInspection {
  /** The reference as asked, normalised. */
  readonly reference: string;
  /** `registry/repository@digest`: what pods and pulls use. */
  readonly pinnedReference: string;
  readonly digest: string;
  /** Set when the reference named an index that was followed to this manifest. */
  readonly indexDigest?: string;
  readonly mediaType: string;
  readonly artifactType?: string;
  readonly manifest?: OciManifest;
  readonly config?: ModelConfig;
  /** Raw config JSON, present when it could be fetched (even when invalid). */
  readonly configJson?: unknown;
  readonly summary?: ModelSummary;
  readonly valid: boolean;
  readonly errors: readonly Issue[];
  readonly warnings: readonly Issue[];
  readonly lint: readonly LintFinding[];
  readonly legacy?: { readonly specVersion: string; readonly message: string };
}

/**
 * What inspecting needs of a registry (`RegistryClient` is the real one): the verified manifest a
 * reference names, and one small verified blob (the config). Tests pass a fake.
 */
export interface ArtifactRegistry {
  getManifest(ref: ImageReference, signal?: AbortSignal): Promise<FetchedManifest>;
  getBlob(ref: ImageReference, descriptor: Descriptor, signal?: AbortSignal): Promise<Uint8Array>;
}

/**
 * The largest model config fetched by default. Real ModelPack configs are a few KiB (a
 * descriptor, a config block and a list of layer digests); a config a thousand times that is
 * not a model's and would only cost memory (each one is held while it is validated).
 */
export const DEFAULT_MAX_CONFIG_BYTES = 1024 * 1024;

export interface InspectOptions {
  /** Configs larger than this (as the manifest declares them) are refused unread. Default 1 MiB. */
  readonly maxConfigBytes?: number;
}

/** The validation error of a config over `maxConfigBytes` (stable code `ConfigTooLarge`). */
export function configTooLarge(digest: string, size: number, limit: number): Issue {
  return {
    code: "ConfigTooLarge",
    path: "config.size",
    message:
      `the model config ${digest} is ${size} bytes, over the ${limit}-byte limit (ModelPack configs are a few KiB); ` +
      `it was not fetched. Re-package the model with a real config, or raise the config size limit if this one is genuine`,
  };
}

/**
 * Resolves, fetches and verifies an artifact's manifest and config, then validates both against
 * the ModelPack specification and lints its mountability. Registry failures throw RegistryError;
 * an invalid artifact is a result (`valid: false` with errors), not an exception. A config over
 * `maxConfigBytes` is an invalid artifact too (error `ConfigTooLarge`), never read.
 */
export async function inspectArtifact(
  client: ArtifactRegistry,
  ref: ImageReference,
  signal?: AbortSignal,
  options: InspectOptions = {},
): Promise<ArtifactInspection> {
  const fetched = await client.getManifest(ref, signal);
  const base = {
    reference: formatReference(ref),
    pinnedReference: pinnedReference(ref, fetched.digest),
    digest: fetched.digest,
    ...(fetched.index !== undefined && { indexDigest: fetched.index.digest }),
    mediaType: fetched.mediaType,
  };
  const parsed = OciManifest.safeParse(fetched.json);
  const manifestValidation = validateManifest(fetched.json);
  if (!parsed.success) {
    return {
      ...base,
      valid: false,
      errors: manifestValidation.errors,
      warnings: manifestValidation.warnings,
      lint: [],
    };
  }
  const manifest = parsed.data;
  const artifactType = manifest.artifactType;
  const lint = lintMountability(manifest);
  // OCI: a config of an unknown media type is opaque bytes and must not be parsed.
  if (modelConfigFamily(manifest.config.mediaType) === undefined) {
    return {
      ...base,
      ...(artifactType !== undefined && { artifactType }),
      manifest,
      summary: summarizeModel(manifest),
      valid: false,
      errors: manifestValidation.errors,
      warnings: manifestValidation.warnings,
      lint,
    };
  }
  const maxConfigBytes = options.maxConfigBytes ?? DEFAULT_MAX_CONFIG_BYTES;
  if (manifest.config.size > maxConfigBytes) {
    return {
      ...base,
      ...(artifactType !== undefined && { artifactType }),
      manifest,
      summary: summarizeModel(manifest),
      valid: false,
      errors: [
        configTooLarge(manifest.config.digest, manifest.config.size, maxConfigBytes),
        ...manifestValidation.errors,
      ],
      warnings: manifestValidation.warnings,
      lint,
    };
  }
  const configBytes = await client.getBlob(ref, manifest.config, signal);
  const configValidation = validateConfig(configBytes);
  const withConfig = validateManifest(fetched.json, configValidation.config);
  const errors = [...withConfig.errors, ...configValidation.errors];
  let configJson: unknown;
  try {
    configJson = JSON.parse(Buffer.from(configBytes).toString("utf8"));
  } catch {
    configJson = undefined;
  }
  return {
    ...base,
    ...(artifactType !== undefined && { artifactType }),
    manifest,
    ...(configValidation.config !== undefined && { config: configValidation.config }),
    ...(configJson !== undefined && { configJson }),
    summary: summarizeModel(manifest, configValidation.config),
    valid: errors.length === 0,
    errors,
    warnings: [...withConfig.warnings, ...configValidation.warnings],
    lint,
    ...(configValidation.legacy !== undefined && { legacy: configValidation.legacy }),
  };
}
