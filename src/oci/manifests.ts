/**
 * Manifest documents as the registry client reads them (pure): the digest a manifest answer
 * must have, its media type, and which manifest of an index to follow.
 */
import { z } from "zod";
import { DigestMismatchError, RegistryError } from "./errors.js";
import { sha256Digest, verifyBytes } from "./digest.js";
import type { ImageReference } from "./reference.js";
import type { Descriptor, FetchedManifest, IndexSelector } from "./registry-types.js";
import { parseJson } from "./registry-response.js";

const IndexDocument = z.looseObject({
  manifests: z.array(
    z.looseObject({
      mediaType: z.string(),
      digest: z.string(),
      size: z.number().int().nonnegative(),
      artifactType: z.string().optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    }),
  ),
});
const MediaTypeField = z.looseObject({ mediaType: z.string().optional() });

/** The default index choice: the only manifest, or fail and ask for a digest. */
export const onlyManifest: IndexSelector = (entries) => (entries.length === 1 ? entries[0] : undefined);

/**
 * The digest of manifest bytes fetched for `ref`: a digest reference must match them; for a tag
 * they are hashed and a sha256 `Docker-Content-Digest` must agree. Throws DigestMismatchError.
 */
export function manifestDigest(
  ref: ImageReference,
  bytes: Uint8Array,
  announced: string | undefined,
  what: string,
): string {
  let digest: string;
  if (ref.digest !== undefined) {
    verifyBytes(bytes, ref.digest, what);
    digest = ref.digest;
  } else {
    digest = sha256Digest(bytes);
    if (announced !== undefined && announced.startsWith("sha256:") && announced !== digest) {
      throw new DigestMismatchError(what, announced, digest);
    }
  }
  if (
    announced !== undefined &&
    ref.digest !== undefined &&
    announced !== ref.digest &&
    announced.split(":")[0] === ref.digest.split(":")[0]
  ) {
    throw new DigestMismatchError(`${what} (Docker-Content-Digest)`, ref.digest, announced);
  }
  return digest;
}

/** Verified manifest bytes as a FetchedManifest: parsed JSON, media type from the document or the header. */
export function toManifest(
  ref: ImageReference,
  digest: string,
  bytes: Uint8Array,
  contentType: string | undefined,
): FetchedManifest {
  const what = `manifest ${ref.registry}/${ref.repository}@${digest}`;
  const json = parseJson(bytes, what);
  const field = MediaTypeField.safeParse(json);
  const mediaType =
    (field.success ? field.data.mediaType : undefined) ?? contentType?.split(";")[0]?.trim() ?? "";
  return { registry: ref.registry, repository: ref.repository, digest, mediaType, bytes, json };
}

/**
 * The manifest of index `top` to follow, chosen by `select`. Throws InvalidResponse for an index
 * without a valid list, or when none could be chosen (naming the digests to pick from).
 */
export function chooseFromIndex(name: string, top: FetchedManifest, select: IndexSelector): Descriptor {
  const index = IndexDocument.safeParse(top.json);
  if (!index.success)
    throw new RegistryError("InvalidResponse", `index ${name}@${top.digest} has no valid "manifests" list`);
  const chosen = select(index.data.manifests);
  if (chosen === undefined) {
    throw new RegistryError(
      "InvalidResponse",
      `${name}@${top.digest} is an index of ${index.data.manifests.length} manifests and none could be chosen; ` +
        `reference the manifest you want by digest (${index.data.manifests.map((m) => m.digest).join(", ")})`,
    );
  }
  return chosen;
}
