import { lstat, mkdir } from "node:fs/promises";
import { isAbsolute, join, posix, relative, resolve, sep } from "node:path";
import { PullError } from "./errors.js";

/**
 * Turns a path from an annotation or a tar header into a normalised relative POSIX path, or
 * throws UnsafePath. Refused: empty, absolute, Windows drive or backslash forms, NUL, and any
 * `..` segment (even one that would stay inside after normalising: the intent is suspicious).
 */
export function safeRelativePath(raw: string, what: string): string {
  const refuse = (why: string): never => {
    throw new PullError(
      "UnsafePath",
      `${what}: path "${raw}" ${why}; refusing to write outside the destination`,
    );
  };
  if (raw === "" || raw === "." || raw === "./") refuse("is empty");
  if (raw.includes("\0")) refuse("contains a NUL byte");
  if (raw.includes("\\")) refuse("contains a backslash");
  if (raw.startsWith("/") || /^[a-zA-Z]:/.test(raw)) refuse("is absolute");
  const segments = raw.split("/");
  if (segments.includes("..")) refuse('contains a ".." segment');
  const normalised = posix.normalize(raw).replace(/\/+$/, "");
  if (normalised === "" || normalised === "." || normalised.startsWith("../"))
    refuse("does not name a file inside the destination");
  return normalised;
}

/**
 * True for the names `tar -C dir .` gives the archive's root folder (`.`, `./`, `././`): that
 * folder is the destination itself, so such a directory entry places nothing.
 */
export const isArchiveRoot = (raw: string): boolean => /^\.(\/+\.)*\/*$/.test(raw);

/** `dest/relPath`, after checking it stays inside `dest` lexically. */
export function destinationPath(dest: string, relPath: string): string {
  const target = resolve(dest, ...relPath.split("/"));
  const rel = relative(resolve(dest), target);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new PullError("UnsafePath", `path "${relPath}" resolves outside the destination ${dest}`);
  }
  return target;
}

/**
 * Creates the parent folders of `dest/relPath` (mode 0755) and refuses if any existing parent
 * is a symlink or not a folder, so a planted link cannot redirect a write out of `dest`.
 * Returns the folders it created, outermost first (to remove them when undoing a pull).
 */
export async function prepareParents(dest: string, relPath: string): Promise<string[]> {
  const parts = relPath.split("/").slice(0, -1);
  const created: string[] = [];
  let current = resolve(dest);
  for (const part of parts) {
    current = join(current, part);
    const stat = await lstat(current).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (stat === undefined) {
      await mkdir(current, { mode: 0o755 });
      created.push(current);
      continue;
    }
    if (stat.isSymbolicLink()) {
      throw new PullError(
        "UnsafePath",
        `path "${relPath}": parent "${relative(dest, current).split(sep).join("/")}" is a symlink; refusing to write through it`,
      );
    }
    if (!stat.isDirectory()) {
      throw new PullError(
        "UnsafePath",
        `path "${relPath}": parent "${relative(dest, current).split(sep).join("/")}" exists and is not a folder`,
      );
    }
  }
  return created;
}
