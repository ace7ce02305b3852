import type { ModelConfig } from "./config-schema.js";
import { explainDigest } from "./digest.js";
import { fileMetadataAnnotation, inspectFileMetadata } from "./file-metadata.js";
import { explainUnsafePath, layerFilePath } from "./file-path.js";
import {
  describeValue,
  formatPath,
  isJsonObject,
  issuesFromZod,
  quote,
  type Issue,
  type PathSegment,
} from "./issues.js";
import { OciDescriptor, OciManifest } from "./manifest-schema.js";
import {
  ANNOTATION_FILE_METADATA,
  ANNOTATION_FILEPATH,
  ANNOTATION_MEDIATYPE_UNTESTED,
  ANNOTATION_MODELFILE,
  ANNOTATION_TITLE,
  ARTIFACT_TYPE_MODEL_MANIFEST,
  IMAGE_CONFIG_MEDIA_TYPES,
  LEGACY_ANNOTATION_FILE_METADATA,
  LEGACY_ANNOTATION_FILE_METADATA_V004,
  LEGACY_ANNOTATION_FILEPATH,
  LEGACY_ANNOTATION_MEDIATYPE_UNTESTED,
  LEGACY_ANNOTATION_MODELFILE,
  LEGACY_ARTIFACT_TYPE_MODEL_MANIFEST,
  LEGACY_MEDIA_TYPE_MODEL_CONFIG,
  MEDIA_TYPE_MODEL_CONFIG,
  modelConfigFamily,
  modelManifestFamily,
  OCI_INDEX_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
  parseLayerMediaType,
  type MediaTypeFamily,
} from "./media-types.js";

export * from "./manifest-schema.js";
export { explainUnsafePath, isSafeRelativePath, layerFilePath, type Annotated } from "./file-path.js";
export {
  FILE_METADATA_KEYS,
  FileMetadata,
  fileMetadataAnnotation,
  inspectFileMetadata,
  isRegularFileTypeflag,
  parseFileMetadata,
  type FileMetadataResult,
} from "./file-metadata.js";

/** Result of validateManifest: errors break MUST rules, warnings SHOULD rules and cross-checks. */
export interface ManifestValidation {
  readonly errors: Issue[];
  readonly warnings: Issue[];
}

/**
 * Checks a parsed manifest (JSON already decoded; use parseJson to also catch duplicate keys)
 * against OCI and model-spec. Errors (MUST): `manifest.schema.*` (schemaVersion 2, descriptor
 * shape: mediaType, digest grammar, size), `manifest.media-type`, `manifest.artifact-type`,
 * `manifest.config-media-type`. Warnings (SHOULD and cross-checks): `manifest.artifact-type-missing`,
 * `manifest.legacy-media-type`, `manifest.mixed-families`, `manifest.layers.empty`,
 * `manifest.annotation.not-string`, `manifest.layer.{unknown-media-type,untested-value,file-metadata,
 * missing-filepath,unsafe-filepath,duplicate-filepath,filepath-conflict}`, and with a config
 * `manifest.diffids.{count,mismatch}`. The reference tools enforce none of the warnings. Never throws.
 */
export function validateManifest(manifest: unknown, config?: ModelConfig): ManifestValidation {
  const errors: Issue[] = [];
  const warnings: Issue[] = [];
  if (!isJsonObject(manifest)) {
    errors.push({
      code: "manifest.schema.type",
      path: "",
      message: `the manifest must be a JSON object, found ${describeValue(manifest)}`,
    });
    return { errors, warnings };
  }
  const parsed = OciManifest.safeParse(manifest, { reportInput: true });
  if (!parsed.success) errors.push(...issuesFromZod(parsed.error.issues, manifest, SCHEMA_MAPPING));
  checkModelTypes(manifest, errors, warnings);
  checkAnnotationValues(manifest, warnings);
  const rawLayers = manifest["layers"];
  if (Array.isArray(rawLayers)) {
    // Layers that parse on their own still get their checks when a sibling is malformed.
    const layers = parsed.success
      ? parsed.data.layers
      : rawLayers.map((raw: unknown) => {
          const result = OciDescriptor.safeParse(raw);
          return result.success ? result.data : undefined;
        });
    if (layers.length === 0) {
      warnings.push({
        code: "manifest.layers.empty",
        path: "layers",
        message: "the manifest has no layers, so the model has no files; OCI asks for at least one layer",
      });
    }
    checkLayers(layers, warnings);
    if (config !== undefined) checkDiffIds(config, layers, warnings);
  }
  checkFamilies(manifest, warnings);
  return { errors, warnings };
}

const SCHEMA_MAPPING = {
  prefix: "manifest.schema",
  root: "the manifest",
  explainCustom: (code: string, input: unknown) =>
    code === "digest" && typeof input === "string" ? explainDigest(input) : undefined,
  explainPattern: (path: readonly PropertyKey[]) =>
    path.at(-1) === "mediaType" || path.at(-1) === "artifactType"
      ? 'a media type "type/subtype" (RFC 6838), e.g. "application/vnd.cncf.model.weight.v1.raw"'
      : undefined,
};

function checkModelTypes(manifest: Record<string, unknown>, errors: Issue[], warnings: Issue[]): void {
  const mediaType = manifest["mediaType"];
  if (mediaType === undefined) {
    errors.push({
      code: "manifest.media-type",
      path: "mediaType",
      message: `mediaType is missing; model-spec requires it to be "${OCI_MANIFEST_MEDIA_TYPE}"`,
    });
  } else if (typeof mediaType === "string" && mediaType !== OCI_MANIFEST_MEDIA_TYPE) {
    const hint =
      mediaType === OCI_INDEX_MEDIA_TYPE
        ? " (this is an image index; ModelPack artifacts are single manifests)"
        : "";
    errors.push({
      code: "manifest.media-type",
      path: "mediaType",
      message: `mediaType is ${describeValue(mediaType)}; a ModelPack manifest must be an OCI image manifest, "${OCI_MANIFEST_MEDIA_TYPE}"${hint}`,
    });
  }

  const artifactType = manifest["artifactType"];
  if (artifactType === undefined) {
    warnings.push({
      code: "manifest.artifact-type-missing",
      path: "artifactType",
      message: `artifactType is missing; model-spec requires "${ARTIFACT_TYPE_MODEL_MANIFEST}". As OCI allows, the artifact is identified by config.mediaType instead`,
    });
  } else if (typeof artifactType === "string") {
    const family = modelManifestFamily(artifactType);
    if (family === "cnai") {
      warnings.push(
        legacyWarning("artifactType", LEGACY_ARTIFACT_TYPE_MODEL_MANIFEST, ARTIFACT_TYPE_MODEL_MANIFEST),
      );
    } else if (family === undefined) {
      errors.push({
        code: "manifest.artifact-type",
        path: "artifactType",
        message: `artifactType is ${quote(artifactType)}; a ModelPack manifest must have "${ARTIFACT_TYPE_MODEL_MANIFEST}" (or the legacy "${LEGACY_ARTIFACT_TYPE_MODEL_MANIFEST}")`,
      });
    }
  }

  const config = manifest["config"];
  const configType = isJsonObject(config) ? config["mediaType"] : undefined;
  if (typeof configType === "string") {
    const family = modelConfigFamily(configType);
    if (family === "cnai") {
      warnings.push(
        legacyWarning("config.mediaType", LEGACY_MEDIA_TYPE_MODEL_CONFIG, MEDIA_TYPE_MODEL_CONFIG),
      );
    } else if (family === undefined) {
      const hint = IMAGE_CONFIG_MEDIA_TYPES.includes(configType)
        ? " (an image config: this looks like a container image, not a ModelPack artifact)"
        : "";
      errors.push({
        code: "manifest.config-media-type",
        path: "config.mediaType",
        message: `config.mediaType is ${quote(configType)}; a ModelPack manifest's config must be "${MEDIA_TYPE_MODEL_CONFIG}" (or the legacy "${LEGACY_MEDIA_TYPE_MODEL_CONFIG}")${hint}`,
      });
    }
  }
}

function legacyWarning(path: string, legacy: string, current: string): Issue {
  return {
    code: "manifest.legacy-media-type",
    path,
    message: `${path} is the legacy "${legacy}" (model-spec v0.0.6 and earlier; modctl v0.1.x, v0.2.1-cnai, v0.2.2); it is accepted, but the current spec uses "${current}"`,
  };
}

/** Every annotations object in the manifest, with its path. */
function annotationObjects(manifest: Record<string, unknown>): { path: PathSegment[]; value: unknown }[] {
  const found: { path: PathSegment[]; value: unknown }[] = [];
  const visit = (descriptor: unknown, path: PathSegment[]): void => {
    if (isJsonObject(descriptor) && descriptor["annotations"] !== undefined) {
      found.push({ path: [...path, "annotations"], value: descriptor["annotations"] });
    }
  };
  visit(manifest, []);
  visit(manifest["config"], ["config"]);
  visit(manifest["subject"], ["subject"]);
  const layers = manifest["layers"];
  if (Array.isArray(layers)) layers.forEach((layer: unknown, index) => visit(layer, ["layers", index]));
  return found;
}

function checkAnnotationValues(manifest: Record<string, unknown>, warnings: Issue[]): void {
  for (const { path, value } of annotationObjects(manifest)) {
    if (!isJsonObject(value)) continue; // a non-object is a schema error already
    for (const [key, member] of Object.entries(value)) {
      if (typeof member === "string") continue;
      const memberPath = formatPath([...path, key]);
      warnings.push({
        code: "manifest.annotation.not-string",
        path: memberPath,
        message: `${memberPath} is ${describeValue(member)}; OCI annotation values must be strings. It is ignored here, and Go tools (modctl, CRI-O) fail to decode such a manifest`,
      });
    }
  }
}

const UNTESTED_KEYS = [ANNOTATION_MEDIATYPE_UNTESTED, LEGACY_ANNOTATION_MEDIATYPE_UNTESTED];

function checkLayers(layers: readonly (OciDescriptor | undefined)[], warnings: Issue[]): void {
  const firstByPath = new Map<string, number>();
  layers.forEach((layer, index) => {
    if (layer === undefined) return; // its schema errors are reported already
    const at = (...rest: PathSegment[]): string => formatPath(["layers", index, ...rest]);
    const annotations = layer.annotations ?? {};
    if (parseLayerMediaType(layer.mediaType) === undefined) {
      warnings.push({
        code: "manifest.layer.unknown-media-type",
        path: at("mediaType"),
        message: `${at("mediaType")} is ${quote(layer.mediaType)}, not a ModelPack layer type (application/vnd.cncf.model.<weight|weight.config|doc|code|dataset>.v1.<raw|tar|tar+gzip|tar+zstd>); copies must keep it, but modctl cannot extract it`,
      });
    }
    for (const key of UNTESTED_KEYS) {
      const value = annotations[key];
      if (Object.hasOwn(annotations, key) && value !== "true" && value !== "false") {
        warnings.push({
          code: "manifest.layer.untested-value",
          path: at("annotations", key),
          message: `${at("annotations", key)} is ${quote(value ?? "")}; it must be "true" or "false"`,
        });
      }
    }
    const metadata = fileMetadataAnnotation(layer);
    if (metadata !== undefined) {
      const result = inspectFileMetadata(metadata.value);
      if (!result.ok) {
        warnings.push({
          code: "manifest.layer.file-metadata",
          path: at("annotations", metadata.key),
          message: `${at("annotations", metadata.key)} is not valid file metadata: ${result.reason}`,
        });
      }
    }
    checkFilePath(layer, index, at, firstByPath, warnings);
  });
  const legacy = layers.flatMap((layer, index) =>
    layer !== undefined && parseLayerMediaType(layer.mediaType)?.family === "cnai" ? [index] : [],
  );
  const first = legacy[0];
  if (first !== undefined) {
    warnings.push({
      code: "manifest.legacy-media-type",
      path: "layers",
      message: `${legacy.length} layer${legacy.length === 1 ? " uses" : "s use"} legacy "application/vnd.cnai.model.*" media types (first: layers[${first}]); they are accepted, but the current spec uses "application/vnd.cncf.model.*"`,
    });
  }
}

function checkFilePath(
  layer: OciDescriptor,
  index: number,
  at: (...rest: PathSegment[]) => string,
  firstByPath: Map<string, number>,
  warnings: Issue[],
): void {
  const annotations = layer.annotations ?? {};
  const filePath = layerFilePath(layer);
  if (filePath === undefined) {
    warnings.push({
      code: "manifest.layer.missing-filepath",
      path: at("annotations"),
      message: `${at()} has no file path: set "${ANNOTATION_FILEPATH}" (and "${ANNOTATION_TITLE}" for ORAS and CRI-O 1.33); without one, tools cannot name the file and CRI-O skips the layer`,
    });
    return;
  }
  const key = [ANNOTATION_FILEPATH, LEGACY_ANNOTATION_FILEPATH, ANNOTATION_TITLE].find(
    (k) => annotations[k] === filePath,
  );
  const keyPath = at("annotations", key ?? ANNOTATION_FILEPATH);
  const unsafe = explainUnsafePath(filePath);
  if (unsafe !== undefined) {
    warnings.push({
      code: "manifest.layer.unsafe-filepath",
      path: keyPath,
      message: `${keyPath} is ${quote(filePath)}: ${unsafe}. Pullers must refuse it; use a relative path such as "weights/model.safetensors"`,
    });
  }
  const first = firstByPath.get(filePath);
  if (first === undefined) {
    firstByPath.set(filePath, index);
  } else {
    warnings.push({
      code: "manifest.layer.duplicate-filepath",
      path: keyPath,
      message: `${at()} has the file path ${quote(filePath)}, like layers[${first}]; one file would overwrite the other`,
    });
  }
  const current = annotations[ANNOTATION_FILEPATH];
  const legacy = annotations[LEGACY_ANNOTATION_FILEPATH];
  if (current !== undefined && legacy !== undefined && current !== legacy) {
    warnings.push({
      code: "manifest.layer.filepath-conflict",
      path: at("annotations"),
      message: `${at()} has "${ANNOTATION_FILEPATH}" ${quote(current)} but "${LEGACY_ANNOTATION_FILEPATH}" ${quote(legacy)}; tools reading different keys would place the file differently`,
    });
  }
}

function checkDiffIds(
  config: ModelConfig,
  layers: readonly (OciDescriptor | undefined)[],
  warnings: Issue[],
): void {
  const diffIds = config.modelfs.diffIds;
  if (diffIds.length !== layers.length) {
    warnings.push({
      code: "manifest.diffids.count",
      path: "layers",
      message: `the config lists ${diffIds.length} DiffID${diffIds.length === 1 ? "" : "s"} (modelfs.diffIds) but the manifest has ${layers.length} layer${layers.length === 1 ? "" : "s"}; there must be one DiffID per layer, in layer order`,
    });
  }
  layers.forEach((layer, index) => {
    const diffId = diffIds[index];
    if (layer === undefined || diffId === undefined) return;
    const encoding = parseLayerMediaType(layer.mediaType)?.encoding;
    // Only uncompressed layers have DiffID = blob digest; compressed ones hash the decompressed tar.
    if ((encoding !== "raw" && encoding !== "tar") || diffId === layer.digest) return;
    const elsewhere = diffIds.indexOf(layer.digest);
    const detail =
      elsewhere >= 0
        ? `it is modelfs.diffIds[${elsewhere}], so the DiffIDs are out of layer order`
        : "it is not in modelfs.diffIds at all";
    warnings.push({
      code: "manifest.diffids.mismatch",
      path: `layers[${index}].digest`,
      message: `layers[${index}] is an uncompressed (${encoding}) layer, so its DiffID must equal its digest ${layer.digest}, but modelfs.diffIds[${index}] is ${quote(diffId)}; ${detail}`,
    });
  });
}

/** Annotation concepts that exist in both families; a descriptor carrying both keys is deliberate. */
const PAIRED_KEYS: readonly { readonly cncf: string; readonly cnai: readonly string[] }[] = [
  { cncf: ANNOTATION_FILEPATH, cnai: [LEGACY_ANNOTATION_FILEPATH] },
  {
    cncf: ANNOTATION_FILE_METADATA,
    cnai: [LEGACY_ANNOTATION_FILE_METADATA, LEGACY_ANNOTATION_FILE_METADATA_V004],
  },
  { cncf: ANNOTATION_MEDIATYPE_UNTESTED, cnai: [LEGACY_ANNOTATION_MEDIATYPE_UNTESTED] },
  { cncf: ANNOTATION_MODELFILE, cnai: [LEGACY_ANNOTATION_MODELFILE] },
];

function checkFamilies(manifest: Record<string, unknown>, warnings: Issue[]): void {
  const seen: Record<MediaTypeFamily, string[]> = { cncf: [], cnai: [] };
  const note = (family: MediaTypeFamily | undefined, where: string): void => {
    if (family !== undefined) seen[family].push(where);
  };
  const artifactType = manifest["artifactType"];
  if (typeof artifactType === "string") note(modelManifestFamily(artifactType), "artifactType");
  const config = manifest["config"];
  if (isJsonObject(config) && typeof config["mediaType"] === "string") {
    note(modelConfigFamily(config["mediaType"]), "config.mediaType");
  }
  const layers = manifest["layers"];
  if (Array.isArray(layers)) {
    layers.forEach((layer: unknown, index) => {
      if (isJsonObject(layer) && typeof layer["mediaType"] === "string") {
        note(parseLayerMediaType(layer["mediaType"])?.family, `layers[${index}].mediaType`);
      }
    });
  }
  for (const { path, value } of annotationObjects(manifest)) {
    if (!isJsonObject(value)) continue;
    for (const pair of PAIRED_KEYS) {
      const hasCurrent = Object.hasOwn(value, pair.cncf);
      const legacyKey = pair.cnai.find((k) => Object.hasOwn(value, k));
      if (hasCurrent && legacyKey === undefined) note("cncf", formatPath([...path, pair.cncf]));
      if (!hasCurrent && legacyKey !== undefined) note("cnai", formatPath([...path, legacyKey]));
    }
  }
  if (seen.cncf.length === 0 || seen.cnai.length === 0) return;
  const list = (places: readonly string[]): string =>
    places.length <= 3 ? places.join(", ") : `${places.slice(0, 3).join(", ")} and ${places.length - 3} more`;
  warnings.push({
    code: "manifest.mixed-families",
    path: "",
    message: `the artifact mixes current (vnd.cncf / org.cncf) identifiers in ${list(seen.cncf)} with legacy (vnd.cnai / org.cnai) ones in ${list(seen.cnai)}; tools and runtimes keyed on one family ignore the other, so build with a single tool version`,
  });
}
