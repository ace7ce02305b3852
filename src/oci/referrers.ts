/**
 * OCI 1.1 referrers (pure): the fallback tag a registry without the referrers API uses, and the
 * index either answer carries, parsed into descriptors.
 */
import { z } from "zod";
import { RegistryError } from "./errors.js";
import { parseJson } from "./registry-response.js";
import type { Descriptor } from "./registry-types.js";

/** The largest referrers answer read (an index of descriptors: thousands of entries fit). */
export const MAX_REFERRERS_BYTES = 1024 * 1024;

/** The manifests that refer to a digest, and whether the registry's API or the fallback tag said so. */
export interface Referrers {
  readonly manifests: readonly Descriptor[];
  readonly via: "api" | "tag";
}

const ReferrersIndex = z.looseObject({
  manifests: z
    .array(
      z.looseObject({
        mediaType: z.string(),
        digest: z.string().regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/),
        size: z.number().int().nonnegative(),
        artifactType: z.string().optional(),
        annotations: z.record(z.string(), z.string()).optional(),
      }),
    )
    .default([]),
});

/** The referrers tag schema's tag for a digest: `sha256:abc…` → `sha256-abc…` (OCI distribution 1.1). */
export function referrersTag(digest: string): string {
  return digest.replace(":", "-");
}

/** Parses a referrers index (API answer or fallback tag); throws InvalidResponse naming `what`. */
export function parseReferrers(bytes: Uint8Array, what: string): Descriptor[] {
  const parsed = ReferrersIndex.safeParse(parseJson(bytes, what));
  if (!parsed.success) throw new RegistryError("InvalidResponse", `${what} is not an OCI image index`);
  return parsed.data.manifests.map((m) => ({
    mediaType: m.mediaType,
    digest: m.digest,
    size: m.size,
    ...(m.artifactType !== undefined && { artifactType: m.artifactType }),
    ...(m.annotations !== undefined && { annotations: m.annotations }),
  }));
}
