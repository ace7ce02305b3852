/**
 * Finding the cosign signatures of an artifact in its registry (I/O): Sigstore bundles attached
 * as referrers (cosign v3; the registry's referrers API or its `sha256-<hex>` fallback tag), and
 * cosign v2's simple-signing `sha256-<hex>.sig` tag. Every read is bounded: at most
 * MAX_SIGNATURES signatures, each bundle or payload at most MAX_SIGNATURE_BYTES.
 */
import { z } from "zod";
import type { Descriptor, FetchedManifest, Referrers } from "../oci/client.js";
import type { ImageReference } from "../oci/reference.js";
import type { SignatureSource } from "./decide.js";

/** What finding signatures needs of a registry (`RegistryClient` is the real one). */
export interface SignatureRegistry {
  getReferrers(ref: ImageReference, digest: string, signal?: AbortSignal): Promise<Referrers>;
  getManifest(ref: ImageReference, signal?: AbortSignal): Promise<FetchedManifest>;
  getBlob(ref: ImageReference, descriptor: Descriptor, signal?: AbortSignal): Promise<Uint8Array>;
}

/** Signatures looked at per artifact; more are ignored (a registry could list thousands). */
export const MAX_SIGNATURES = 16;
/** The largest bundle or simple-signing payload read. Real ones are a few KiB. */
export const MAX_SIGNATURE_BYTES = 256 * 1024;

/** The media type prefix of Sigstore bundles (`application/vnd.dev.sigstore.bundle.v0.3+json`). */
const BUNDLE_MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle";
const SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
const ANNOTATION_SIGNATURE = "dev.cosignproject.cosign/signature";
const ANNOTATION_CERTIFICATE = "dev.sigstore.cosign/certificate";
const ANNOTATION_CHAIN = "dev.sigstore.cosign/chain";

/** One signature as found, not yet checked. */
export type FoundSignature =
  | {
      readonly kind: "bundle";
      readonly signatureDigest: string;
      readonly source: SignatureSource;
      /** The bundle document (JSON, unvalidated). */
      readonly bundle: unknown;
    }
  | {
      readonly kind: "legacy";
      readonly signatureDigest: string;
      readonly source: "legacy-tag";
      /** The simple-signing payload the signature covers. */
      readonly payload: Uint8Array;
      /** Base64 signature over `payload`. */
      readonly signature: string;
      /** PEM signing certificate and chain (keyless), when present. */
      readonly certificate?: string;
      readonly chain?: string;
    }
  | {
      readonly kind: "malformed";
      readonly signatureDigest: string;
      readonly source: SignatureSource;
      readonly message: string;
    };

const SignatureManifest = z.looseObject({
  subject: z.looseObject({ digest: z.string() }).optional(),
  layers: z
    .array(
      z.looseObject({
        mediaType: z.string(),
        digest: z.string(),
        size: z.number().int().nonnegative(),
        annotations: z.record(z.string(), z.string()).optional(),
      }),
    )
    .max(1024)
    .default([]),
});

function layersOf(manifest: FetchedManifest): { subject?: string; layers: readonly Descriptor[] } {
  const parsed = SignatureManifest.safeParse(manifest.json);
  if (!parsed.success) return { layers: [] };
  const subject = parsed.data.subject?.digest;
  return { ...(subject !== undefined && { subject }), layers: parsed.data.layers };
}

/**
 * The Sigstore bundles attached to `digest` as referrers, up to MAX_SIGNATURES. A referrer whose
 * manifest does not name `digest` as its subject, or has no bundle layer, is reported malformed.
 * Throws RegistryError when the registry fails.
 */
export async function findBundles(
  registry: SignatureRegistry,
  ref: ImageReference,
  digest: string,
  signal?: AbortSignal,
): Promise<FoundSignature[]> {
  const repo = { registry: ref.registry, repository: ref.repository };
  const referrers = await registry.getReferrers(repo, digest, signal);
  const source: SignatureSource = referrers.via === "api" ? "referrers" : "referrers-tag";
  const bundles = referrers.manifests
    .filter((m) => (m.artifactType ?? "").startsWith(BUNDLE_MEDIA_TYPE_PREFIX))
    .slice(0, MAX_SIGNATURES);
  const found: FoundSignature[] = [];
  for (const entry of bundles) {
    const manifest = await registry.getManifest({ ...repo, digest: entry.digest }, signal);
    const { subject, layers } = layersOf(manifest);
    const malformed = (message: string): FoundSignature => ({
      kind: "malformed",
      signatureDigest: entry.digest,
      source,
      message,
    });
    if (subject !== digest) {
      found.push(malformed(`its manifest's subject is ${subject ?? "absent"}, not ${digest}`));
      continue;
    }
    const layer = layers.find((l) => l.mediaType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX));
    if (layer === undefined || layer.size > MAX_SIGNATURE_BYTES) {
      found.push(
        malformed(
          layer === undefined
            ? "its manifest has no Sigstore bundle layer"
            : `its bundle declares ${layer.size} bytes, over the ${MAX_SIGNATURE_BYTES}-byte limit`,
        ),
      );
      continue;
    }
    const bytes = await registry.getBlob(repo, layer, signal);
    try {
      found.push({
        kind: "bundle",
        signatureDigest: entry.digest,
        source,
        bundle: JSON.parse(Buffer.from(bytes).toString("utf8")) as unknown,
      });
    } catch {
      found.push(malformed("its bundle is not JSON"));
    }
  }
  return found;
}

/**
 * The cosign v2 simple-signing signatures under the `sha256-<hex>.sig` tag (one per layer), up
 * to MAX_SIGNATURES; none when the tag does not exist. Throws RegistryError when the registry fails.
 */
export async function findLegacySignatures(
  registry: SignatureRegistry,
  ref: ImageReference,
  digest: string,
  signal?: AbortSignal,
): Promise<FoundSignature[]> {
  const repo = { registry: ref.registry, repository: ref.repository };
  let manifest: FetchedManifest;
  try {
    manifest = await registry.getManifest({ ...repo, tag: `${digest.replace(":", "-")}.sig` }, signal);
  } catch (err) {
    if (err instanceof Error && "code" in err && err.code === "NotFound") return [];
    throw err;
  }
  const found: FoundSignature[] = [];
  for (const layer of layersOf(manifest).layers.slice(0, MAX_SIGNATURES)) {
    const signature = layer.annotations?.[ANNOTATION_SIGNATURE];
    if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE || signature === undefined) continue;
    if (layer.size > MAX_SIGNATURE_BYTES) {
      found.push({
        kind: "malformed",
        signatureDigest: layer.digest,
        source: "legacy-tag",
        message: `its payload declares ${layer.size} bytes, over the ${MAX_SIGNATURE_BYTES}-byte limit`,
      });
      continue;
    }
    const payload = await registry.getBlob(repo, layer, signal);
    const certificate = layer.annotations?.[ANNOTATION_CERTIFICATE];
    const chain = layer.annotations?.[ANNOTATION_CHAIN];
    found.push({
      kind: "legacy",
      signatureDigest: layer.digest,
      source: "legacy-tag",
      payload,
      signature,
      ...(certificate !== undefined && certificate !== "" && { certificate }),
      ...(chain !== undefined && chain !== "" && { chain }),
    });
  }
  return found;
}
