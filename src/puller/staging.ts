import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, lstat, mkdir, rename, rm, symlink, utimes } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PullError } from "./errors.js";
import { destinationPath, prepareParents } from "./paths.js";

/** One thing a layer puts in the destination, staged until the layer's digest is verified. */
export type StagedEntry =
  | {
      readonly type: "file";
      readonly path: string;
      readonly staged: string;
      readonly mode: number;
      readonly mtime?: Date;
      readonly size: number;
      /** `sha256:<hex>` of the content. */
      readonly sha256: string;
    }
  | { readonly type: "directory"; readonly path: string; readonly mode: number }
  | { readonly type: "symlink"; readonly path: string; readonly target: string };

/** Only permission bits are kept: no setuid/setgid/sticky from untrusted metadata. */
export const permissionBits = (mode: number | undefined, fallback: number): number =>
  mode === undefined || mode === 0 ? fallback : mode & 0o777;

/** Writes a stream to a private (0600) staging file and returns its size and sha256. */
export async function stageStream(
  source: Readable | AsyncIterable<Uint8Array>,
  staged: string,
): Promise<{ size: number; sha256: string }> {
  const file = createWriteStream(staged, { mode: 0o600, highWaterMark: 1024 * 1024 });
  const hash = createHash("sha256");
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  await pipeline(source, hashing, file);
  return { size: file.bytesWritten, sha256: `sha256:${hash.digest("hex")}` };
}

/**
 * Moves verified entries into `dest`. Files are renamed (atomic on one filesystem), so a reader
 * sees either nothing or the whole verified file. Symlinks must stay inside `dest`.
 */
export async function placeEntries(
  dest: string,
  entries: readonly StagedEntry[],
  what: string,
  options: { worldReadable?: boolean } = {},
): Promise<void> {
  const fileBits = options.worldReadable === true ? 0o444 : 0;
  const folderBits = options.worldReadable === true ? 0o555 : 0;
  for (const entry of entries) {
    const target = destinationPath(dest, entry.path);
    await prepareParents(dest, entry.path);
    if (entry.type === "directory") {
      const existing = await lstat(target).catch(() => undefined);
      if (existing?.isSymbolicLink())
        throw new PullError(
          "UnsafePath",
          `${what}: folder "${entry.path}" exists as a symlink; refusing to use it`,
        );
      if (existing === undefined) {
        const mode = permissionBits(entry.mode, 0o755) | 0o700 | folderBits;
        await mkdir(target, { mode });
        if (folderBits !== 0) await chmod(target, mode); // exact, whatever the umask
      }
      continue;
    }
    if (entry.type === "symlink") {
      const resolved = resolve(dirname(target), entry.target);
      const rel = relative(resolve(dest), resolved);
      if (entry.target.startsWith("/") || rel.startsWith("..") || rel === "") {
        throw new PullError(
          "UnsafePath",
          `${what}: symlink "${entry.path}" points to "${entry.target}", outside the destination; refusing it`,
        );
      }
      await rm(target, { force: true });
      await symlink(entry.target, target);
      continue;
    }
    await rename(entry.staged, target);
    await chmod(target, permissionBits(entry.mode, 0o644) | fileBits);
    if (entry.mtime !== undefined && !Number.isNaN(entry.mtime.getTime()))
      await utimes(target, entry.mtime, entry.mtime);
  }
}

/** A per-pull private folder inside `dest` (same filesystem, so placing is a rename). */
export async function createStagingDir(dest: string): Promise<string> {
  const dir = join(dest, `.modelpack-partial-${process.pid}-${Date.now().toString(36)}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}
