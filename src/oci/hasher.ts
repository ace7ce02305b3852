/**
 * Hashing for blob downloads, on a worker thread when there is one: SHA-256 is most of a pull's
 * CPU, and on the main thread it would serialise with the socket reads and file writes that the
 * main thread also drives. The buffers being hashed are SharedArrayBuffers, so the worker reads
 * the very bytes the socket wrote and the file write reads, with no copy and no transfer; the
 * caller learns through `released` when the hasher is done with a buffer.
 *
 * One worker serves every download in the process (it hashes faster than a registry sends); it
 * is started on first use, keeps the process alive only while it has work, and if it cannot
 * start or dies, hashing falls back to the calling thread with the same results.
 */
import { createHash, type Hash } from "node:crypto";
import { Worker } from "node:worker_threads";

/** Incremental hashing of whole buffers, in the order they are given. */
export interface BufferHasher {
  /** A buffer to fill and hand to `update` (shared with the worker when there is one). */
  allocate(size: number): Buffer;
  /** Hashes `buffer[0, length)` after everything given before; `released` once it is no longer read. */
  update(buffer: Buffer, length: number, released: () => void): void;
  /** `algorithm:hex` of everything given. Call once, after the last `update`. */
  digest(): Promise<string>;
  /** Forgets the state (after a failure); pending `released` callbacks still come. */
  dispose(): void;
}

/** Hashes on the calling thread. */
export function inlineHasher(algorithm: string): BufferHasher {
  const hash: Hash = createHash(algorithm);
  return {
    allocate: (size) => Buffer.allocUnsafeSlow(size),
    update(buffer, length, released) {
      hash.update(buffer.subarray(0, length));
      released();
    },
    digest: () => Promise.resolve(`${algorithm}:${hash.digest("hex")}`),
    dispose: () => undefined,
  };
}

/** Hashes on the process's hash worker, or inline when it is unavailable. */
export function workerHasher(algorithm: string): BufferHasher {
  const worker = HashWorker.shared();
  return worker === undefined ? inlineHasher(algorithm) : worker.hasher(algorithm);
}

// The worker's code, as a string: `eval` workers need no file next to the compiled output, which
// keeps one code path for the sources (tests, tsx) and the compiled image. Plain CommonJS.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const hashes = new Map();
const views = new WeakMap();
parentPort.on("message", (m) => {
  if (m.op === "update") {
    let view = views.get(m.sab);
    if (view === undefined) views.set(m.sab, (view = new Uint8Array(m.sab)));
    let hash = hashes.get(m.id);
    if (hash === undefined) hashes.set(m.id, (hash = createHash(m.algorithm)));
    hash.update(view.subarray(0, m.length));
    parentPort.postMessage({ op: "released", id: m.id, job: m.job });
  } else if (m.op === "digest") {
    const hash = hashes.get(m.id) ?? createHash(m.algorithm);
    hashes.delete(m.id);
    parentPort.postMessage({ op: "digest", id: m.id, hex: hash.digest("hex") });
  } else if (m.op === "dispose") {
    hashes.delete(m.id);
  }
});
`;

type FromWorker =
  | { readonly op: "released"; readonly id: number; readonly job: number }
  | { readonly op: "digest"; readonly id: number; readonly hex: string };

interface Pending {
  readonly released: Map<number, () => void>;
  digest?: (hex: string) => void;
  disposed?: boolean;
}

class HashWorker {
  static #shared: HashWorker | undefined;
  static #unavailable = false;

  /** The process's hash worker, started on first use; undefined if it cannot run. */
  static shared(): HashWorker | undefined {
    if (HashWorker.#unavailable) return undefined;
    try {
      HashWorker.#shared ??= new HashWorker();
      return HashWorker.#shared;
    } catch {
      HashWorker.#unavailable = true;
      return undefined;
    }
  }

  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #nextJob = 1;
  #busy = 0;

  private constructor() {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, name: "modelpack-hash" });
    this.#worker.unref();
    this.#worker.on("message", (message: FromWorker) => this.#onMessage(message));
    // A dead worker must not strand a download: everything pending fails over to inline hashing
    // by failing the digest (the download retries), and later downloads hash inline.
    const retire = (): void => {
      HashWorker.#unavailable = true;
      if (HashWorker.#shared === this) HashWorker.#shared = undefined;
      for (const pending of this.#pending.values()) {
        for (const released of pending.released.values()) released();
        pending.digest?.("");
      }
      this.#pending.clear();
    };
    this.#worker.on("error", retire);
    this.#worker.on("exit", retire);
  }

  hasher(algorithm: string): BufferHasher {
    const id = this.#nextId++;
    const pending: Pending = { released: new Map() };
    this.#pending.set(id, pending);
    return {
      allocate: (size) => Buffer.from(new SharedArrayBuffer(size)),
      update: (buffer, length, released) => {
        const sab = buffer.buffer;
        if (!(sab instanceof SharedArrayBuffer) || buffer.byteOffset !== 0) {
          throw new TypeError("workerHasher: update() takes buffers from its allocate()");
        }
        const job = this.#nextJob++;
        pending.released.set(job, released);
        this.#work(+1);
        this.#worker.postMessage({ op: "update", id, job, algorithm, sab, length });
      },
      digest: () =>
        new Promise<string>((resolve, reject) => {
          pending.digest = (hex) => {
            this.#pending.delete(id);
            if (hex === "") reject(new Error("the hash worker stopped; the download is retried"));
            else resolve(`${algorithm}:${hex}`);
          };
          this.#work(+1);
          this.#worker.postMessage({ op: "digest", id, algorithm });
        }),
      dispose: () => {
        pending.disposed = true;
        if (pending.released.size === 0) this.#pending.delete(id);
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
    if (message.op === "released") {
      const released = pending.released.get(message.job);
      pending.released.delete(message.job);
      released?.();
      if (pending.disposed === true && pending.released.size === 0) this.#pending.delete(message.id);
      return;
    }
    pending.digest?.(message.hex);
  }
}
