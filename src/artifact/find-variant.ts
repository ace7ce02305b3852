/**
 * Finding an artifact's image variant in its repository (I/O), shared by `inspect`,
 * `publish-image` and the controller: the referrers of the ModelPack manifest (the registry's
 * referrers API, else the `sha256-<hex>` fallback tag: RegistryClient.getReferrers), those of the
 * variant's artifactType, each fetched (verified by digest) and checked against the artifact
 * (image-variant.ts `checkVariant`). Bounded: at most `MAX_CANDIDATES` variants are read.
 */
import type { OciManifest } from "../modelpack/index.js";
import type { Descriptor, FetchedManifest, Referrers } from "../oci/client.js";
import type { ImageReference } from "../oci/reference.js";
import { parseJson } from "../oci/registry-response.js";
import {
  checkVariant,
  IMAGE_VARIANT_ARTIFACT_TYPE,
  VariantImageConfig,
  VariantImageManifest,
  VariantIndex,
  type Platform,
} from "./image-variant.js";

/** What finding a variant needs of a registry (`RegistryClient` is the real one). */
export interface VariantRegistry {
  getReferrers(ref: ImageReference, digest: string, signal?: AbortSignal): Promise<Referrers>;
  getManifestDocument(ref: ImageReference, signal?: AbortSignal): Promise<FetchedManifest>;
  getBlob(ref: ImageReference, descriptor: Descriptor, signal?: AbortSignal): Promise<Uint8Array>;
}

/** Variants of one artifact read at most (a repository could list many). */
export const MAX_CANDIDATES = 4;

/** One variant read and checked. */
export interface FoundVariant {
  readonly digest: string;
  /** Absent when the document is not a variant index. */
  readonly index?: VariantIndex;
  readonly images: readonly {
    platform: Platform;
    manifest: VariantImageManifest;
    config: VariantImageConfig;
  }[];
  /** Empty when it matches the artifact. */
  readonly problems: readonly string[];
}

/** The outcome of a look-up: the matching variant, else the first that does not match, else none. */
export interface VariantLookup {
  /** How the referrers were listed: the registry's API or the fallback tag. */
  readonly via: Referrers["via"];
  readonly variant?: FoundVariant;
}

/**
 * Lists the variants of `artifact` in `ref`'s repository and returns the first that matches
 * (candidates in digest order, so every reader picks the same), else the first that does not
 * (its problems say why), else none. Throws RegistryError when the registry fails.
 */
export async function findVariant(
  registry: VariantRegistry,
  ref: ImageReference,
  artifact: { readonly digest: string; readonly manifest: OciManifest },
  signal?: AbortSignal,
): Promise<VariantLookup> {
  const referrers = await registry.getReferrers(ref, artifact.digest, signal);
  const candidates = referrers.manifests
    .filter((d) => d.artifactType === IMAGE_VARIANT_ARTIFACT_TYPE)
    .map((d) => d.digest)
    .filter((d, i, all) => all.indexOf(d) === i)
    .sort()
    .slice(0, MAX_CANDIDATES);
  let first: FoundVariant | undefined;
  for (const digest of candidates) {
    const variant = await readVariant(registry, ref, artifact, digest, signal);
    if (variant.problems.length === 0) return { via: referrers.via, variant };
    first ??= variant;
  }
  return { via: referrers.via, ...(first !== undefined && { variant: first }) };
}

/** Reads one variant index, its images and configs, and checks them against the artifact. */
export async function readVariant(
  registry: VariantRegistry,
  ref: ImageReference,
  artifact: { readonly digest: string; readonly manifest: OciManifest },
  digest: string,
  signal?: AbortSignal,
): Promise<FoundVariant> {
  const at = (d: string): ImageReference => ({
    registry: ref.registry,
    repository: ref.repository,
    digest: d,
  });
  const fetched = await registry.getManifestDocument(at(digest), signal);
  const index = VariantIndex.safeParse(fetched.json);
  if (!index.success)
    return {
      digest,
      images: [],
      problems: [`${digest} is not an image variant index (${index.error.issues[0]?.message ?? "invalid"})`],
    };
  const images: FoundVariant["images"][number][] = [];
  const problems: string[] = [];
  for (const entry of index.data.manifests) {
    const platform: Platform = {
      os: entry.platform.os,
      architecture: entry.platform.architecture,
      ...(entry.platform.variant !== undefined && { variant: entry.platform.variant }),
    };
    const manifest = VariantImageManifest.safeParse(
      (await registry.getManifestDocument(at(entry.digest), signal)).json,
    );
    if (!manifest.success) {
      problems.push(`its manifest ${entry.digest} is not an image manifest`);
      continue;
    }
    const configBytes = await registry.getBlob(at(entry.digest), manifest.data.config, signal);
    const config = VariantImageConfig.safeParse(
      parseJson(configBytes, `config ${manifest.data.config.digest}`),
    );
    if (!config.success) {
      problems.push(`the config of ${entry.digest} is not an image config with rootfs.diff_ids`);
      continue;
    }
    images.push({ platform, manifest: manifest.data, config: config.data });
  }
  problems.push(...checkVariant(artifact, index.data, images));
  return { digest, index: index.data, images, problems };
}
