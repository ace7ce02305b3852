import { join } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createZstdDecompress } from "node:zlib";
import { extract, type Header } from "tar-stream";
import { PullError } from "./errors.js";
import { describeBytes, expansionLimit } from "./limits.js";
import { isArchiveRoot, safeRelativePath } from "./paths.js";
import { stageStream, type StagedEntry } from "./staging.js";

export type TarEncoding = "tar" | "tar+gzip" | "tar+zstd";

export interface TarLimits {
  /** Compressed size of the layer (its descriptor's size). */
  readonly compressedSize: number;
  readonly maxExpansionRatio: number;
  readonly maxEntries: number;
  /** Called with each chunk's size before a file's bytes are staged; throws to stop the pull. */
  readonly onFileBytes?: (bytes: number) => void;
}

/**
 * Reads a tar layer (optionally gzip or zstd compressed) into staging files, one per regular
 * file entry, and returns what to place once the layer's digest is verified. PAX headers and
 * base-256 sizes (files over 8 GiB) are understood by tar-stream. Refused: unsafe names,
 * hard links, device files and FIFOs; more entries than `maxEntries`; a decompressed stream
 * larger than `expansionLimit(compressedSize, maxExpansionRatio)` (stopped there, the rest is
 * never written). The archive's root folder (`./`, from `tar -C dir .`) is the destination
 * itself. The whole source is consumed, so its verification runs.
 */
export async function stageTarLayer(
  source: Readable,
  encoding: TarEncoding,
  stagingDir: string,
  what: string,
  limits: TarLimits,
): Promise<StagedEntry[]> {
  const entries: StagedEntry[] = [];
  const tar = extract();
  const decompress =
    encoding === "tar+gzip" ? createGunzip() : encoding === "tar+zstd" ? createZstdDecompress() : undefined;
  const maxExpanded = expansionLimit(limits.compressedSize, limits.maxExpansionRatio);
  let expanded = 0;
  let limitError: PullError | undefined;
  const counting = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      expanded += chunk.byteLength;
      if (expanded > maxExpanded) {
        limitError ??= new PullError(
          "LimitExceeded",
          `${what} (${encoding}, ${describeBytes(limits.compressedSize)}) expands to more than ` +
            `${describeBytes(maxExpanded)}, over ${limits.maxExpansionRatio}× its size: refusing a possible ` +
            `decompression bomb, stopped before writing the rest. If the layer is genuine, raise --max-expansion-ratio`,
        );
        callback(limitError);
        return;
      }
      callback(null, chunk);
    },
  });
  const feeding =
    decompress === undefined ? pipeline(source, counting, tar) : pipeline(source, decompress, counting, tar);
  // It may fail (a limit, a corrupt stream) while the loop below awaits something else: handled
  // there, never an unhandled rejection.
  feeding.catch(() => undefined);
  let counter = 0;
  let count = 0;
  try {
    for await (const entry of tar) {
      const header: Header = entry.header;
      const describe = `${what}, tar entry "${header.name}"`;
      if (++count > limits.maxEntries)
        throw new PullError(
          "LimitExceeded",
          `${what} has more than ${limits.maxEntries} entries: refusing it, stopped before writing the rest. ` +
            `If the layer is genuine, raise --max-entries`,
        );
      switch (header.type) {
        case "file":
        case "contiguous-file": {
          const path = safeRelativePath(header.name, describe);
          const staged = join(stagingDir, `${counter++}.part`);
          const { size, sha256 } = await stageStream(bytesOf(entry), staged, limits.onFileBytes);
          entries.push({ type: "file", path, staged, mode: header.mode, mtime: header.mtime, size, sha256 });
          break;
        }
        case "directory": {
          if (isArchiveRoot(header.name)) {
            entry.resume();
            break;
          }
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
    if (limitError !== undefined) throw limitError;
  } catch (err) {
    tar.destroy();
    source.destroy();
    await feeding.catch(() => undefined);
    throw limitError ?? err;
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
