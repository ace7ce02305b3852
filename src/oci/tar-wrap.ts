/**
 * One file as an uncompressed tar layer, without buffering the file: the headers (its parent
 * folders and the file's own, PAX where ustar cannot say it) are built here as bytes, the file's
 * bytes stream through unchanged, then the padding and the end-of-archive blocks follow. Since
 * every header field is fixed by the inputs, the same file always gives the same layer digest,
 * and the layer's size is known before a byte is read (`tarLayerSize`).
 *
 * Written here rather than with tar-stream's packer because the exact prefix must be known up
 * front (its size and bytes) and the file must pass as plain Buffers, not through a second
 * stream implementation; the format is small (POSIX.1-2001 ustar + pax) and is checked against
 * tar-stream's reader and Go's archive/tar (containerd) in the tests.
 */
import { Transform, type Readable } from "node:stream";

const BLOCK = 512;
/** The largest size an 11-digit octal field holds (8 GiB − 1). */
const MAX_OCTAL_SIZE = 0o77777777777;

/** What the layer says about its one file. */
export interface TarFile {
  /** Relative POSIX path inside the layer (checked by the caller: no `..`, no leading `/`). */
  readonly path: string;
  readonly size: number;
  /** Permission bits (0o7777 masked). */
  readonly mode: number;
  /** Seconds since the epoch. */
  readonly mtimeSeconds: number;
}

/** The bytes before the file's content: one header per parent folder, then the file's own. */
export function tarPrefix(file: TarFile): Buffer {
  const parts = file.path.split("/");
  const blocks: Buffer[] = [];
  for (let i = 1; i < parts.length; i++) {
    blocks.push(...entryHeaders(`${parts.slice(0, i).join("/")}/`, "5", 0, 0o755, 0));
  }
  blocks.push(...entryHeaders(file.path, "0", file.size, file.mode & 0o7777, file.mtimeSeconds));
  return Buffer.concat(blocks);
}

/** The bytes after the file's content: padding to a block, then two zero blocks. */
export function tarSuffix(size: number): Buffer {
  return Buffer.alloc(padding(size) + 2 * BLOCK);
}

/** The layer's total size in bytes. */
export function tarLayerSize(file: TarFile): number {
  return tarPrefix(file).byteLength + file.size + tarSuffix(file.size).byteLength;
}

/**
 * The layer as a stream: prefix, `content` (which must be exactly `file.size` bytes: a longer or
 * shorter source errors the stream instead of writing a corrupt archive), suffix.
 */
export function wrapInTar(file: TarFile, content: Readable): Readable {
  let seen = 0;
  let started = false;
  const framing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!started) {
        started = true;
        this.push(tarPrefix(file));
      }
      seen += chunk.byteLength;
      if (seen > file.size) return callback(sizeError(file, seen));
      callback(null, chunk);
    },
    flush(callback) {
      if (!started) this.push(tarPrefix(file));
      if (seen !== file.size) return callback(sizeError(file, seen));
      this.push(tarSuffix(file.size));
      callback();
    },
  });
  content.once("error", (err) => framing.destroy(err));
  framing.once("close", () => {
    if (!content.readableEnded) content.destroy();
  });
  return content.pipe(framing);
}

function sizeError(file: TarFile, seen: number): Error {
  return new Error(`${file.path}: the source gave ${seen} or more bytes, not the ${file.size} declared`);
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** A ustar header, preceded by a pax header when the name or size does not fit ustar. */
function entryHeaders(name: string, type: "0" | "5", size: number, mode: number, mtime: number): Buffer[] {
  const nameBytes = Buffer.from(name, "utf8");
  const needsPax = nameBytes.byteLength > 100 || size > MAX_OCTAL_SIZE || !/^[\x20-\x7e]*$/.test(name);
  const out: Buffer[] = [];
  if (needsPax) {
    const records = Buffer.from(
      paxRecord("path", name) + (size > MAX_OCTAL_SIZE ? paxRecord("size", String(size)) : ""),
      "utf8",
    );
    out.push(header(paxName(name), "x", records.byteLength, 0o644, mtime));
    out.push(records, Buffer.alloc(padding(records.byteLength)));
  }
  out.push(header(needsPax ? asciiPrefix(name, 100) : name, type, size, mode, mtime));
  return out;
}

/** `"%d key=value\n"`, where the length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body, "utf8");
  length += String(length).length;
  let record = `${length}${body}`;
  // Adding the length's digits may have added a digit to the length (as Go's archive/tar does).
  if (Buffer.byteLength(record, "utf8") !== length) record = `${Buffer.byteLength(record, "utf8")}${body}`;
  return record;
}

/** The pax header's own name, as Go's archive/tar writes it. */
function paxName(name: string): string {
  const base = name.replace(/\/$/, "").split("/").at(-1) ?? "";
  return asciiPrefix(`PaxHeaders.0/${base}`, 100);
}

/** The longest ASCII-only prefix of `text` within `max` bytes (ustar fields are byte arrays). */
function asciiPrefix(text: string, max: number): string {
  return text.replace(/[^\x20-\x7e]/g, "_").slice(0, max);
}

function header(name: string, type: string, size: number, mode: number, mtime: number): Buffer {
  const buf = Buffer.alloc(BLOCK);
  buf.write(name, 0, 100, "utf8");
  writeOctal(buf, 100, 8, mode);
  writeOctal(buf, 108, 8, 0); // uid
  writeOctal(buf, 116, 8, 0); // gid
  if (size > MAX_OCTAL_SIZE) {
    // GNU base-256: the pax record is authoritative; this keeps readers without pax close.
    buf[124] = 0x80;
    let rest = BigInt(size);
    for (let i = 135; i > 124; i--) {
      buf[i] = Number(rest & 0xffn);
      rest >>= 8n;
    }
  } else writeOctal(buf, 124, 12, size);
  writeOctal(buf, 136, 12, Math.max(0, Math.min(mtime, MAX_OCTAL_SIZE)));
  buf.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  buf.write(type, 156, 1, "ascii");
  buf.write("ustar\u000000", 257, 8, "ascii");
  let sum = 0;
  for (const byte of buf) sum += byte;
  buf.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, 8, "ascii");
  return buf;
}

/** An octal number, zero-padded to `length − 1` digits and NUL-terminated. */
function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  buf.write(
    `${Math.floor(value)
      .toString(8)
      .padStart(length - 1, "0")}\u0000`,
    offset,
    length,
    "ascii",
  );
}
