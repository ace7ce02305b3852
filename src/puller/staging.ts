import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, lstat, mkdir, readdir, readlink, rename, rm, rmdir, symlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PullError } from "./errors.js";
import { destinationPath, prepareParents } from "./paths.js";
import type { TreeNode } from "./tree.js";

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

/**
 * Writes a stream to a private (0600) staging file and returns its size and sha256. `onChunk`
 * sees each chunk before it is written and may throw to stop (a size limit).
 */
export async function stageStream(
  source: Readable | AsyncIterable<Uint8Array>,
  staged: string,
  onChunk?: (bytes: number) => void,
): Promise<{ size: number; sha256: string }> {
  const file = createWriteStream(staged, { mode: 0o600, highWaterMark: 1024 * 1024 });
  const hash = createHash("sha256");
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        onChunk?.(chunk.byteLength);
      } catch (err) {
        callback(err as Error);
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  await pipeline(source, hashing, file);
  return { size: file.bytesWritten, sha256: `sha256:${hash.digest("hex")}` };
}

/** What placing did, so a failure later in the same pull can undo it. */
export interface Placement {
  /** Undoes every step, newest first: the destination is as it was before placing. */
  rollback(): Promise<void>;
}

const missing = (err: NodeJS.ErrnoException): undefined => {
  if (err.code === "ENOENT") return undefined;
  throw err;
};

/**
 * Moves verified entries into `dest`, all or nothing. Files are renamed (atomic on one
 * filesystem), so a reader sees either nothing or the whole verified file; a file or symlink it
 * replaces is first moved into `backupDir` (same filesystem). If any step fails, every step
 * before it is undone (placed entries removed, replaced ones moved back, created folders removed)
 * and the error is thrown. The entries must have passed planPlacement.
 */
export async function placeEntries(
  dest: string,
  entries: readonly { readonly entry: StagedEntry; readonly what: string }[],
  backupDir: string,
  options: { worldReadable?: boolean } = {},
): Promise<Placement> {
  const fileBits = options.worldReadable === true ? 0o444 : 0;
  const folderBits = options.worldReadable === true ? 0o555 : 0;
  const undo: (() => Promise<unknown>)[] = [];
  const rollback = async (): Promise<void> => {
    for (const step of undo.reverse()) await step().catch(() => undefined);
    undo.length = 0;
  };
  let backups = 0;
  try {
    for (const { entry, what } of entries) {
      const target = destinationPath(dest, entry.path);
      for (const folder of await prepareParents(dest, entry.path)) undo.push(() => rmdir(folder));
      const existing = await lstat(target).catch(missing);
      if (entry.type === "directory") {
        if (existing?.isSymbolicLink())
          throw new PullError(
            "UnsafePath",
            `${what}: folder "${entry.path}" exists as a symlink; refusing to use it`,
          );
        if (existing !== undefined && !existing.isDirectory())
          throw new PullError("Conflict", `${what}: folder "${entry.path}" exists and is not a folder`);
        if (existing === undefined) {
          const mode = permissionBits(entry.mode, 0o755) | 0o700 | folderBits;
          await mkdir(target, { mode });
          undo.push(() => rmdir(target));
          if (folderBits !== 0) await chmod(target, mode); // exact, whatever the umask
        }
        continue;
      }
      if (existing?.isDirectory())
        throw new PullError(
          "Conflict",
          `${what}: "${entry.path}" exists in the destination as a folder; remove it or pull into an empty folder`,
        );
      if (existing !== undefined) {
        const backup = join(backupDir, `${backups++}`);
        await rename(target, backup);
        undo.push(() => rename(backup, target));
      }
      if (entry.type === "symlink") {
        await symlink(entry.target, target);
        undo.push(() => rm(target, { force: true }));
        continue;
      }
      await rename(entry.staged, target);
      undo.push(() => rm(target, { force: true }));
      await chmod(target, permissionBits(entry.mode, 0o644) | fileBits);
      if (entry.mtime !== undefined && !Number.isNaN(entry.mtime.getTime()))
        await utimes(target, entry.mtime, entry.mtime);
    }
  } catch (err) {
    await rollback();
    throw err;
  }
  return { rollback };
}

/** Prefix of the per-pull staging folders inside the destination. */
export const STAGING_PREFIX = ".modelpack-partial-";

/**
 * Where raw layers download inside the destination, kept across pulls so that an interrupted
 * one (killed, or failed on the network) resumes: each partial file with its record of the
 * ranges written (ranged-download.ts). Removed when a pull succeeds or fails for another reason.
 */
export const PARTIAL_BLOBS_DIR = `${STAGING_PREFIX}blobs`;

/**
 * A per-pull private folder inside `dest` (same filesystem, so placing is a rename), named with
 * 96 random bits: two pulls never share one, whatever their pid or start time.
 */
export async function createStagingDir(dest: string): Promise<string> {
  const dir = join(dest, `${STAGING_PREFIX}${randomBytes(12).toString("hex")}`);
  await mkdir(dir, { mode: 0o700 });
  return dir;
}

/**
 * Removes staging folders a killed pull left in `dest` (they only cost space), except the
 * partial blobs a new pull resumes from. Call it while holding the destination's lock: then no
 * other pull is using them.
 */
export async function removeStaleStaging(dest: string): Promise<void> {
  const names = await readdir(dest).catch(missing);
  for (const name of names ?? [])
    if (name.startsWith(STAGING_PREFIX) && name !== PARTIAL_BLOBS_DIR)
      await rm(join(dest, name), { recursive: true, force: true });
}

/**
 * What `dest` holds now, as planPlacement's view: every path (relative, POSIX) under it without
 * following symlinks, except the staging folders. Refuses a destination of more than
 * `maxEntries` entries (the scan is held in memory).
 */
export async function scanDestination(dest: string, maxEntries: number): Promise<Map<string, TreeNode>> {
  const view = new Map<string, TreeNode>();
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(missing);
    for (const entry of entries ?? []) {
      if (prefix === "" && entry.name.startsWith(STAGING_PREFIX)) continue;
      const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      if (view.size >= maxEntries)
        throw new PullError(
          "LimitExceeded",
          `destination ${dest} already holds more than ${maxEntries} entries; pull into an empty folder (or raise --max-entries)`,
        );
      const full = join(dir, entry.name);
      if (entry.isSymbolicLink()) view.set(path, { type: "symlink", target: await readlink(full) });
      else if (entry.isDirectory()) {
        view.set(path, { type: "directory" });
        await walk(full, path);
      } else view.set(path, { type: "file" });
    }
  };
  await walk(dest, "");
  return view;
}
