/**
 * Publishing the image-shaped variant of a ModelPack artifact (I/O; the documents are
 * image-variant.ts's). Guarantees:
 * - only a valid ModelPack artifact, read and verified by digest, gets a variant;
 * - a tar layer is never uploaded: its blob is reused (compressed ones are read once, to learn
 *   their uncompressed digest); a raw file is read once from the registry, verified against its
 *   digest while it is wrapped into a tar and uploaded as a stream (constant memory, no copy on
 *   disk), and a mismatch aborts the upload before it is committed;
 * - idempotent: the documents are deterministic, so a second run finds the same variant, checks
 *   that its blobs are there and uploads nothing;
 * - the variant is findable: through the referrers API, and where a registry has none, through
 *   the `sha256-<hex>` referrers tag (updated, keeping what it listed).
 */
import { createHash } from "node:crypto";
import { PassThrough, Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createZstdDecompress } from "node:zlib";
import type { RegistryClient } from "../oci/client.js";
import { OCI_INDEX_MEDIA_TYPE } from "../oci-spec.js";
import { referrersTag } from "../oci/referrers.js";
import { pinnedReference, type ImageReference } from "../oci/reference.js";
import { tarLayerSize, tarPrefix, tarSuffix, wrapInTar } from "../oci/tar-wrap.js";
import { findVariant, type FoundVariant } from "./find-variant.js";
import {
  buildVariant,
  IMAGE_VARIANT_ARTIFACT_TYPE,
  imageLayerMediaType,
  planVariantLayers,
  type LayerPlan,
  type Platform,
  type VariantLayer,
} from "./image-variant.js";
import { inspectArtifact, type ArtifactInspection } from "./inspect.js";

export interface PublishImageOptions {
  readonly platforms: readonly Platform[];
  /** Also tag the variant index (in the artifact's repository). */
  readonly tag?: string;
  /** Rebuild every layer from the artifact instead of trusting an existing matching variant's. */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  /** Called as a layer starts (for progress lines). */
  readonly onLayer?: (plan: LayerPlan, index: number, total: number) => void;
}

/** What happened to one layer: its blob was the artifact's, already there, or uploaded now. */
export type LayerAction = "reused" | "present" | "uploaded";

export interface PublishedLayer {
  readonly path: string;
  readonly source: string;
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  readonly action: LayerAction;
}

export type PublishResult =
  { readonly invalid: ArtifactInspection; readonly reason: string } | PublishedVariant;

/** A variant published (or found already there). */
export interface PublishedVariant {
  /** The variant index's digest. */
  readonly digest: string;
  /** `registry/repository@digest` of the index: what an image volume mounts. */
  readonly reference: string;
  readonly subject: string;
  readonly platforms: readonly string[];
  readonly layers: readonly PublishedLayer[];
  /** Bytes uploaded (layer blobs and configs) and documents pushed by this run. */
  readonly uploadedBytes: number;
  readonly pushedManifests: number;
  /** How readers find it: the referrers API, or the fallback tag (named). */
  readonly findable: { readonly via: "api" } | { readonly via: "tag"; readonly tag: string };
  readonly tag?: string;
}

/**
 * Publishes the image variant of the artifact `ref` names into its repository (push access
 * needed). An artifact that is not valid ModelPack, or whose layers cannot be laid out as files,
 * is returned as `invalid` with the reason. Throws RegistryError and DigestMismatchError.
 */
export async function publishImage(
  client: RegistryClient,
  ref: ImageReference,
  options: PublishImageOptions,
): Promise<PublishResult> {
  const signal = options.signal;
  const inspection = await inspectArtifact(client, ref, signal);
  const manifest = inspection.manifest;
  if (!inspection.valid || manifest === undefined)
    return {
      invalid: inspection,
      reason: `${inspection.pinnedReference} is not a valid ModelPack artifact (${inspection.errors[0]?.message ?? "no readable manifest"})`,
    };
  const planned = planVariantLayers(manifest);
  if ("problem" in planned)
    return {
      invalid: inspection,
      reason: `${inspection.pinnedReference} cannot have an image variant: ${planned.problem}`,
    };
  const repo = { registry: ref.registry, repository: ref.repository };
  const artifact = { digest: inspection.digest, manifest };
  const existing =
    options.force === true ? undefined : (await findVariant(client, repo, artifact, signal)).variant;
  const known = existing !== undefined && existing.problems.length === 0 ? existing : undefined;

  let uploadedBytes = 0;
  const layers: VariantLayer[] = [];
  const published: PublishedLayer[] = [];
  for (const [i, plan] of planned.layers.entries()) {
    options.onLayer?.(plan, i, planned.layers.length);
    const { layer, action } = await layerOf(client, repo, plan, i, known, signal);
    if (action === "uploaded") uploadedBytes += layer.descriptor.size;
    layers.push(layer);
    published.push({
      path: plan.path,
      source: plan.source.digest,
      digest: layer.descriptor.digest,
      size: layer.descriptor.size,
      mediaType: layer.descriptor.mediaType,
      action,
    });
  }

  // The manifest's exact bytes (cached by the client since the inspection read them).
  const document = await client.getManifestDocument({ ...repo, digest: inspection.digest }, signal);
  const subject = { mediaType: document.mediaType, digest: document.digest, size: document.bytes.byteLength };
  const built = buildVariant(subject, layers, options.platforms);
  let pushedManifests = 0;
  if (known?.digest !== built.index.digest) {
    for (const image of built.images) {
      const config = {
        mediaType: image.config.mediaType,
        digest: image.config.digest,
        size: image.config.bytes.byteLength,
      };
      if (await client.pushBlob(repo, config, image.config.bytes, signal)) uploadedBytes += config.size;
      await client.pushManifest(
        { ...repo, digest: image.manifest.digest },
        image.manifest.mediaType,
        image.manifest.bytes,
        signal,
      );
      pushedManifests++;
    }
    await client.pushManifest(
      { ...repo, digest: built.index.digest },
      OCI_INDEX_MEDIA_TYPE,
      built.index.bytes,
      signal,
    );
    pushedManifests++;
  }
  if (options.tag !== undefined) {
    const tagged = await client.resolve({ ...repo, tag: options.tag }, signal).catch(() => undefined);
    if (tagged?.digest !== built.index.digest) {
      await client.pushManifest(
        { ...repo, tag: options.tag },
        OCI_INDEX_MEDIA_TYPE,
        built.index.bytes,
        signal,
      );
      pushedManifests++;
    }
  }
  const descriptor = {
    mediaType: OCI_INDEX_MEDIA_TYPE,
    digest: built.index.digest,
    size: built.index.bytes.byteLength,
    artifactType: IMAGE_VARIANT_ARTIFACT_TYPE,
  };
  const findable = await makeFindable(client, repo, inspection.digest, descriptor, signal);
  if (findable.pushed) pushedManifests++;
  return {
    digest: built.index.digest,
    reference: pinnedReference(repo, built.index.digest),
    subject: inspection.digest,
    platforms: options.platforms.map(
      (p) => `${p.os}/${p.architecture}${p.variant !== undefined ? `/${p.variant}` : ""}`,
    ),
    layers: published,
    uploadedBytes,
    pushedManifests,
    findable: findable.via === "api" ? { via: "api" } : { via: "tag", tag: referrersTag(inspection.digest) },
    ...(options.tag !== undefined && { tag: options.tag }),
  };
}

/** One layer of the variant: its descriptor and diff ID, and whether anything was uploaded. */
async function layerOf(
  client: RegistryClient,
  repo: ImageReference,
  plan: LayerPlan,
  index: number,
  known: FoundVariant | undefined,
  signal: AbortSignal | undefined,
): Promise<{ layer: VariantLayer; action: LayerAction }> {
  const mediaType = imageLayerMediaType(plan);
  const knownLayer = known?.images[0]?.manifest.layers[index];
  const knownDiffId = known?.images[0]?.config.rootfs.diff_ids[index];
  if (plan.kind === "reuse") {
    const descriptor = { mediaType, digest: plan.source.digest, size: plan.source.size };
    if (plan.encoding === "tar")
      return { layer: { plan, descriptor, diffId: plan.source.digest }, action: "reused" };
    const diffId = knownDiffId ?? (await uncompressedDigest(client, repo, plan, signal));
    return { layer: { plan, descriptor, diffId }, action: "reused" };
  }
  if (knownLayer !== undefined && (await client.hasBlob(repo, knownLayer.digest, signal))) {
    const descriptor = { mediaType, digest: knownLayer.digest, size: knownLayer.size };
    return { layer: { plan, descriptor, diffId: knownLayer.digest }, action: "present" };
  }
  const size = tarLayerSize(plan.file);
  // Large files hash on a worker (streamBlobFramed); small ones are not worth a thread.
  const uploaded = await client.uploadBlob(
    repo,
    plan.source.size >= WORKER_HASH_BYTES
      ? () =>
          lazyFramed(() =>
            client.streamBlobFramed(
              repo,
              plan.source,
              { prefix: tarPrefix(plan.file), suffix: tarSuffix(plan.file.size) },
              signal,
            ),
          )
      : () =>
          wrapInTar(
            plan.file,
            lazy(() => client.streamBlob(repo, plan.source, signal)),
          ),
    { size, ...(signal !== undefined && { signal }) },
  );
  const descriptor = { mediaType, digest: uploaded.digest, size: uploaded.size };
  return { layer: { plan, descriptor, diffId: uploaded.digest }, action: "uploaded" };
}

/** The digest of a compressed tar layer's uncompressed bytes (read once, verified, not stored). */
async function uncompressedDigest(
  client: RegistryClient,
  repo: ImageReference,
  plan: LayerPlan & { kind: "reuse" },
  signal: AbortSignal | undefined,
): Promise<string> {
  const hash = createHash("sha256");
  const blob = await client.streamBlob(repo, plan.source, signal);
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback();
    },
  });
  await pipeline(blob, plan.encoding === "tar+gzip" ? createGunzip() : createZstdDecompress(), hashing, {
    ...(signal !== undefined && { signal }),
  });
  return `sha256:${hash.digest("hex")}`;
}

/** Files from this size on are hashed on a worker thread while they are copied. */
const WORKER_HASH_BYTES = 8 * 1024 * 1024;

/** `lazy` for a framed copy: the stream now, its digest once the copy has opened and ended. */
function lazyFramed(open: () => Promise<{ stream: Readable; digest: Promise<string> }>): {
  stream: Readable;
  digest: Promise<string>;
} {
  let resolve: (digest: string) => void = () => undefined;
  let reject: (err: Error) => void = () => undefined;
  const digest = new Promise<string>((res, rej) => ((resolve = res), (reject = rej)));
  digest.catch(() => undefined);
  const stream = lazy(async () => {
    const opened = await open();
    opened.digest.then(resolve, reject);
    return opened.stream;
  });
  stream.once("error", reject);
  return { stream, digest };
}

/** A stream that opens its source on first need (the upload's body must be a Readable now). */
function lazy(open: () => Promise<Readable>): Readable {
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  open().then(
    (source) => {
      source.once("error", (err) => out.destroy(err));
      out.once("close", () => {
        if (!source.readableEnded) source.destroy();
      });
      source.pipe(out);
    },
    (err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return out;
}

/**
 * Makes the variant findable from the artifact's digest: the referrers API lists it already
 * where the registry has one; otherwise the `sha256-<hex>` tag's index gets its descriptor
 * (added to what it listed, e.g. cosign signatures).
 */
async function makeFindable(
  client: RegistryClient,
  repo: ImageReference,
  subject: string,
  descriptor: { mediaType: string; digest: string; size: number; artifactType: string },
  signal: AbortSignal | undefined,
): Promise<{ via: "api" | "tag"; pushed: boolean }> {
  const referrers = await client.getReferrers(repo, subject, signal);
  if (referrers.manifests.some((m) => m.digest === descriptor.digest))
    return { via: referrers.via, pushed: false };
  // No API, or one that does not list it (a registry that ignores `subject`): the tag then.
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX_MEDIA_TYPE,
    manifests: [...referrers.manifests, descriptor],
  };
  await client.pushManifest(
    { ...repo, tag: referrersTag(subject) },
    OCI_INDEX_MEDIA_TYPE,
    Buffer.from(JSON.stringify(index)),
    signal,
  );
  return { via: "tag", pushed: true };
}
