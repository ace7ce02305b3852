/**
 * Two SHA-256 hashes of one copy, on a worker thread: the source blob's (to verify it) and the
 * layer's it becomes (the source between a prefix and a suffix: a tar). publish-image reads a raw
 * file and uploads it as a tar; hashing both on the main thread would make it the bottleneck,
 * beside the socket reads and writes. Source chunks are copied into a ring of shared memory
 * (`slots` × `slotBytes`) that the worker hashes from; a full ring makes `source` return a
 * promise to wait on (back-pressure). Prefix and suffix bytes go by copy. If no worker can start,
 * both hashes run on the calling thread with the same results.
 */
import { createHash } from "node:crypto";
import { Worker } from "node:worker_threads";

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const ring = new Uint8Array(workerData.ring);
const source = createHash("sha256"), layer = createHash("sha256");
parentPort.on("message", (m) => {
  if (m.end) { parentPort.postMessage({ source: source.digest("hex"), layer: layer.digest("hex") }); return; }
  if (m.bytes) { layer.update(m.bytes); return; }
  const view = ring.subarray(m.offset, m.offset + m.length);
  source.update(view); layer.update(view);
  parentPort.postMessage({ slot: m.slot });
});
`;

export interface DualDigests {
  /** `sha256:<hex>` of the source bytes. */
  readonly source: string;
  /** `sha256:<hex>` of prefix + source + suffix bytes, in the order given. */
  readonly layer: string;
}

export interface DualHasher {
  /** Bytes of the layer only (a tar header or trailer). */
  layerOnly(bytes: Buffer): void;
  /** Bytes of the source (and so of the layer); a promise means: wait before the next call. */
  source(chunk: Buffer): Promise<void> | undefined;
  /** Both digests; call once, after the last bytes. */
  digests(): Promise<DualDigests>;
  /** Stops the worker; the hasher is unusable afterwards. */
  dispose(): void;
}

/** Creates a hasher with its own worker (one per copy; it exits after `digests`). */
export function createDualHasher(slotBytes = 64 * 1024, slots = 128): DualHasher {
  const ring = new SharedArrayBuffer(slotBytes * slots);
  const memory = Buffer.from(ring);
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ring } });
  } catch {
    return inlineDualHasher();
  }
  worker.unref();
  const free: number[] = Array.from({ length: slots }, (_, i) => i);
  let waiting: (() => void) | undefined;
  let settle: { resolve: (d: DualDigests) => void; reject: (err: Error) => void } | undefined;
  let done = false;
  let failure: Error | undefined;
  const fail = (err: Error): void => {
    failure ??= err;
    waiting?.();
    settle?.reject(err);
  };
  worker.on("error", fail);
  worker.on("exit", (code) => {
    if (!done) fail(new Error(`the hashing worker exited (code ${code})`));
  });
  worker.on("message", (m: { slot?: number; source?: string; layer?: string }) => {
    if (m.source !== undefined && m.layer !== undefined) {
      done = true;
      settle?.resolve({ source: `sha256:${m.source}`, layer: `sha256:${m.layer}` });
      void worker.terminate();
      return;
    }
    if (m.slot !== undefined) free.push(m.slot);
    if (waiting !== undefined) {
      const wake = waiting;
      waiting = undefined;
      wake();
    }
  });
  const post = (chunk: Buffer, from: number): number => {
    const slot = free.pop();
    if (slot === undefined) return from;
    const length = Math.min(slotBytes, chunk.byteLength - from);
    chunk.copy(memory, slot * slotBytes, from, from + length);
    worker.postMessage({ slot, offset: slot * slotBytes, length });
    return from + length;
  };
  const feed = async (chunk: Buffer, from: number): Promise<void> => {
    let offset = from;
    while (offset < chunk.byteLength) {
      if (failure !== undefined) throw failure;
      if (free.length === 0) await new Promise<void>((resolve) => (waiting = resolve));
      offset = post(chunk, offset);
    }
    if (failure !== undefined) throw failure;
  };
  return {
    layerOnly(bytes) {
      if (failure !== undefined) throw failure;
      if (bytes.byteLength > 0) worker.postMessage({ bytes: new Uint8Array(bytes) });
    },
    source(chunk) {
      if (failure !== undefined) throw failure;
      let offset = 0;
      while (offset < chunk.byteLength && free.length > 0) offset = post(chunk, offset);
      return offset < chunk.byteLength ? feed(chunk, offset) : undefined;
    },
    digests() {
      if (failure !== undefined) return Promise.reject(failure);
      return new Promise<DualDigests>((resolve, reject) => {
        settle = { resolve, reject };
        worker.postMessage({ end: true });
      });
    },
    dispose() {
      done = true;
      void worker.terminate();
    },
  };
}

/** The same on the calling thread. */
function inlineDualHasher(): DualHasher {
  const source = createHash("sha256");
  const layer = createHash("sha256");
  return {
    layerOnly: (bytes) => void layer.update(bytes),
    source(chunk) {
      source.update(chunk);
      layer.update(chunk);
      return undefined;
    },
    digests: () =>
      Promise.resolve({ source: `sha256:${source.digest("hex")}`, layer: `sha256:${layer.digest("hex")}` }),
    dispose: () => undefined,
  };
}
