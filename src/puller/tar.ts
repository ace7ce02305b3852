import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createZstdDecompress } from "node:zlib";
import { extract, type Header } from "tar-stream";
import { PullError } from "./errors.js";
import { safeRelativePath } from "./paths.js";
import { stageStream, type StagedEntry } from "./staging.js";

export type TarEncoding = "tar" | "tar+gzip" | "tar+zstd";

/**
 * Reads a tar layer (optionally gzip or zstd compressed) into staging files, one per regular
 * file entry, and returns what to place once the layer's digest is verified. PAX headers and
 * base-256 sizes (files over 8 GiB) are understood by tar-stream. Refused: unsafe names,
 * hard links, device files and FIFOs. The whole source is consumed, so its verification runs.
 */
export async function stageTarLayer(
  source: Readable,
  encoding: TarEncoding,
  stagingDir: string,
  what: string,
): Promise<StagedEntry[]> {
  const entries: StagedEntry[] = [];
  const tar = extract();
  const decompress =
    encoding === "tar+gzip" ? createGunzip() : encoding === "tar+zstd" ? createZstdDecompress() : undefined;
  const feeding = decompress === undefined ? pipeline(source, tar) : pipeline(source, decompress, tar);
  let counter = 0;
  try {
    for await (const entry of tar) {
      const header: Header = entry.header;
      const describe = `${what}, tar entry "${header.name}"`;
      switch (header.type) {
        case "file":
        case "contiguous-file": {
          const path = safeRelativePath(header.name, describe);
          const staged = join(stagingDir, `${counter++}.part`);
          const { size, sha256 } = await stageStream(bytesOf(entry), staged);
          entries.push({ type: "file", path, staged, mode: header.mode, mtime: header.mtime, size, sha256 });
          break;
        }
        case "directory": {
          const path = safeRelativePath(header.name, describe);
          entries.push({ type: "directory", path, mode: header.mode });
          entry.resume();
          break;
        }
        case "symlink": {
          const path = safeRelativePath(header.name, describe);
          entries.push({ type: "symlink", path, target: header.linkname });
          entry.resume();
          break;
        }
        default:
          throw new PullError(
            "UnsupportedEntry",
            `${describe} is a ${header.type} entry; model layers may hold only files, folders and symlinks inside the model`,
          );
      }
    }
    await feeding;
  } catch (err) {
    tar.destroy();
    source.destroy();
    await feeding.catch(() => undefined);
    throw err;
  }
  return entries;
}

/** tar-stream's entries are streamx streams typed as `unknown` chunks; check each is bytes. */
async function* bytesOf(source: AsyncIterable<unknown>): AsyncIterable<Uint8Array> {
  for await (const chunk of source) {
    if (!(chunk instanceof Uint8Array)) throw new PullError("Io", "tar reader produced a non-byte chunk");
    yield chunk;
  }
}
