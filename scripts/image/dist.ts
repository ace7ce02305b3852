/**
 * The `build` stage's `npm run build` (tsc -p tsconfig.build.json), cached: the output folder is
 * keyed by a hash of everything tsc reads for it (every file under src/, both tsconfig files and
 * the lockfile, which pins TypeScript and the types), so a warm build skips the compiler.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { prune, touch } from "./cache.js";

/** Compiled trees kept in the cache. */
const KEEP_DIST = 3;

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** The cache key of the compiled output of `root` (hex sha256 of the inputs' paths and bytes). */
export async function distKey(root: string): Promise<string> {
  const files = [
    ...(await filesUnder(join(root, "src"))),
    join(root, "tsconfig.json"),
    join(root, "tsconfig.build.json"),
    join(root, "package-lock.json"),
  ]
    .map((path) => relative(root, path))
    .sort();
  const hash = createHash("sha256");
  for (const file of files) {
    const bytes = await readFile(join(root, file));
    hash.update(`${file}\0${bytes.length}\0`).update(bytes);
  }
  return hash.digest("hex");
}

/**
 * The folder tsc -p tsconfig.build.json writes for `root` (holding `src/…`), compiled now or
 * taken from `cacheDir/dist`. Throws with the compiler's output when it fails.
 */
export async function compiledDist(
  root: string,
  cacheDir: string,
  log: (line: string) => void,
): Promise<string> {
  const dir = join(cacheDir, "dist");
  await mkdir(dir, { recursive: true });
  const key = (await distKey(root)).slice(0, 32);
  const out = join(dir, key);
  if (await touch(out)) return out;
  log("image: compiling src with tsconfig.build.json (cached by content afterwards)");
  const temp = `${out}.${process.pid}.tmp`;
  await rm(temp, { recursive: true, force: true });
  try {
    await promisify(execFile)(
      process.execPath,
      [
        join(root, "node_modules", "typescript", "bin", "tsc"),
        "-p",
        join(root, "tsconfig.build.json"),
        "--outDir",
        temp,
      ],
      { cwd: root, maxBuffer: 16 * 1024 * 1024 },
    ).catch((err: Error & { stdout?: string }) => {
      throw new Error(`tsc -p tsconfig.build.json failed:\n${err.stdout ?? err.message}`);
    });
    await rename(temp, out).catch(async (err: NodeJS.ErrnoException) => {
      // Another builder finished the same key first: its output is the same.
      if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
    });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  await prune(dir, KEEP_DIST);
  return out;
}
