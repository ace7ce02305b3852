/**
 * The image's file system as lists of entries (one list per layer), built the way the Dockerfile's
 * stages build it: the `rootfs` stage (node and the shared libraries `ldd` lists, passwd and group
 * for 65532, /home/nonroot owned by 65532, /tmp 1777, /etc/ssl when the machine has it) and the
 * `build` stage's /app (compiled dist, package.json, production-only node_modules), owned by root.
 * Modes follow what `cp`/`mkdir` give under umask 022; ownership is 0:0 except /home/nonroot.
 */
import { execFile } from "node:child_process";
import { lstat, readdir, readlink, stat } from "node:fs/promises";
import { join, posix } from "node:path";
import { promisify } from "node:util";
import { GROUP, PASSWD, RUNTIME_GID, RUNTIME_UID } from "./runtime.js";

/** One tar entry. `path` is relative to the image root, without a leading or trailing slash. */
export type TreeEntry =
  | {
      readonly type: "directory";
      readonly path: string;
      readonly mode: number;
      readonly uid: number;
      readonly gid: number;
    }
  | {
      readonly type: "file";
      readonly path: string;
      readonly mode: number;
      readonly uid: number;
      readonly gid: number;
      readonly size: number;
      readonly source: string | Buffer;
    }
  | {
      readonly type: "symlink";
      readonly path: string;
      readonly mode: number;
      readonly uid: number;
      readonly gid: number;
      readonly target: string;
    };

const UMASK = 0o022;
const dir = (path: string, mode = 0o755, uid = 0, gid = 0): TreeEntry => ({
  type: "directory",
  path,
  mode,
  uid,
  gid,
});
const text = (path: string, content: string): TreeEntry => ({
  type: "file",
  path,
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: Buffer.byteLength(content),
  source: Buffer.from(content),
});

/**
 * The shared libraries `ldd` lists for `binary`, as the Dockerfile's awk picks them: the third
 * field of every `=>` line and the first of the dynamic loader's line. Pure.
 */
export function lddLibraries(output: string): string[] {
  const libraries: string[] = [];
  for (const line of output.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (line.includes("=>") && fields[2]?.startsWith("/") === true) libraries.push(fields[2]);
    if (/ld-linux/.test(line) && fields[0]?.startsWith("/") === true) libraries.push(fields[0]);
  }
  return [...new Set(libraries)];
}

/** Every parent folder of `paths` (relative), as 0755 root directories. */
function parents(paths: readonly string[]): TreeEntry[] {
  const dirs = new Set<string>();
  for (const path of paths)
    for (let parent = posix.dirname(path); parent !== "." && parent !== ""; parent = posix.dirname(parent))
      dirs.add(parent);
  return [...dirs].map((path) => dir(path));
}

/** Sorted by path (byte order: a parent always precedes its children), the last of duplicates winning. */
export function sortEntries(entries: readonly TreeEntry[]): TreeEntry[] {
  const byPath = new Map<string, TreeEntry>();
  for (const entry of entries) byPath.set(entry.path, entry);
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * A host folder copied to `at` as `cp -r` does (symlinks kept, modes under umask 022, owner root),
 * or, with `dereference`, as `cp -rL` (symlinks followed). `skip` drops entries by their image path.
 * An unreadable subfolder (/etc/ssl/private for a non-root user) is kept empty.
 */
export async function copiedTree(
  host: string,
  at: string,
  options: { dereference?: boolean; skip?: (path: string) => boolean } = {},
): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const walk = async (from: string, to: string): Promise<void> => {
    const info = options.dereference === true ? await stat(from) : await lstat(from);
    if (options.skip?.(to) === true) return;
    const mode = info.mode & 0o777 & ~UMASK;
    if (info.isSymbolicLink()) {
      out.push({ type: "symlink", path: to, mode: 0o777, uid: 0, gid: 0, target: await readlink(from) });
    } else if (info.isDirectory()) {
      out.push(dir(to, mode));
      const names = await readdir(from).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "EACCES") return [];
        throw err;
      });
      for (const name of names) await walk(join(from, name), posix.join(to, name));
    } else if (info.isFile()) {
      out.push({ type: "file", path: to, mode, uid: 0, gid: 0, size: info.size, source: from });
    }
  };
  await walk(host, at);
  return out;
}

/**
 * The `rootfs` stage: /usr/local/bin/node (from `node`), its libraries, passwd/group, /etc/ssl
 * (`ssl`, when present), /home/nonroot (65532), /tmp (1777) and an empty /app. Runs `ldd`.
 */
export async function baseTree(node: string, ssl: string | undefined): Promise<TreeEntry[]> {
  const { stdout } = await promisify(execFile)("ldd", [node]).catch((err: Error) => {
    throw new Error(
      `ldd ${node} failed (${err.message}); the image builder needs glibc's ldd to find node's libraries`,
    );
  });
  const libraries = lddLibraries(stdout);
  if (libraries.length === 0)
    throw new Error(`ldd ${node} listed no libraries; is it a dynamically linked node binary?`);
  const files: TreeEntry[] = [];
  const copy = async (from: string, to: string) => {
    const info = await stat(from);
    files.push({
      type: "file",
      path: to,
      mode: info.mode & 0o777 & ~UMASK,
      uid: 0,
      gid: 0,
      size: info.size,
      source: from,
    });
  };
  await copy(node, "usr/local/bin/node");
  for (const library of libraries) await copy(library, library.slice(1));
  const ssls = ssl === undefined ? [] : await copiedTree(ssl, "etc/ssl").catch(() => []);
  return sortEntries([
    ...parents(files.map((f) => f.path)),
    dir("etc"),
    dir("tmp", 0o1777),
    dir("app"),
    dir("home"),
    dir("home/nonroot", 0o755, RUNTIME_UID, RUNTIME_GID),
    ...files,
    ...ssls,
    text("etc/passwd", PASSWD),
    text("etc/group", GROUP),
  ]);
}

/** The `build` stage's /app/node_modules: the production packages, symlinks followed (`cp -r` of a real tree). */
export async function dependenciesTree(
  nodeModules: string,
  packages: readonly string[],
): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [dir("app"), dir("app/node_modules")];
  for (const name of packages) {
    entries.push(...parents([`app/node_modules/${name}`]));
    entries.push(
      ...(await copiedTree(join(nodeModules, name), `app/node_modules/${name}`, { dereference: true })),
    );
  }
  return sortEntries(entries);
}

/**
 * The `build` stage's /app/dist and /app/package.json: `dist` as tsc wrote it, without what the
 * Dockerfile deletes (`*.test.*` files, dist/test, dist/scripts, dist/bench).
 */
export async function appTree(dist: string, packageJson: string): Promise<TreeEntry[]> {
  const removed = new Set(["app/dist/test", "app/dist/scripts", "app/dist/bench"]);
  const tree = await copiedTree(dist, "app/dist", {
    skip: (path) => removed.has(path) || posix.basename(path).includes(".test."),
  });
  const info = await stat(packageJson);
  return sortEntries([
    dir("app"),
    ...tree,
    {
      type: "file",
      path: "app/package.json",
      mode: info.mode & 0o777 & ~UMASK,
      uid: 0,
      gid: 0,
      size: info.size,
      source: packageJson,
    },
  ]);
}
