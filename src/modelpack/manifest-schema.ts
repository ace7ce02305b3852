import { z } from "zod";
import { isOciDigest } from "./digest.js";

/**
 * OCI image manifest and descriptor as zod schemas (image-spec v1.1). Generic OCI rules only;
 * the ModelPack rules (artifactType, config media type, annotations) live in manifest.ts so they
 * can be reported as errors or warnings instead of a bare parse failure. Unknown members are
 * stripped, as OCI readers must not fail on them.
 */

/** RFC 6838 media type, the pattern image-spec's own JSON Schema uses. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

export const OciMediaType = z.string().regex(MEDIA_TYPE);

/** `algorithm ":" encoded`; sha256 and sha512 must also have their exact hex length. */
export const OciDigest = z.string().refine(isOciDigest, { params: { code: "digest" } });

/**
 * Annotations. OCI says values MUST be strings, but one bad value should cost a warning
 * (manifest.ts reports it), not the whole manifest: values that are not strings are dropped.
 */
export const OciAnnotations = z
  .record(z.string(), z.unknown())
  .transform((record): Record<string, string> => {
    const strings: Record<string, string> = {};
    for (const [key, value] of Object.entries(record)) {
      // defineProperty: a "__proto__" key must stay a key, not become the prototype.
      if (typeof value === "string") {
        Object.defineProperty(strings, key, { value, enumerable: true, writable: true, configurable: true });
      }
    }
    return strings;
  });

export const OciDescriptor = z.object({
  mediaType: OciMediaType,
  digest: OciDigest,
  /** Bytes of the referenced blob; a non-negative safe integer (2^53-1 is about 9 PB). */
  size: z.int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: OciAnnotations.optional(),
  /** Embedded content, base64. */
  data: z.string().optional(),
  artifactType: OciMediaType.optional(),
});
export type OciDescriptor = z.infer<typeof OciDescriptor>;

export const OciManifest = z.object({
  schemaVersion: z.literal(2),
  /** OCI makes it optional; model-spec requires the image manifest type (checked in manifest.ts). */
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: OciDescriptor,
  layers: z.array(OciDescriptor),
  subject: OciDescriptor.optional(),
  annotations: OciAnnotations.optional(),
});
export type OciManifest = z.infer<typeof OciManifest>;
