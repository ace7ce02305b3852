import { z } from "zod";
import { isStrictDateTime } from "./date-time.js";
import { describeValue, formatPath, isJsonObject } from "./issues.js";
import { parseJson } from "./json.js";
import {
  ANNOTATION_FILE_METADATA,
  LEGACY_ANNOTATION_FILE_METADATA,
  LEGACY_ANNOTATION_FILE_METADATA_V004,
} from "./media-types.js";
import type { Annotated } from "./file-path.js";

const Uint32 = z.int().min(0).max(0xffff_ffff);

/**
 * The `org.cncf.model.file.metadata+json` annotation value (model-spec `FileMetadata`): the
 * original file's attributes. Every key is required, because the Go struct has no `omitempty`
 * and every known producer writes them all; unknown keys (AIKit adds `files`) are ignored.
 */
export const FileMetadata = z.object({
  /** File base name. */
  name: z.string(),
  /** Unix permission bits, decimal (420 = 0644). */
  mode: Uint32,
  uid: Uint32,
  gid: Uint32,
  /** Bytes of the original file, not of the layer blob. */
  size: z.int(),
  /** RFC 3339 time, as Go marshals `time.Time`. */
  mtime: z.string().refine(isStrictDateTime, { message: "not an RFC 3339 date-time" }),
  /** tar type flag as a number: modctl writes 0 for a regular file, tar's own code is 48 ('0'). */
  typeflag: z.int().min(0).max(255),
});
export type FileMetadata = z.infer<typeof FileMetadata>;

/** Annotation keys that may hold FileMetadata, current first. */
export const FILE_METADATA_KEYS: readonly string[] = [
  ANNOTATION_FILE_METADATA,
  LEGACY_ANNOTATION_FILE_METADATA,
  LEGACY_ANNOTATION_FILE_METADATA_V004,
];

/** Outcome of reading a FileMetadata annotation value. */
export type FileMetadataResult =
  { readonly ok: true; readonly metadata: FileMetadata } | { readonly ok: false; readonly reason: string };

/**
 * Parses FileMetadata from an annotation value (a JSON string) or, given a descriptor's whole
 * annotations, from its metadata key (current `org.cncf` first, then the legacy keys). Returns
 * undefined when absent or not a JSON object with the typed keys; inspectFileMetadata says why.
 */
export function parseFileMetadata(
  source: string | Readonly<Record<string, string>> | undefined,
): FileMetadata | undefined {
  const value = typeof source === "string" ? source : fileMetadataAnnotation({ annotations: source })?.value;
  if (value === undefined) return undefined;
  const result = inspectFileMetadata(value);
  return result.ok ? result.metadata : undefined;
}

/** Like parseFileMetadata, but says what is wrong (one clause for a message). */
export function inspectFileMetadata(annotationValue: string): FileMetadataResult {
  const parsed = parseJson(annotationValue);
  if (!parsed.ok) return { ok: false, reason: `it is not valid JSON: ${parsed.error.message}` };
  const value = parsed.value;
  if (!isJsonObject(value)) return { ok: false, reason: `it is ${describeValue(value)}, not a JSON object` };
  const result = FileMetadata.safeParse(value);
  if (result.success) return { ok: true, metadata: result.data };
  const problems = result.error.issues.map((issue) => {
    const field = formatPath(issue.path);
    const expected = EXPECTED.get(field) ?? "valid";
    if (!Object.hasOwn(value, field)) return `${field} is missing (it must be ${expected})`;
    return `${field} is ${describeValue(value[field])} (it must be ${expected})`;
  });
  return { ok: false, reason: problems.join("; ") };
}

const EXPECTED: ReadonlyMap<string, string> = new Map([
  ["name", "a string"],
  ["mode", "an integer from 0 to 4294967295"],
  ["uid", "an integer from 0 to 4294967295"],
  ["gid", "an integer from 0 to 4294967295"],
  ["size", "an integer"],
  ["mtime", 'an RFC 3339 date-time such as "2025-04-01T12:00:00.123456789+08:00"'],
  ["typeflag", "an integer from 0 to 255"],
]);

/** The metadata annotation of a descriptor: the current key, else a legacy one. */
export function fileMetadataAnnotation(descriptor: Annotated): { key: string; value: string } | undefined {
  const annotations = descriptor.annotations;
  if (annotations === undefined) return undefined;
  for (const key of FILE_METADATA_KEYS) {
    const value = Object.hasOwn(annotations, key) ? annotations[key] : undefined;
    if (value !== undefined) return { key, value };
  }
  return undefined;
}

/** Whether a typeflag means a regular file: 0 (what modctl writes) or 48 (tar's '0'). */
export function isRegularFileTypeflag(typeflag: number): boolean {
  return typeflag === 0 || typeflag === 48;
}
