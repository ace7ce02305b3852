/**
 * The back half of a blob download: every buffer a connection filled is written to the file at
 * its offset and hashed in file order, off the main thread when possible. A buffer that lands at
 * the end of the hashed prefix is hashed from memory; one that lands further on (a later part of
 * a ranged download) is written now and read back from the page cache once the prefix reaches it,
 * so each byte is hashed exactly once and memory stays the buffers in flight.
 *
 * Why a worker does both: SHA-256 is most of a pull's CPU, and on the main thread it would
 * serialise with the socket reads. The worker hashes each slice and writes that same slice while
 * it is still in the core's cache, with plain synchronous writes: no libuv round trip per write.
 *
 * Why slices of 32 KiB: the kernel sizes page-cache folios by the length of each write call, and
 * large folios come from the large free blocks that a VM's free-page reporting hands back to the
 * host, so the first touch of each of their pages faults on the host. Folios up to 32 KiB (order 3,
 * the largest the page allocator keeps in its per-CPU lists of recently freed pages) mostly reuse
 * pages the guest still holds; 64 KiB ones come from the free blocks like 1 MiB ones, which shows
 * once other work churns memory. Measured with `dd` at each block size, 32 KiB calls cost several
 * times less system time than 64 KiB and 1 MiB calls there, and 16 KiB calls a little more
 * (figures: the README's benchmark section). The Go tools write 32 KiB at a time too.
 *
 * The buffers are SharedArrayBuffers, so a worker reads the very bytes the socket wrote, with no
 * copy and no transfer; `done` tells the caller when a buffer is free again. Up to two workers
 * serve every download in the process (one download's hashing and writing keeps a core busy at
 * loopback speed; a second lets two proceed while the main thread reads). They start on first
 * use, keep the process alive only while they have work, and if none can start or one dies,
 * later downloads hash and write on the calling thread with the same results.
 */
import { createHash, type Hash } from "node:crypto";
import { write } from "node:fs";
import { Worker } from "node:worker_threads";

/**
 * Writes buffers into one file at their offsets and hashes the file's contiguous prefix as it
 * grows: a buffer that lands at the end of the hashed prefix is hashed from memory; one that lands
 * further on is written now and read back from the file (the page cache) once the prefix reaches
 * it. Each byte is hashed once, in order, whatever order the buffers came in.
 */
export interface BlobWriter {
  /** Whether `write` takes buffers at any offset (else only at the end of what was written). */
  readonly positioned: boolean;
  /** A buffer to fill and hand to `write` (shared with the worker when there is one). */
  allocate(size: number): Buffer;
  /**
   * Writes `buffer[0, length)` at `position`, which must not overlap anything written before.
   * `done` comes once the buffer is free again, with the write's error if it failed (later writes
   * then fail too) and the length of the hashed prefix.
   */
  write(
    buffer: Buffer,
    length: number,
    position: number,
    done: (err: Error | undefined, hashed: number) => void,
  ): void;
  /** `write` at the end of everything appended so far. */
  append(buffer: Buffer, length: number, done: (err: Error | undefined) => void): void;
  /**
   * `algorithm:hex` of the first `size` bytes of the file (default: everything written), after
   * hashing what is left of it. Call once, after the last `write` is done. Rejects with
   * BlobWriteError when part of it was never written.
   */
  digest(size?: number): Promise<string>;
  /** Forgets the hash (after a failure); pending `done` callbacks still come. */
  dispose(): void;
}

/** Ranges `[start, end)` of the file already written (by an interrupted download), to hash as they are. */
export interface BlobWriterOptions {
  readonly written?: readonly (readonly [number, number])[];
}

/** Makes the writer for one download into the open file `fd` (opened for reading and writing). */
export type BlobWriterFactory = (algorithm: string, fd: number, options?: BlobWriterOptions) => BlobWriter;

const MAX_WORKERS = 2;

/** The length of one write call; see the module comment. */
export const WRITE_SLICE_BYTES = 32 * 1024;

/**
 * A downloaded blob that could not be written: the system error's code (ENOSPC, EIO …) when the
 * file system refused it, or `retryable` when the writer thread stopped (a new attempt writes
 * on the calling thread).
 */
export class BlobWriteError extends Error {
  readonly code: string | undefined;
  readonly retryable: boolean;
  constructor(message: string, options: { code?: string | undefined; retryable?: boolean } = {}) {
    super(message);
    this.name = "BlobWriteError";
    this.code = options.code;
    this.retryable = options.retryable ?? false;
  }
}

/**
 * Hashes and writes on the calling thread (writes through libuv, one at a time). Sequential only:
 * buffers must come in file order and `written` is not supported (`positioned` is false).
 */
export function inlineWriter(algorithm: string, fd: number, options: BlobWriterOptions = {}): BlobWriter {
  if ((options.written ?? []).length > 0)
    throw new TypeError("inlineWriter: resuming a file needs the writer thread");
  const hash: Hash = createHash(algorithm);
  const queue: { buffer: Buffer; length: number; done: (err: Error | undefined, hashed: number) => void }[] =
    [];
  let position = 0;
  let hashed = 0;
  let writing = false;
  let failed: Error | undefined;
  const next = (): void => {
    if (writing) return;
    const job = queue.shift();
    if (job === undefined) return;
    if (failed !== undefined) {
      job.done(failed, hashed);
      return next();
    }
    writing = true;
    const from = (offset: number): void => {
      const length = Math.min(WRITE_SLICE_BYTES, job.length - offset);
      write(fd, job.buffer, offset, length, position, (err, written) => {
        if (err === null) {
          position += written;
          if (offset + written < job.length) return from(offset + written);
        } else {
          failed = asWriteError(err);
        }
        writing = false;
        job.done(failed, hashed);
        next();
      });
    };
    from(0);
  };
  const writer: BlobWriter = {
    positioned: false,
    allocate: (size) => Buffer.allocUnsafeSlow(size),
    write(buffer, length, at, done) {
      if (at !== hashed) throw new TypeError("inlineWriter: buffers must come in file order");
      hash.update(buffer.subarray(0, length));
      hashed += length;
      queue.push({ buffer, length, done });
      next();
    },
    append: (buffer, length, done) => writer.write(buffer, length, hashed, (err) => done(err)),
    digest: (size) =>
      size !== undefined && size !== hashed
        ? Promise.reject(new BlobWriteError(`only ${hashed} of ${size} bytes were written`))
        : Promise.resolve(`${algorithm}:${hash.digest("hex")}`),
    dispose: () => undefined,
  };
  return writer;
}

/** Hashes and writes on one of the process's writer threads, or inline when none can run. */
export function workerWriter(algorithm: string, fd: number, options: BlobWriterOptions = {}): BlobWriter {
  const worker = WriterWorker.shared();
  return worker === undefined ? inlineWriter(algorithm, fd, options) : worker.writer(algorithm, fd, options);
}

/**
 * Starts the writer threads now, idle and not keeping the process alive: a thread takes noticeable
 * CPU to boot, which a command can overlap with loading its own modules on another core.
 */
export function startBlobWriters(): void {
  WriterWorker.warmUp();
}

function asWriteError(err: { message: string; code?: string | undefined }): BlobWriteError {
  return new BlobWriteError(err.message, { code: err.code });
}

function writerStopped(): BlobWriteError {
  return new BlobWriteError("the blob writer thread stopped; the download is retried", { retryable: true });
}

// The worker's code, as a string: `eval` workers need no file next to the compiled output, which
// keeps one code path for the sources (tests, tsx) and the compiled image. Plain CommonJS.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { readSync, writeSync } = require("node:fs");
const SLICE = ${WRITE_SLICE_BYTES};
const writers = new Map();
const views = new WeakMap();
let scratch;
// Hashes the file's bytes [from, to), read back (from the page cache).
function hashFromFile(w, from, to) {
  scratch ??= Buffer.allocUnsafeSlow(1024 * 1024);
  for (let at = from; at < to; ) {
    const n = readSync(w.fd, scratch, 0, Math.min(scratch.length, to - at), at);
    if (n === 0) throw Object.assign(new Error("the file ends at " + at + ", before " + to), { code: "ESHORT" });
    w.hash.update(scratch.subarray(0, n));
    at += n;
  }
}
// Moves the hashed prefix over every written range that now touches it.
function advance(w) {
  while (w.pending.length > 0 && w.pending[0][0] <= w.hashed) {
    const [start, end] = w.pending.shift();
    if (end > w.hashed) {
      hashFromFile(w, w.hashed, end);
      w.hashed = end;
    }
  }
}
// Adds [start, end) to the sorted, merged list of ranges written beyond the hashed prefix.
function remember(w, start, end) {
  const p = w.pending;
  let i = 0;
  while (i < p.length && p[i][1] < start) i++;
  let s = start, e = end, j = i;
  while (j < p.length && p[j][0] <= e) { s = Math.min(s, p[j][0]); e = Math.max(e, p[j][1]); j++; }
  p.splice(i, j - i, [s, e]);
}
parentPort.on("message", (m) => {
  if (m.op === "open") {
    const w = { fd: m.fd, hash: createHash(m.algorithm), hashed: 0, pending: [], error: undefined };
    for (const [s, e] of m.written) remember(w, s, e);
    writers.set(m.id, w);
  } else if (m.op === "write") {
    let view = views.get(m.sab);
    if (view === undefined) views.set(m.sab, (view = new Uint8Array(m.sab)));
    const w = writers.get(m.id);
    if (w !== undefined && w.error === undefined) {
      try {
        const inOrder = m.position === w.hashed;
        for (let offset = 0; offset < m.length; ) {
          const slice = view.subarray(offset, Math.min(offset + SLICE, m.length));
          if (inOrder) w.hash.update(slice);
          for (let done = 0; done < slice.length; ) {
            done += writeSync(m.fd, slice, done, slice.length - done, m.position + offset + done);
          }
          offset += slice.length;
        }
        if (inOrder) {
          w.hashed += m.length;
          advance(w);
        } else remember(w, m.position, m.position + m.length);
      } catch (err) {
        w.error = { message: String(err && err.message), code: err && err.code };
      }
    }
    parentPort.postMessage({ op: "done", id: m.id, job: m.job, error: w && w.error, hashed: w ? w.hashed : 0 });
  } else if (m.op === "digest") {
    const w = writers.get(m.id);
    writers.delete(m.id);
    let error = w && w.error;
    if (w !== undefined && error === undefined) {
      try {
        advance(w);
        if (w.pending.length > 0 || (m.size !== undefined && w.hashed !== m.size))
          throw Object.assign(new Error("bytes from " + w.hashed + " on were never written"), { code: "EGAP" });
      } catch (err) {
        error = { message: String(err && err.message), code: err && err.code };
      }
    }
    parentPort.postMessage({ op: "digest", id: m.id, error, hex: error === undefined ? (w ? w.hash : createHash(m.algorithm)).digest("hex") : "" });
  } else if (m.op === "dispose") {
    writers.delete(m.id);
  }
});
`;

type FromWorker =
  | {
      readonly op: "done";
      readonly id: number;
      readonly job: number;
      readonly error?: { message: string; code?: string };
      readonly hashed: number;
    }
  | {
      readonly op: "digest";
      readonly id: number;
      readonly hex: string;
      readonly error?: { message: string; code?: string };
    };

interface Pending {
  readonly done: Map<number, (err: Error | undefined, hashed: number) => void>;
  digest?: (result: { hex: string; error?: Error }) => void;
  disposed?: boolean;
}

class WriterWorker {
  static readonly #pool: WriterWorker[] = [];
  static #unavailable = false;

  /** Starts workers until the pool is full (or one cannot start). */
  static warmUp(): void {
    while (WriterWorker.#pool.length < MAX_WORKERS && WriterWorker.#spawn() !== undefined);
  }

  /**
   * A worker for one more download: an idle one, a new one while the pool is below its size,
   * else the least busy. Undefined if none can run.
   */
  static shared(): WriterWorker | undefined {
    if (WriterWorker.#unavailable) return undefined;
    const pool = WriterWorker.#pool;
    let least: WriterWorker | undefined;
    for (const w of pool) if (least === undefined || w.#pending.size < least.#pending.size) least = w;
    if (least !== undefined && (least.#pending.size === 0 || pool.length >= MAX_WORKERS)) return least;
    return WriterWorker.#spawn() ?? least;
  }

  /** A new worker in the pool; undefined (and no more tries once the pool is empty) if it cannot start. */
  static #spawn(): WriterWorker | undefined {
    if (WriterWorker.#unavailable) return undefined;
    try {
      const worker = new WriterWorker();
      WriterWorker.#pool.push(worker);
      return worker;
    } catch {
      WriterWorker.#unavailable = WriterWorker.#pool.length === 0;
      return undefined;
    }
  }

  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #nextJob = 1;
  #busy = 0;

  private constructor() {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, name: "modelpack-blob-writer" });
    this.#worker.on("message", (message: FromWorker) => this.#onMessage(message));
    // A dead worker must not strand a download: everything pending fails (the download is
    // retried) and later downloads hash and write inline.
    const retire = (): void => {
      WriterWorker.#unavailable = true;
      const index = WriterWorker.#pool.indexOf(this);
      if (index >= 0) WriterWorker.#pool.splice(index, 1);
      const stopped = writerStopped();
      for (const pending of this.#pending.values()) {
        for (const done of pending.done.values()) done(stopped, 0);
        pending.digest?.({ hex: "", error: stopped });
      }
      this.#pending.clear();
    };
    this.#worker.on("error", retire);
    this.#worker.on("exit", retire);
    // After the listeners: adding a "message" listener refs the worker's port again.
    this.#worker.unref();
  }

  writer(algorithm: string, fd: number, options: BlobWriterOptions): BlobWriter {
    const id = this.#nextId++;
    const pending: Pending = { done: new Map() };
    this.#pending.set(id, pending);
    this.#worker.postMessage({ op: "open", id, algorithm, fd, written: options.written ?? [] });
    let appended = 0;
    const writer: BlobWriter = {
      positioned: true,
      allocate: (size) => Buffer.from(new SharedArrayBuffer(size)),
      write: (buffer, length, position, done) => {
        const sab = buffer.buffer;
        if (!(sab instanceof SharedArrayBuffer) || buffer.byteOffset !== 0) {
          throw new TypeError("workerWriter: write() takes buffers from its allocate()");
        }
        const job = this.#nextJob++;
        pending.done.set(job, done);
        this.#work(+1);
        this.#worker.postMessage({ op: "write", id, job, sab, length, fd, position });
      },
      append: (buffer, length, done) => {
        const position = appended;
        appended += length;
        writer.write(buffer, length, position, (err) => done(err));
      },
      digest: (size) =>
        new Promise<string>((resolve, reject) => {
          pending.digest = ({ hex, error }) => {
            this.#pending.delete(id);
            if (error !== undefined) reject(error);
            else resolve(`${algorithm}:${hex}`);
          };
          this.#work(+1);
          this.#worker.postMessage({ op: "digest", id, algorithm, size });
        }),
      dispose: () => {
        pending.disposed = true;
        if (pending.done.size === 0) this.#pending.delete(id);
        this.#worker.postMessage({ op: "dispose", id });
      },
    };
    return writer;
  }

  /** Keeps the process alive while the worker has work, so an awaited digest always arrives. */
  #work(delta: number): void {
    const before = this.#busy;
    this.#busy += delta;
    if (before === 0 && this.#busy > 0) this.#worker.ref();
    else if (before > 0 && this.#busy === 0) this.#worker.unref();
  }

  #onMessage(message: FromWorker): void {
    const pending = this.#pending.get(message.id);
    this.#work(-1);
    if (pending === undefined) return;
    if (message.op === "done") {
      const done = pending.done.get(message.job);
      pending.done.delete(message.job);
      done?.(message.error === undefined ? undefined : asWriteError(message.error), message.hashed);
      if (pending.disposed === true && pending.done.size === 0) this.#pending.delete(message.id);
      return;
    }
    pending.digest?.({
      hex: message.hex,
      ...(message.error !== undefined && { error: asWriteError(message.error) }),
    });
  }
}
