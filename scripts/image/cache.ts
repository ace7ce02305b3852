/**
 * The image builder's cache, outside git beside the Go tools build-tools.sh caches:
 * `${MODELPACK_TOOLS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/modelpack-operator}/image`, holding
 * compiled `dist/` trees (keyed by a hash of what tsc reads) and gzip layer blobs (keyed by the
 * layer's diff ID). Entries are content-keyed, written atomically (rename), and bounded: `prune`
 * keeps the most recently used few.
 */
import { readdir, rm, stat, utimes } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

/** The cache folder for an environment (MODELPACK_TOOLS_CACHE, XDG_CACHE_HOME, HOME). */
export function imageCacheDir(env: NodeJS.ProcessEnv): string {
  const root =
    env.MODELPACK_TOOLS_CACHE !== undefined && env.MODELPACK_TOOLS_CACHE !== ""
      ? env.MODELPACK_TOOLS_CACHE
      : join(
          env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== ""
            ? env.XDG_CACHE_HOME
            : join(homedir(), ".cache"),
          "modelpack-operator",
        );
  return join(root, "image");
}

/** Marks a cache entry as used now; false when it does not exist. */
export async function touch(path: string): Promise<boolean> {
  const now = new Date();
  return utimes(path, now, now).then(
    () => true,
    () => false,
  );
}

/**
 * Keeps the `keep` most recently used entries of `dir` whose names `group` maps to the same key
 * (files of one entry share a key), removing the rest; `.tmp` leftovers older than an hour go too.
 */
export async function prune(
  dir: string,
  keep: number,
  group: (name: string) => string = (n) => n,
): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const used = new Map<string, { at: number; names: string[] }>();
  for (const name of names) {
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info === undefined) continue;
    if (name.endsWith(".tmp")) {
      if (Date.now() - info.mtimeMs > 3_600_000) await rm(join(dir, name), { recursive: true, force: true });
      continue;
    }
    const key = group(name);
    const entry = used.get(key) ?? { at: 0, names: [] };
    entry.at = Math.max(entry.at, info.mtimeMs);
    entry.names.push(name);
    used.set(key, entry);
  }
  const old = [...used.values()].sort((a, b) => b.at - a.at).slice(keep);
  for (const entry of old)
    for (const name of entry.names) await rm(join(dir, name), { recursive: true, force: true });
}
