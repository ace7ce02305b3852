/**
 * Layers as reproducible tar streams: entries in the given (sorted) order, every mtime the same,
 * no user or group names, and gzip at a fixed level, so the same tree always gives the same
 * diff ID and the same blob digest. The compressed blob is cached by diff ID (a warm build only
 * hashes the tar); tar-stream writes the archive (ustar, pax headers for long names).
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { PassThrough, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { pack as createPack, type Pack } from "tar-stream";
import { z } from "zod";
import { touch } from "./cache.js";
import type { TreeEntry } from "./tree.js";

/** The gzip level of every layer (zlib's default): part of the cache key. */
export const GZIP_LEVEL = 6;
export const LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";
/** Files up to this size are read whole; larger ones are streamed. */
const WHOLE_FILE_BYTES = 4 * 1024 * 1024;

/** A layer blob on disk: its digest and size (compressed) and its diff ID (uncompressed tar). */
export interface Layer {
  readonly diffId: string;
  readonly digest: string;
  readonly size: number;
  /** The compressed blob, in the cache. */
  readonly path: string;
}

const LayerRecord = z.object({ digest: z.string(), size: z.number().int().nonnegative() });

async function addEntry(pack: Pack, entry: TreeEntry, mtime: Date): Promise<void> {
  const base = { mode: entry.mode, uid: entry.uid, gid: entry.gid, uname: "", gname: "", mtime };
  if (entry.type === "directory") {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ ...base, name: `${entry.path}/`, type: "directory" }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    return;
  }
  if (entry.type === "symlink") {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ ...base, name: entry.path, type: "symlink", linkname: entry.target }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    return;
  }
  const header = { ...base, name: entry.path, type: "file" as const, size: entry.size };
  if (Buffer.isBuffer(entry.source) || entry.size <= WHOLE_FILE_BYTES) {
    const bytes = Buffer.isBuffer(entry.source) ? entry.source : await readFile(entry.source);
    if (bytes.length !== entry.size) throw new Error(`${entry.path} changed size while the image was built`);
    await new Promise<void>((resolve, reject) =>
      pack.entry(header, bytes, (err) => (err ? reject(err) : resolve())),
    );
    return;
  }
  let sink!: ReturnType<Pack["entry"]>;
  const done = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
  });
  for await (const chunk of createReadStream(entry.source) as AsyncIterable<Buffer>) {
    if (!sink.write(chunk)) await new Promise<void>((drained) => sink.once("drain", () => drained()));
  }
  sink.end(undefined); // streamx types require the (optional) last chunk
  await done;
}

/**
 * Streams the tar of `entries` to `write` (which may return a promise to slow the archive down);
 * resolves with the tar's sha256 digest (the diff ID).
 */
async function streamTar(
  entries: readonly TreeEntry[],
  mtime: Date,
  write: (chunk: Buffer) => void | Promise<void>,
): Promise<string> {
  const pack = createPack();
  const hash = createHash("sha256");
  const consumed = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) {
      hash.update(chunk);
      await write(chunk);
    }
  })();
  try {
    for (const entry of entries) await addEntry(pack, entry, mtime);
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await consumed.catch(() => undefined);
    throw err;
  }
  await consumed;
  return `sha256:${hash.digest("hex")}`;
}

/**
 * The layer of `entries`: its diff ID from one pass over the tar; the gzip blob from the cache
 * (`cacheDir/layers`) when that diff ID was compressed before, else written there (atomically:
 * concurrent builders are safe) in a second pass.
 */
export async function buildLayer(
  entries: readonly TreeEntry[],
  mtime: Date,
  cacheDir: string,
): Promise<Layer> {
  const dir = join(cacheDir, "layers");
  await mkdir(dir, { recursive: true });
  const diffId = await streamTar(entries, mtime, () => undefined);
  const key = `${diffId.slice("sha256:".length)}-gzip${GZIP_LEVEL}`;
  const record = join(dir, `${key}.json`);
  const blob = join(dir, `${key}.tar.gz`);
  const cached = await readFile(record, "utf8")
    .then((text) => LayerRecord.parse(JSON.parse(text)))
    .catch(() => undefined);
  if (cached !== undefined && (await touch(blob))) {
    await touch(record);
    return { diffId, ...cached, path: blob };
  }
  const temp = `${blob}.${process.pid}.${Date.now()}.tmp`;
  try {
    const input = new PassThrough();
    const hash = createHash("sha256");
    let size = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    const written = pipeline(input, createGzip({ level: GZIP_LEVEL }), counted, createWriteStream(temp));
    const again = await streamTar(entries, mtime, async (chunk) => {
      if (!input.write(chunk)) await once(input, "drain");
    });
    input.end();
    await written;
    if (again !== diffId)
      throw new Error("a file of the image changed while the image was built; build again");
    const digest = `sha256:${hash.digest("hex")}`;
    await rename(temp, blob);
    await writeFile(record, JSON.stringify({ digest, size }));
    return { diffId, digest, size, path: blob };
  } finally {
    await rm(temp, { force: true });
  }
}
