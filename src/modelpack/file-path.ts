import { ANNOTATION_FILEPATH, ANNOTATION_TITLE, LEGACY_ANNOTATION_FILEPATH } from "./media-types.js";

/** The part of a descriptor these helpers read. */
export interface Annotated {
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

/**
 * The file path a layer unpacks to: `org.cncf.model.filepath`, else the legacy
 * `org.cnai.model.filepath`, else `org.opencontainers.image.title` (what ORAS and CRI-O use).
 * An empty value counts as absent. The result is NOT sanitised: check isSafeRelativePath before
 * joining it to a directory.
 */
export function layerFilePath(descriptor: Annotated): string | undefined {
  const annotations = descriptor.annotations;
  if (annotations === undefined) return undefined;
  for (const key of [ANNOTATION_FILEPATH, LEGACY_ANNOTATION_FILEPATH, ANNOTATION_TITLE]) {
    const value = Object.hasOwn(annotations, key) ? annotations[key] : undefined;
    if (value !== undefined && value !== "") return value;
  }
  return undefined;
}

/**
 * Whether `p` is a canonical relative POSIX path that cannot leave the directory it is joined to:
 * not empty, not absolute, no `..` or `.` segment, no empty segment (`a//b`, trailing `/`), no
 * backslash (a separator on Windows, an escape elsewhere) and no NUL. `.` segments are refused
 * too, so equal files have equal paths and duplicate detection stays sound.
 */
export function isSafeRelativePath(p: string): boolean {
  return explainUnsafePath(p) === undefined;
}

/** Why `p` is not a safe relative path, as one clause for a message; undefined when it is safe. */
export function explainUnsafePath(p: string): string | undefined {
  if (p === "") return "the path is empty";
  if (p.includes("\0")) return "the path contains a NUL character";
  if (p.includes("\\")) return "the path contains a backslash; use / as the separator";
  if (p.startsWith("/")) return "the path is absolute; it must be relative to the model directory";
  for (const segment of p.split("/")) {
    if (segment === "") return "the path has an empty segment (a doubled or trailing /)";
    if (segment === "..") return "the path has a .. segment that would leave the model directory";
    if (segment === ".") return "the path has a . segment; write it without ./";
  }
  return undefined;
}
