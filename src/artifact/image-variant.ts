/**
 * The image-shaped variant of a ModelPack artifact (pure): what containerd can mount as an image
 * volume. An OCI image index whose `subject` is the ModelPack manifest lists one image manifest
 * per platform; each has an image config whose `rootfs.diff_ids` list its layers and one
 * `application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]` layer per ModelPack layer, in order:
 * - a tar layer (compressed or not) is the artifact's own blob (same digest, an image media type);
 * - a raw file is wrapped into a new tar holding it at its ModelPack file path (tar-wrap.ts).
 * The index records, per layer, the file path, the ModelPack layer digest it came from and the
 * image layer's digest (`ANNOTATION_VARIANT_LAYERS`), and so do the image layers' annotations.
 *
 * `planVariantLayers` says what each layer becomes, `buildVariant` writes the documents (the same
 * inputs always give the same bytes: a second publish has the same digest), and `checkVariant`
 * decides whether a variant found in a registry matches an artifact: the same files at the same
 * paths from the same source digests, reused blobs identical, wrapped layers of exactly the size a
 * tar of that file has. What binds a wrapped layer's bytes to the raw file is the publisher (see
 * the README, "Image variants: trust model"): a variant is only as trusted as who may push to
 * the repository, unless signatures are required, when it must be signed too.
 */
import { z } from "zod";
import {
  layerFilePath,
  parseFileMetadata,
  parseLayerMediaType,
  type LayerEncoding,
  type OciManifest,
} from "../modelpack/index.js";
import { OCI_INDEX_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE } from "../oci-spec.js";
import { sha256Digest } from "../oci/digest.js";
import type { Descriptor } from "../oci/registry-types.js";
import { tarLayerSize, type TarFile } from "../oci/tar-wrap.js";

/** The index's artifactType: what referrers lists it by. */
export const IMAGE_VARIANT_ARTIFACT_TYPE = "application/vnd.modelpack-operator.image-variant.v1+json";
/** Index annotation: JSON list of VariantLayerRecord, one per ModelPack layer, in order. */
export const ANNOTATION_VARIANT_LAYERS = "dev.modelpack.image-variant.layers";
/** Image layer annotation: the ModelPack layer digest it came from. */
export const ANNOTATION_VARIANT_SOURCE = "dev.modelpack.image-variant.source";
const ANNOTATION_TITLE = "org.opencontainers.image.title";
export const OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";

/** Platforms written when none are asked for: the node architectures image volumes meet most. */
export const DEFAULT_VARIANT_PLATFORMS = ["linux/amd64", "linux/arm64"] as const;

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** `linux/arm64/v8` → {os, architecture, variant}; undefined for anything else. */
export function parsePlatform(text: string): Platform | undefined {
  const match = /^([a-z0-9]+)\/([a-z0-9_]+)(?:\/([a-z0-9]+))?$/.exec(text.trim());
  if (match === null) return undefined;
  return {
    os: match[1] ?? "",
    architecture: match[2] ?? "",
    ...(match[3] !== undefined && { variant: match[3] }),
  };
}

export const formatPlatform = (p: Platform): string =>
  `${p.os}/${p.architecture}${p.variant !== undefined ? `/${p.variant}` : ""}`;

/** What one ModelPack layer becomes in the variant. */
export type LayerPlan =
  | {
      /** A tar layer (optionally compressed): its blob is the image layer. */
      readonly kind: "reuse";
      readonly source: Descriptor;
      readonly path: string;
      readonly encoding: Exclude<LayerEncoding, "raw">;
    }
  | {
      /** A raw file: wrapped into a new tar at its path. */
      readonly kind: "wrap";
      readonly source: Descriptor;
      readonly path: string;
      readonly file: TarFile;
    };

/** What a variant layer is, once known (its digest, and the uncompressed digest for diff_ids). */
export interface VariantLayer {
  readonly plan: LayerPlan;
  readonly descriptor: { readonly mediaType: string; readonly digest: string; readonly size: number };
  readonly diffId: string;
}

/** One entry of ANNOTATION_VARIANT_LAYERS. */
export const VariantLayerRecord = z.object({
  /** The ModelPack file path ("" for a tar layer without one: its entries carry their own). */
  path: z.string(),
  /** The ModelPack layer digest. */
  source: z.string(),
  /** The image layer digest. */
  digest: z.string(),
});
export type VariantLayerRecord = z.infer<typeof VariantLayerRecord>;

/**
 * What each layer of a valid ModelPack manifest becomes, or the reason it cannot have a variant
 * (a layer type that is not ModelPack's, a raw layer without a file path).
 */
export function planVariantLayers(manifest: OciManifest): { layers: LayerPlan[] } | { problem: string } {
  if (manifest.layers.length === 0) return { problem: "the artifact has no layers" };
  const layers: LayerPlan[] = [];
  for (const [index, layer] of manifest.layers.entries()) {
    const parsed = parseLayerMediaType(layer.mediaType);
    const source: Descriptor = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
    if (parsed === undefined)
      return {
        problem: `layer ${index} has media type ${layer.mediaType}, which is not a ModelPack layer type`,
      };
    const path = layerFilePath(layer);
    if (parsed.encoding !== "raw") {
      layers.push({ kind: "reuse", source, path: path ?? "", encoding: parsed.encoding });
      continue;
    }
    if (path === undefined || !isPlainRelativePath(path))
      return {
        problem: `layer ${index} is a raw file ${path === undefined ? "without a file path annotation" : `with the unsafe path ${JSON.stringify(path)}`}`,
      };
    const metadata = parseFileMetadata(layer.annotations);
    const mtime = metadata === undefined ? NaN : Date.parse(metadata.mtime);
    layers.push({
      kind: "wrap",
      source,
      path,
      file: {
        path,
        size: layer.size,
        // Readable by every user: a pod's containers may run as any user (as the pull's --world-readable).
        mode: ((metadata?.mode ?? 0o644) & 0o777) | 0o444,
        mtimeSeconds: Number.isFinite(mtime) ? Math.max(0, Math.floor(mtime / 1000)) : 0,
      },
    });
  }
  return { layers };
}

function isPlainRelativePath(p: string): boolean {
  return p !== "" && !p.startsWith("/") && p.split("/").every((s) => s !== "" && s !== "." && s !== "..");
}

/** The image layer media type of a layer plan. */
export function imageLayerMediaType(plan: LayerPlan): string {
  if (plan.kind === "wrap" || plan.encoding === "tar") return OCI_LAYER_TAR;
  return `${OCI_LAYER_TAR}+${plan.encoding === "tar+gzip" ? "gzip" : "zstd"}`;
}

/** A document to push: its bytes, media type and digest. */
export interface VariantDocument {
  readonly mediaType: string;
  readonly bytes: Uint8Array;
  readonly digest: string;
}

export interface BuiltVariant {
  readonly index: VariantDocument;
  /** Per platform, in the index's order: the image config (a blob) and the image manifest. */
  readonly images: readonly { platform: Platform; config: VariantDocument; manifest: VariantDocument }[];
}

const documentOf = (mediaType: string, value: unknown): VariantDocument => {
  const bytes = Buffer.from(JSON.stringify(value));
  return { mediaType, bytes, digest: sha256Digest(bytes) };
};

/**
 * The variant's documents for `subject` (the ModelPack manifest) and its layers (in the
 * manifest's order), one image per platform. Deterministic: no time or randomness goes in.
 */
export function buildVariant(
  subject: Descriptor,
  layers: readonly VariantLayer[],
  platforms: readonly Platform[],
): BuiltVariant {
  const layerDescriptors = layers.map((l) => ({
    mediaType: l.descriptor.mediaType,
    digest: l.descriptor.digest,
    size: l.descriptor.size,
    annotations: {
      ...(l.plan.path !== "" && { [ANNOTATION_TITLE]: l.plan.path }),
      [ANNOTATION_VARIANT_SOURCE]: l.plan.source.digest,
    },
  }));
  const images = platforms.map((platform) => {
    const config = documentOf(OCI_IMAGE_CONFIG, {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant !== undefined && { variant: platform.variant }),
      config: {},
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    });
    const manifest = documentOf(OCI_MANIFEST_MEDIA_TYPE, {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      config: { mediaType: OCI_IMAGE_CONFIG, digest: config.digest, size: config.bytes.byteLength },
      layers: layerDescriptors,
    });
    return { platform, config, manifest };
  });
  const records: VariantLayerRecord[] = layers.map((l) => ({
    path: l.plan.path,
    source: l.plan.source.digest,
    digest: l.descriptor.digest,
  }));
  const index = documentOf(OCI_INDEX_MEDIA_TYPE, {
    schemaVersion: 2,
    mediaType: OCI_INDEX_MEDIA_TYPE,
    artifactType: IMAGE_VARIANT_ARTIFACT_TYPE,
    manifests: images.map((i) => ({
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      digest: i.manifest.digest,
      size: i.manifest.bytes.byteLength,
      platform: {
        architecture: i.platform.architecture,
        os: i.platform.os,
        ...(i.platform.variant !== undefined && { variant: i.platform.variant }),
      },
    })),
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { [ANNOTATION_VARIANT_LAYERS]: JSON.stringify(records) },
  });
  return { index, images };
}

// ---------------------------------------------------------------------------------------------
// Reading a variant back

const DescriptorDoc = z.looseObject({
  mediaType: z.string(),
  digest: z.string(),
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export const VariantIndex = z.looseObject({
  mediaType: z.literal(OCI_INDEX_MEDIA_TYPE),
  artifactType: z.literal(IMAGE_VARIANT_ARTIFACT_TYPE),
  manifests: z
    .array(
      DescriptorDoc.extend({
        platform: z.looseObject({ os: z.string(), architecture: z.string(), variant: z.string().optional() }),
      }),
    )
    .min(1)
    .max(16),
  subject: DescriptorDoc,
  annotations: z.record(z.string(), z.string()),
});
export type VariantIndex = z.infer<typeof VariantIndex>;

export const VariantImageManifest = z.looseObject({
  mediaType: z.literal(OCI_MANIFEST_MEDIA_TYPE).optional(),
  config: DescriptorDoc,
  layers: z.array(DescriptorDoc),
});
export type VariantImageManifest = z.infer<typeof VariantImageManifest>;

export const VariantImageConfig = z.looseObject({
  os: z.string(),
  architecture: z.string(),
  rootfs: z.looseObject({ type: z.literal("layers"), diff_ids: z.array(z.string()) }),
});
export type VariantImageConfig = z.infer<typeof VariantImageConfig>;

/** The per-layer records of a variant index, or why they cannot be read. */
export function variantRecords(index: VariantIndex): VariantLayerRecord[] | string {
  const raw = index.annotations[ANNOTATION_VARIANT_LAYERS];
  if (raw === undefined) return `the index has no ${ANNOTATION_VARIANT_LAYERS} annotation`;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return `the index's ${ANNOTATION_VARIANT_LAYERS} annotation is not JSON`;
  }
  const parsed = z.array(VariantLayerRecord).safeParse(json);
  return parsed.success
    ? parsed.data
    : `the index's ${ANNOTATION_VARIANT_LAYERS} annotation is not a list of layers`;
}

/** The first few mismatches, for a message. */
const MAX_PROBLEMS = 3;

/**
 * Whether the index matches the ModelPack artifact (pure): its subject is `digest`, it records
 * one layer per ModelPack layer with the same path and source digest, and (per platform image
 * given in `images`) its layers are the recorded ones with the right media types, reused blobs
 * are the artifact's own, wrapped layers have exactly the size of a tar of that file, and the
 * config's diff_ids list them (uncompressed layers: their digest). Returns the problems found
 * (empty: it matches).
 */
export function checkVariant(
  artifact: { readonly digest: string; readonly manifest: OciManifest },
  index: VariantIndex,
  images: readonly { manifest: VariantImageManifest; config: VariantImageConfig; platform: Platform }[],
): string[] {
  const problems: string[] = [];
  const add = (p: string): void => void problems.push(p);
  if (index.subject.digest !== artifact.digest)
    add(`its subject is ${index.subject.digest}, not the artifact ${artifact.digest}`);
  const planned = planVariantLayers(artifact.manifest);
  if ("problem" in planned) return [`the artifact cannot have a variant: ${planned.problem}`];
  const records = variantRecords(index);
  if (typeof records === "string") return [...problems, records];
  if (records.length !== planned.layers.length)
    return [...problems, `it records ${records.length} layers, the artifact has ${planned.layers.length}`];
  planned.layers.forEach((plan, i) => {
    const record = records[i];
    if (record === undefined) return;
    if (record.source !== plan.source.digest)
      add(`layer ${i} comes from ${record.source}, not the artifact's layer ${plan.source.digest}`);
    if (record.path !== plan.path)
      add(`layer ${i} is at ${JSON.stringify(record.path)}, not the artifact's ${JSON.stringify(plan.path)}`);
    if (plan.kind === "reuse" && record.digest !== plan.source.digest)
      add(`layer ${i} should reuse the artifact's blob ${plan.source.digest}, not ${record.digest}`);
  });
  for (const image of images) {
    const where = formatPlatform(image.platform);
    if (image.config.os !== image.platform.os || image.config.architecture !== image.platform.architecture)
      add(`the ${where} image's config says ${image.config.os}/${image.config.architecture}`);
    const { layers } = image.manifest;
    const diffIds = image.config.rootfs.diff_ids;
    if (layers.length !== planned.layers.length || diffIds.length !== layers.length) {
      add(
        `the ${where} image has ${layers.length} layers and ${diffIds.length} diff_ids, the artifact ${planned.layers.length} layers`,
      );
      continue;
    }
    planned.layers.forEach((plan, i) => {
      const layer = layers[i];
      const record = records[i];
      if (layer === undefined || record === undefined) return;
      if (layer.digest !== record.digest)
        add(`the ${where} image's layer ${i} is ${layer.digest}, not ${record.digest}`);
      if (layer.mediaType !== imageLayerMediaType(plan))
        add(
          `the ${where} image's layer ${i} has media type ${layer.mediaType}, not ${imageLayerMediaType(plan)}`,
        );
      const size = plan.kind === "wrap" ? tarLayerSize(plan.file) : plan.source.size;
      if (layer.size !== size)
        add(
          `the ${where} image's layer ${i} is ${layer.size} bytes, not the ${size} bytes of ${plan.kind === "wrap" ? `a tar of ${plan.path}` : "the artifact's blob"}`,
        );
      const uncompressed = plan.kind === "wrap" || plan.encoding === "tar";
      if (uncompressed && diffIds[i] !== layer.digest)
        add(
          `the ${where} image's diff_id ${i} is ${diffIds[i] ?? "?"}, not its uncompressed layer ${layer.digest}`,
        );
    });
  }
  return problems.slice(0, MAX_PROBLEMS + 1).map((p, i) => (i === MAX_PROBLEMS ? "…" : p));
}
