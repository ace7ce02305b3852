/**
 * Helpers for the tests that hold the image against the Dockerfile: the Dockerfile parsed into
 * instructions and stages, its `rootfs` stage's RUN script made runnable on this machine, and
 * layer blobs read back as tar entries or extracted into a folder.
 */
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";
import { ok, read, ROOT } from "./support.js";

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

/** Instructions with continuation lines joined and comments dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  let start = 0;
  text.split("\n").forEach((raw, index) => {
    const line = raw.trimEnd();
    if (pending === "" && (line.trim() === "" || line.trimStart().startsWith("#"))) return;
    if (pending !== "" && line.trimStart().startsWith("#")) return;
    if (pending === "") start = index + 1;
    pending += (pending === "" ? "" : " ") + line.replace(/\\$/, "").trim();
    if (!line.endsWith("\\")) {
      const match = /^(\S+)\s*(.*)$/.exec(pending);
      out.push({ keyword: (match?.[1] ?? "").toUpperCase(), args: match?.[2] ?? "", line: start });
      pending = "";
    }
  });
  return out;
}

/** The Dockerfile's instructions, split into stages (each starts with its FROM). */
export function dockerfileStages(text = read(join(ROOT, "Dockerfile"))): Instruction[][] {
  const stages: Instruction[][] = [];
  for (const instruction of parseDockerfile(text)) {
    if (instruction.keyword === "FROM") stages.push([]);
    stages.at(-1)?.push(instruction);
  }
  return stages;
}

/**
 * The Dockerfile's `rootfs` stage RUN script, writing to `rootfs` and copying `node` instead of
 * the base image's, under umask 022 (as a Docker build runs it). Not root: `chown` is left out
 * (only root may give a folder to 65532).
 */
export function rootfsScript(rootfs: string, node: string, asRoot: boolean): string {
  const stage = /^FROM \S+ AS rootfs\n([\s\S]*?)\n\n/m.exec(read(join(ROOT, "Dockerfile")))?.[1] ?? "";
  const script = /^RUN ([\s\S]*)$/m.exec(stage)?.[1]?.replace(/\\\n/g, "\n") ?? "";
  if (!script.includes("ldd /usr/local/bin/node"))
    throw new Error("the Dockerfile's rootfs stage changed; update test/shipping/image-support.ts");
  const runnable = script
    .replace("cp /usr/local/bin/node ", `cp ${node} `)
    .replace("ldd /usr/local/bin/node", `ldd ${node}`)
    .replaceAll("/rootfs", rootfs);
  return `umask 022; ${asRoot ? runnable : runnable.replace(/chown [^;]*;/, "")}`;
}

/** One entry of a layer, as tar lists it (directories without the trailing slash). */
export interface LayerEntry {
  readonly path: string;
  readonly type: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly linkname?: string;
  readonly mtime: number;
}

/** The entries of a gzip tar layer blob, in archive order. */
export async function layerEntries(blob: string): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [];
  const reader = extract();
  reader.on("entry", (header, stream, next) => {
    entries.push({
      path: header.name.replace(/\/$/, ""),
      type: header.type ?? "file",
      mode: header.mode ?? 0,
      uid: header.uid ?? 0,
      gid: header.gid ?? 0,
      size: header.size ?? 0,
      ...(header.linkname !== undefined && header.linkname !== null && { linkname: header.linkname }),
      mtime: header.mtime?.getTime() ?? -1,
    });
    stream.on("end", () => next());
    stream.resume();
  });
  await pipeline(createReadStream(blob), createGunzip(), reader);
  return entries;
}

/** Extracts gzip tar layers in order into `dir` (as root: with their owners and modes). */
export async function extractLayers(blobs: readonly string[], dir: string): Promise<void> {
  for (const blob of blobs) await ok("tar", ["-xzpf", blob, "--numeric-owner", "-C", dir]);
}
