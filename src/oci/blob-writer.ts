/**
 * The back half of a blob download: every buffer the socket filled is hashed and written to the
 * file, in order, off the main thread when possible.
 *
 * Why a worker does both: SHA-256 is most of a pull's CPU, and on the main thread it would
 * serialise with the socket reads. The worker hashes each slice and writes that same slice while
 * it is still in the core's cache, with plain synchronous writes: no libuv round trip per write.
 *
 * Why slices of 64 KiB: the kernel sizes page-cache folios by the length of each write call, and
 * large folios come from the large free blocks that a VM's free-page reporting hands back to the
 * host, so the first touch of each of their pages faults on the host. Measured with `dd` at each
 * block size, 64 KiB calls cost several times less system time than 1 MiB calls there (figures:
 * the README's benchmark section); smaller calls start to cost more in calls than they save. The Go tools write 32 KiB at a time.
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

/** Hashes buffers and appends them to one file, in the order given. */
export interface BlobWriter {
  /** A buffer to fill and hand to `append` (shared with the worker when there is one). */
  allocate(size: number): Buffer;
  /**
   * Hashes `buffer[0, length)` and writes it after everything appended before. `done` comes once
   * the buffer is free again, with the write's error if it failed (later appends then fail too).
   */
  append(buffer: Buffer, length: number, done: (err: Error | undefined) => void): void;
  /** `algorithm:hex` of everything appended. Call once, after the last `append` is done. */
  digest(): Promise<string>;
  /** Forgets the hash (after a failure); pending `done` callbacks still come. */
  dispose(): void;
}

/** Makes the writer for one download into the open file `fd`. */
export type BlobWriterFactory = (algorithm: string, fd: number) => BlobWriter;

const MAX_WORKERS = 2;

/** The length of one write call; see the module comment. */
export const WRITE_SLICE_BYTES = 64 * 1024;

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

/** Hashes and writes on the calling thread (writes through libuv, one at a time). */
export function inlineWriter(algorithm: string, fd: number): BlobWriter {
  const hash: Hash = createHash(algorithm);
  const queue: { buffer: Buffer; length: number; done: (err: Error | undefined) => void }[] = [];
  let position = 0;
  let writing = false;
  let failed: Error | undefined;
  const next = (): void => {
    if (writing) return;
    const job = queue.shift();
    if (job === undefined) return;
    if (failed !== undefined) {
      job.done(failed);
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
        job.done(failed);
        next();
      });
    };
    from(0);
  };
  return {
    allocate: (size) => Buffer.allocUnsafeSlow(size),
    append(buffer, length, done) {
      hash.update(buffer.subarray(0, length));
      queue.push({ buffer, length, done });
      next();
    },
    digest: () => Promise.resolve(`${algorithm}:${hash.digest("hex")}`),
    dispose: () => undefined,
  };
}

/** Hashes and writes on one of the process's writer threads, or inline when none can run. */
export function workerWriter(algorithm: string, fd: number): BlobWriter {
  const worker = WriterWorker.shared();
  return worker === undefined ? inlineWriter(algorithm, fd) : worker.writer(algorithm, fd);
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
const { writeSync } = require("node:fs");
const SLICE = ${WRITE_SLICE_BYTES};
const writers = new Map();
const views = new WeakMap();
parentPort.on("message", (m) => {
  if (m.op === "append") {
    let view = views.get(m.sab);
    if (view === undefined) views.set(m.sab, (view = new Uint8Array(m.sab)));
    let w = writers.get(m.id);
    if (w === undefined) writers.set(m.id, (w = { hash: createHash(m.algorithm), error: undefined }));
    if (w.error === undefined) {
      try {
        for (let offset = 0; offset < m.length; ) {
          const slice = view.subarray(offset, Math.min(offset + SLICE, m.length));
          w.hash.update(slice);
          for (let done = 0; done < slice.length; ) {
            done += writeSync(m.fd, slice, done, slice.length - done, m.position + offset + done);
          }
          offset += slice.length;
        }
      } catch (err) {
        w.error = { message: String(err && err.message), code: err && err.code };
      }
    }
    parentPort.postMessage({ op: "done", id: m.id, job: m.job, error: w.error });
  } else if (m.op === "digest") {
    const w = writers.get(m.id);
    writers.delete(m.id);
    parentPort.postMessage({ op: "digest", id: m.id, hex: (w ? w.hash : createHash(m.algorithm)).digest("hex") });
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
    }
  | { readonly op: "digest"; readonly id: number; readonly hex: string };

interface Pending {
  readonly done: Map<number, (err: Error | undefined) => void>;
  digest?: (hex: string) => void;
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
        for (const done of pending.done.values()) done(stopped);
        pending.digest?.("");
      }
      this.#pending.clear();
    };
    this.#worker.on("error", retire);
    this.#worker.on("exit", retire);
    // After the listeners: adding a "message" listener refs the worker's port again.
    this.#worker.unref();
  }

  writer(algorithm: string, fd: number): BlobWriter {
    const id = this.#nextId++;
    const pending: Pending = { done: new Map() };
    this.#pending.set(id, pending);
    let position = 0;
    return {
      allocate: (size) => Buffer.from(new SharedArrayBuffer(size)),
      append: (buffer, length, done) => {
        const sab = buffer.buffer;
        if (!(sab instanceof SharedArrayBuffer) || buffer.byteOffset !== 0) {
          throw new TypeError("workerWriter: append() takes buffers from its allocate()");
        }
        const job = this.#nextJob++;
        pending.done.set(job, done);
        this.#work(+1);
        this.#worker.postMessage({ op: "append", id, job, algorithm, sab, length, fd, position });
        position += length;
      },
      digest: () =>
        new Promise<string>((resolve, reject) => {
          pending.digest = (hex) => {
            this.#pending.delete(id);
            if (hex === "") reject(writerStopped());
            else resolve(`${algorithm}:${hex}`);
          };
          this.#work(+1);
          this.#worker.postMessage({ op: "digest", id, algorithm });
        }),
      dispose: () => {
        pending.disposed = true;
        if (pending.done.size === 0) this.#pending.delete(id);
        this.#worker.postMessage({ op: "dispose", id });
      },
    };
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
      done?.(message.error === undefined ? undefined : asWriteError(message.error));
      if (pending.disposed === true && pending.done.size === 0) this.#pending.delete(message.id);
      return;
    }
    pending.digest?.(message.hex);
  }
}
