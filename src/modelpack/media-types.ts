/**
 * Every identifier ModelPack artifacts carry: the current `vnd.cncf` / `org.cncf` strings and the
 * legacy `vnd.cnai` / `org.cnai` ones that model-spec ≤ v0.0.6 (and modctl v0.1.x, v0.2.1-cnai,
 * v0.2.2) still emit, so readers must accept both families.
 */

/** The two naming generations: `cncf` is current (model-spec ≥ v0.0.7), `cnai` is legacy. */
export const MEDIA_TYPE_FAMILIES = ["cncf", "cnai"] as const;
export type MediaTypeFamily = (typeof MEDIA_TYPE_FAMILIES)[number];

/** Layer classes of model-spec; there is no "unknown/other" class. */
export const LAYER_CLASSES = ["weight", "weight.config", "doc", "code", "dataset"] as const;
export type LayerClass = (typeof LAYER_CLASSES)[number];

/** Layer encodings: `raw` is one unarchived file, the others a tar stream (optionally compressed). */
export const LAYER_ENCODINGS = ["raw", "tar", "tar+gzip", "tar+zstd"] as const;
export type LayerEncoding = (typeof LAYER_ENCODINGS)[number];

export type LayerMediaType<F extends MediaTypeFamily = MediaTypeFamily> =
  `application/vnd.${F}.model.${LayerClass}.v1.${LayerEncoding}`;

/** What a ModelPack layer media type says about its layer. */
export interface ParsedLayerMediaType {
  readonly family: MediaTypeFamily;
  readonly class: LayerClass;
  readonly encoding: LayerEncoding;
}

export { OCI_INDEX_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE } from "../oci-spec.js";
export const OCI_IMAGE_CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json";
export const OCI_EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json";
export const DOCKER_IMAGE_CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json";

/** Layer types that container runtimes unpack as image layers (see lint.ts for why it matters). */
export const IMAGE_LAYER_MEDIA_TYPES: readonly string[] = [
  "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd",
  "application/vnd.docker.image.rootfs.diff.tar.gzip",
];

/** Config types that make a manifest an image rather than an artifact to CRI-O and containerd. */
export const IMAGE_CONFIG_MEDIA_TYPES: readonly string[] = [
  OCI_IMAGE_CONFIG_MEDIA_TYPE,
  DOCKER_IMAGE_CONFIG_MEDIA_TYPE,
];

export const ARTIFACT_TYPE_MODEL_MANIFEST = "application/vnd.cncf.model.manifest.v1+json";
export const LEGACY_ARTIFACT_TYPE_MODEL_MANIFEST = "application/vnd.cnai.model.manifest.v1+json";
export const MEDIA_TYPE_MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json";
export const LEGACY_MEDIA_TYPE_MODEL_CONFIG = "application/vnd.cnai.model.config.v1+json";

/** Layer file path (relative POSIX path, by convention; the spec sets no format rules). */
export const ANNOTATION_FILEPATH = "org.cncf.model.filepath";
export const LEGACY_ANNOTATION_FILEPATH = "org.cnai.model.filepath";
/** JSON string of FileMetadata (see file-metadata.ts). */
export const ANNOTATION_FILE_METADATA = "org.cncf.model.file.metadata+json";
export const LEGACY_ANNOTATION_FILE_METADATA = "org.cnai.model.file.metadata+json";
/** model-spec v0.0.4 only: the metadata key had no `+json` suffix. */
export const LEGACY_ANNOTATION_FILE_METADATA_V004 = "org.cnai.model.file.metadata";
/** `"true"` when the packager did not verify the layer's media type classification. */
export const ANNOTATION_MEDIATYPE_UNTESTED = "org.cncf.model.file.mediatype.untested";
export const LEGACY_ANNOTATION_MEDIATYPE_UNTESTED = "org.cnai.model.file.mediatype.untested";
/** OCI's file name annotation; ORAS and CRI-O read it first. */
export const ANNOTATION_TITLE = "org.opencontainers.image.title";
/** Manifest annotation modctl writes: the regenerated Modelfile text. */
export const ANNOTATION_MODELFILE = "org.cncf.modctl.modelfile";
export const LEGACY_ANNOTATION_MODELFILE = "org.cnai.modctl.modelfile";

/** The layer media type for a class and encoding in one family (current `cncf` by default). */
export function layerMediaType(
  layerClass: LayerClass,
  encoding: LayerEncoding,
  family: MediaTypeFamily = "cncf",
): LayerMediaType {
  return `application/vnd.${family}.model.${layerClass}.v1.${encoding}` as const;
}

/** The 20 current layer media types (5 classes × 4 encodings), class-major. */
export const ALL_LAYER_MEDIA_TYPES: readonly LayerMediaType<"cncf">[] = LAYER_CLASSES.flatMap((c) =>
  LAYER_ENCODINGS.map((e) => `application/vnd.cncf.model.${c}.v1.${e}` as const),
);
/** The 20 legacy `vnd.cnai` layer media types, in the same order. */
export const LEGACY_LAYER_MEDIA_TYPES: readonly LayerMediaType<"cnai">[] = LAYER_CLASSES.flatMap((c) =>
  LAYER_ENCODINGS.map((e) => `application/vnd.cnai.model.${c}.v1.${e}` as const),
);

// `weight.config` precedes `weight` only for readability: the anchors make the match exact anyway.
const LAYER_MEDIA_TYPE =
  /^application\/vnd\.(cncf|cnai)\.model\.(weight\.config|weight|doc|code|dataset)\.v1\.(raw|tar|tar\+gzip|tar\+zstd)$/;

/**
 * Splits a ModelPack layer media type (either family) into family, class and encoding.
 * Returns undefined for anything else, including OCI image layers and near-misses such as
 * `raw+gzip` or a different case: media type matching is exact, as in every reference tool.
 */
export function parseLayerMediaType(mediaType: string): ParsedLayerMediaType | undefined {
  const m = LAYER_MEDIA_TYPE.exec(mediaType);
  if (m === null) return undefined;
  const [, family, layerClass, encoding] = m;
  if (!isFamily(family) || !isLayerClass(layerClass) || !isLayerEncoding(encoding)) return undefined;
  return { family, class: layerClass, encoding };
}

/** The family of a model manifest artifactType, or undefined when it is not one. */
export function modelManifestFamily(artifactType: string): MediaTypeFamily | undefined {
  if (artifactType === ARTIFACT_TYPE_MODEL_MANIFEST) return "cncf";
  if (artifactType === LEGACY_ARTIFACT_TYPE_MODEL_MANIFEST) return "cnai";
  return undefined;
}

/** The family of a model config media type, or undefined when it is not one. */
export function modelConfigFamily(mediaType: string): MediaTypeFamily | undefined {
  if (mediaType === MEDIA_TYPE_MODEL_CONFIG) return "cncf";
  if (mediaType === LEGACY_MEDIA_TYPE_MODEL_CONFIG) return "cnai";
  return undefined;
}

/**
 * Whether a layer of this media type is a tar stream (plain or compressed) rather than one file:
 * ModelPack `.tar*` layers, OCI/Docker image layers, and other types that name tar, gzip or zstd.
 */
export function isArchiveMediaType(mediaType: string): boolean {
  const parsed = parseLayerMediaType(mediaType);
  if (parsed !== undefined) return parsed.encoding !== "raw";
  return (
    IMAGE_LAYER_MEDIA_TYPES.includes(mediaType) ||
    /(?:^|[./+])tar(?:$|[.+])|[.+](?:gzip|zstd)$/.test(mediaType)
  );
}

function isFamily(s: string | undefined): s is MediaTypeFamily {
  return (MEDIA_TYPE_FAMILIES as readonly (string | undefined)[]).includes(s);
}
function isLayerClass(s: string | undefined): s is LayerClass {
  return (LAYER_CLASSES as readonly (string | undefined)[]).includes(s);
}
function isLayerEncoding(s: string | undefined): s is LayerEncoding {
  return (LAYER_ENCODINGS as readonly (string | undefined)[]).includes(s);
}
