/**
 * Downloads one blob into a file over one or more HTTP connections, resumably.
 *
 * Guarantees:
 * - The file is verified whole: its SHA-256 (or SHA-512) is computed over the contiguous prefix
 *   as parts land (blob-writer.ts: bytes at the prefix are hashed from memory, bytes further on
 *   are read back from the page cache when the prefix reaches them, each byte once), and the
 *   download succeeds only when the whole file matches the digest. Nothing here makes the file
 *   visible: the caller places it after success.
 * - Parts are written in place at their offsets. The connection count adapts (byte-ranges.ts
 *   `nextGrowth`): one connection first; more while they pay (judged on the rate of the whole
 *   `group` of downloads, and never tried while reads find bytes queued for this process, which
 *   then sets the pace itself); fewer after a 429 or 503, whose Retry-After is honoured within a
 *   bound. A registry that ignores Range (200), or answers a Content-Range other than the one
 *   asked for, gets one stream from the start.
 * - Memory is a pool of 1 MiB buffers per download (4, plus 2 per further connection allowed,
 *   at most 24) and a 64 KiB read buffer per connection, whatever the blob's size; reading waits
 *   for a free buffer.
 * - With `resume`, the ranges written so far are recorded beside the file (`<file>.json`, at
 *   most every `CHECKPOINT_MS` and when the download stops) and a later download continues from
 *   them: they are hashed from the file like any part, so they are trusted only once the whole
 *   file matches its digest. A resumed file that does not match is downloaded again from the
 *   start, once.
 */
import { open, readFile, rename, rm, stat, writeFile, type FileHandle } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { z } from "zod";
import { systemClock, type Clock } from "../runtime/clock.js";
import { exponentialDelayMs } from "../runtime/rate-limiter.js";
import {
  BlobWriteError,
  inlineWriter,
  workerWriter,
  type BlobWriter,
  type BlobWriterFactory,
} from "./blob-writer.js";
import {
  addRange,
  contentRangeProblem,
  coveredBytes,
  readsBacklogged,
  missingRanges,
  nextGrowth,
  partBytes,
  type ByteRange,
  type GrowthState,
} from "./byte-ranges.js";
import { DigestMismatchError, RegistryError } from "./errors.js";
import { STOP, type BlobResponse } from "./blob-download.js";
import { errorCodeFor, parseRetryAfter, RETRYABLE_STATUS } from "./registry-response.js";

const MiB = 1024 * 1024;
const BUFFER_BYTES = MiB;
/** How often the rate is measured and the connection count reconsidered. */
const WINDOW_MS = 400;
/** How often the written ranges are recorded for a resume. */
const CHECKPOINT_MS = 1_000;
/** Failed requests in a row (no part finished in between) before the download gives up. */
const MAX_STRIKES = 6;
/** The longest wait a 429/503 gets, whatever its Retry-After says. */
const MAX_THROTTLE_WAIT_MS = 30_000;
/** Blobs below this size are fetched in one request: parts would cost more than they save. */
const RANGED_MIN_BYTES = 16 * MiB;
/** A part is split for an idle connection only if both halves get at least this much. */
const MIN_STEAL_BYTES = 4 * MiB;

export interface RangedDownloadOptions {
  /** The file to write (created, or continued with `resume`); mode 0600. */
  readonly path: string;
  readonly digest: string;
  readonly size: number;
  /** Names the blob in errors. */
  readonly what: string;
  /**
   * Sends one GET for the blob, with `Range: bytes=…` when `range` is given, following redirects
   * (credentials stay with the registry's origin) and answering auth challenges.
   */
  readonly open: (range: ByteRange | undefined, signal: AbortSignal) => Promise<BlobResponse>;
  /** The most connections at once. Default 1. */
  readonly maxConnections?: number;
  /** Continue from `<path>.json` if it describes this blob, and keep it up to date. */
  readonly resume?: boolean;
  readonly signal?: AbortSignal;
  /** Bytes received from the registry by this download. */
  readonly onBytes?: (bytes: number) => void;
  /** Bytes found already written by an earlier download (once, before any `onBytes`). */
  readonly onResumed?: (bytes: number) => void;
  readonly clock?: Clock;
  /** Hashes and writes; default `workerWriter`. */
  readonly writer?: BlobWriterFactory;
  /**
   * The share of the machine's CPU (0–1) the process used since the last call; default from
   * `process.cpuUsage` (all its threads). Over 0.5, no connection is added. Tests whose servers
   * share the process pass their own.
   */
  readonly cpuShare?: () => number;
  /**
   * The other downloads running beside this one (a pull's layers): connections are then added
   * only while they make the whole group faster, and one download at a time tries. Default: a
   * group of its own.
   */
  readonly group?: DownloadGroup;
}

/**
 * Downloads that share a machine and a registry (one pull's layers). On a CPU-bound machine a
 * download that adds connections only takes bytes/s from the others: its own rate rises, the
 * pull's does not. So the group counts their connections and bytes, a step is judged on the
 * group's rate (byte-ranges.ts `nextGrowth`), and one download at a time tries more connections.
 */
export class DownloadGroup {
  /** Bytes received by the group's downloads so far. */
  received = 0;
  /** Connections open in the group's downloads now. */
  connections = 0;
  /** The download whose added connections are being judged, if any. */
  prober: object | undefined;
}

/**
 * `done`: the file holds the verified blob (`received` of its bytes came now, the rest from an
 * earlier download). `fallback`: the registry's first answer was not a blob (401 without a known
 * scheme, 404 …): the caller asks again through its general path, which explains the failure.
 */
export type RangedDownloadResult =
  | { readonly kind: "done"; readonly received: number; readonly resumed: number }
  | { readonly kind: "fallback"; readonly status: number };

/** What is recorded beside a partial file. */
const ResumeState = z.object({
  digest: z.string(),
  size: z.number().int().nonnegative(),
  written: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
});
type ResumeState = z.infer<typeof ResumeState>;

/** The file that records a partial download's progress. */
export const resumeStatePath = (path: string): string => `${path}.json`;

/**
 * Downloads the blob into `options.path` (see the module comment). Throws RegistryError
 * (retryable for resets, cut-short bodies, timeouts, 429/5xx beyond the bounds),
 * DigestMismatchError, BlobWriteError, or the signal's reason. After a failure the file and, with
 * `resume`, its record stay for the next attempt; the caller removes them when it gives up.
 */
export async function downloadRanged(options: RangedDownloadOptions): Promise<RangedDownloadResult> {
  let written = options.resume === true ? await readResumeState(options) : [];
  let rangesRefused = false;
  for (let attempt = 0; ; attempt++) {
    const handle = await open(options.path, written.length > 0 ? "r+" : "w+", 0o600);
    try {
      return await new Download(options, handle, written, rangesRefused).run();
    } catch (err) {
      const resumed = coveredBytes(written);
      if (attempt === 0 && err instanceof RangesRefused) {
        rangesRefused = true; // one stream from the start, into an emptied file
      } else if (attempt === 0 && resumed > 0 && err instanceof DigestMismatchError) {
        // bytes kept from an earlier download (perhaps cut off mid-write by a crash): start over
      } else throw err;
      written = [];
      await rm(resumeStatePath(options.path), { force: true });
    } finally {
      await handle.close();
    }
  }
}

/** Removes a partial file and its record. */
export async function discardPartial(path: string): Promise<void> {
  await rm(path, { force: true });
  await rm(resumeStatePath(path), { force: true });
}

/** The ranges an earlier download recorded for this blob, if the record and file agree with it. */
async function readResumeState(options: RangedDownloadOptions): Promise<ByteRange[]> {
  const raw = await readFile(resumeStatePath(options.path), "utf8").catch(() => undefined);
  const parsed = raw === undefined ? undefined : ResumeState.safeParse(JSON.parse(raw.trim() || "null"));
  const fileSize = (await stat(options.path).catch(() => undefined))?.size;
  if (parsed?.success !== true || fileSize === undefined) return [];
  const { digest, size, written } = parsed.data;
  if (digest !== options.digest || size !== options.size) return [];
  let ranges: ByteRange[] = [];
  for (const [s, e] of written) if (s < e && e <= Math.min(size, fileSize)) ranges = addRange(ranges, [s, e]);
  return ranges;
}

/** The registry ignored Range or answered another one: start again with one plain stream. */
class RangesRefused extends Error {}

/** The registry's first answer was not the blob: the caller's general path takes over. */
class Fallback extends Error {
  constructor(readonly status: number) {
    super(`fallback (${status})`);
  }
}

/** One request's share of the blob; `end` may move down while it runs (its tail given to others). */
interface Part {
  readonly start: number;
  /** The next byte to receive. */
  cur: number;
  end: number;
  /** The buffer being filled, its file position and how much it holds. */
  buffer?: Buffer;
  bufferAt: number;
  filled: number;
}

class Download {
  readonly #o: RangedDownloadOptions;
  readonly #writer: BlobWriter;
  readonly #clock: Clock;
  readonly #abort = new AbortController();
  readonly #max: number;
  readonly #partBytes: number;
  readonly #resumed: number;
  /** Ranges written to the file (confirmed by the writer), merged. */
  #written: ByteRange[];
  /** Ranges nobody is fetching yet, in order. */
  #todo: ByteRange[];
  readonly #parts = new Set<Part>();
  /** Whether the blob may be split into parts on several connections. */
  #ranged: boolean;
  /** The registry ignored Range (or answered a wrong one): one stream from the start, no resume. */
  readonly #rangesRefused: boolean;
  #connections = 0;
  readonly #group: DownloadGroup;
  #growth: GrowthState;
  #received = 0;
  #strikes = 0;
  #failure: { readonly error: unknown } | undefined;
  #requests = 0;
  // Buffers: the pool, how many exist, who waits for one, and writes in flight.
  readonly #free: Buffer[] = [];
  #allocated = 0;
  readonly #maxBuffers: number;
  readonly #bufferBytes: number;
  readonly #waiting: ((buffer: Buffer) => void)[] = [];
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #checkpointed = "";
  #checkpointing: Promise<void> = Promise.resolve();
  readonly #running: Promise<void>[] = [];

  constructor(
    options: RangedDownloadOptions,
    handle: FileHandle,
    written: ByteRange[],
    rangesRefused: boolean,
  ) {
    this.#o = options;
    this.#group = options.group ?? new DownloadGroup();
    this.#clock = options.clock ?? systemClock;
    this.#written = written;
    this.#resumed = coveredBytes(written);
    this.#todo = missingRanges(options.size, written);
    const algorithm = options.digest.split(":")[0] ?? "sha256";
    // Blobs that fit a few buffers are hashed inline: a thread costs more than their work.
    const factory =
      options.writer ?? (options.size <= 8 * MiB && written.length === 0 ? inlineWriter : workerWriter);
    this.#writer = factory(algorithm, handle.fd, { written });
    // Parts need a writer that takes buffers at any offset (the writer thread).
    this.#rangesRefused = rangesRefused;
    this.#ranged = !rangesRefused && options.size >= RANGED_MIN_BYTES && this.#writer.positioned;
    this.#max = this.#ranged ? Math.max(1, options.maxConnections ?? 1) : 1;
    this.#partBytes = partBytes(options.size, this.#max);
    this.#growth = { growing: this.#max > 1, limit: 1 };
    this.#bufferBytes = Math.max(1, Math.min(BUFFER_BYTES, options.size));
    this.#maxBuffers = Math.min(24, 4 + 2 * (this.#max - 1));
  }

  async run(): Promise<RangedDownloadResult> {
    const { signal } = this.#o;
    const onAbort = (): void => this.#fail(signal?.reason);
    if (signal?.aborted === true) throw signal.reason;
    signal?.addEventListener("abort", onAbort, { once: true });
    if (this.#resumed > 0) this.#o.onResumed?.(this.#resumed);
    const timer = setInterval(() => this.#tick(), WINDOW_MS);
    timer.unref();
    try {
      if (this.#todo.length > 0) this.#spawn();
      // Connections may start more connections: wait until none is left.
      for (let settled = 0; settled < this.#running.length;) {
        const count = this.#running.length;
        await Promise.allSettled(this.#running);
        settled = count;
      }
      await this.#writesDone();
      if (this.#failure !== undefined) throw this.#failure.error;
      const actual = await this.#writer.digest(this.#o.size);
      if (actual !== this.#o.digest) throw new DigestMismatchError(this.#o.what, this.#o.digest, actual);
      // No checkpoint may land after the record is removed: stop the ticks, let a write in flight end.
      clearInterval(timer);
      await this.#checkpointing;
      await rm(resumeStatePath(this.#o.path), { force: true });
      return { kind: "done", received: this.#received, resumed: this.#resumed };
    } catch (err) {
      this.#writer.dispose();
      if (err instanceof Fallback) return { kind: "fallback", status: err.status };
      throw err;
    } finally {
      clearInterval(timer);
      if (this.#group.prober === this) this.#group.prober = undefined;
      signal?.removeEventListener("abort", onAbort);
      if (this.#o.resume === true && this.#failure !== undefined) await this.#checkpoint();
      await this.#checkpointing;
    }
  }

  #spawn(): void {
    this.#connections++;
    this.#group.connections++;
    this.#running.push(
      this.#connection().finally(() => {
        this.#connections--;
        this.#group.connections--;
      }),
    );
  }

  /** One connection: parts one after another until none is left, it is over the limit, or a failure. */
  async #connection(): Promise<void> {
    while (this.#failure === undefined) {
      const part = this.#take();
      if (part === undefined) return;
      const before = part.cur;
      try {
        await this.#fetch(part);
        this.#strikes = 0;
      } catch (err) {
        this.#release(part);
        if (this.#failure !== undefined) return;
        if (err instanceof Fallback || err instanceof RangesRefused) return this.#fail(err);
        // Without ranges a stream cut short cannot continue: the caller starts it again.
        if (!(err instanceof RegistryError) || !err.retryable || (this.#rangesRefused && part.cur > 0))
          return this.#fail(err);
        const error = err;
        if (part.cur - before < MiB) this.#strikes++;
        if (this.#strikes >= MAX_STRIKES) return this.#fail(error);
        const throttled = error.status === 429 || error.status === 503;
        if (throttled) {
          // The registry asks for fewer requests: one connection less, and no more growth.
          this.#growth = { growing: false, limit: Math.max(1, this.#connections - 1) };
          if (this.#connections > this.#growth.limit) return;
        }
        const delay = Math.min(
          MAX_THROTTLE_WAIT_MS,
          error.retryAfterSeconds !== undefined
            ? error.retryAfterSeconds * 1000
            : exponentialDelayMs(this.#strikes, 200, 5_000),
        );
        try {
          await this.#clock.sleep(delay, this.#abort.signal);
        } catch {
          return;
        }
        continue;
      }
      this.#release(part);
      if (this.#connections > this.#growth.limit) return;
    }
  }

  /** The next part for a connection: the first range nobody fetches, or half of the largest part. */
  #take(): Part | undefined {
    const cap = this.#growth.limit > 1 ? this.#partBytes : Infinity;
    if (this.#todo.length === 0 && this.#ranged) {
      let largest: Part | undefined;
      for (const p of this.#parts)
        if (largest === undefined || p.end - p.cur > largest.end - largest.cur) largest = p;
      if (largest !== undefined) {
        const left = largest.end - largest.cur;
        // Cut a long part after its next `cap` bytes, or halve a short one (the tail of the blob).
        const keep =
          left > 2 * this.#partBytes && cap !== Infinity
            ? this.#partBytes
            : left >= 2 * MIN_STEAL_BYTES
              ? Math.floor(left / 2 / MiB) * MiB
              : 0;
        if (keep > 0) {
          this.#todo = [[largest.cur + keep, largest.end]];
          largest.end = largest.cur + keep;
        }
      }
    }
    const next = this.#todo[0];
    if (next === undefined) return undefined;
    const end = Math.min(next[1], next[0] + cap);
    this.#todo = end === next[1] ? this.#todo.slice(1) : [[end, next[1]], ...this.#todo.slice(1)];
    const part: Part = { start: next[0], cur: next[0], end, bufferAt: next[0], filled: 0 };
    this.#parts.add(part);
    return part;
  }

  /** A part that ended (or failed): what it did not receive goes back to the ranges to fetch. */
  #release(part: Part): void {
    this.#flush(part);
    this.#parts.delete(part);
    if (part.cur < part.end) {
      this.#todo = addRange(this.#todo, [part.cur, part.end]);
      part.end = part.cur;
    }
  }

  /** One request for one part, its body placed into buffers at its offsets. */
  async #fetch(part: Part): Promise<void> {
    const asked: ByteRange = [part.cur, part.end];
    const first = this.#requests++ === 0;
    // A single stream asks for a range too when it continues an earlier one.
    const useRange = !this.#rangesRefused && (this.#ranged || part.cur > 0);
    const res = await this.#o.open(useRange ? asked : undefined, this.#abort.signal);
    if (res.status === 206 && useRange) {
      const problem = contentRangeProblem(res.header("content-range"), asked, this.#o.size);
      if (problem !== undefined) {
        await res.discard();
        throw new RangesRefused(`${this.#o.what}: ${problem}`);
      }
      const end = Number(/-(\d+)\//.exec(res.header("content-range") ?? "")?.[1]) + 1;
      if (end < part.end) {
        this.#todo = addRange(this.#todo, [end, part.end]); // a shorter answer: the rest is asked again
        part.end = end;
      }
    } else if (res.status === 200) {
      const length = res.header("content-length");
      if (length !== undefined && Number(length) !== this.#o.size) {
        await res.discard();
        throw new RegistryError(
          "InvalidResponse",
          `${this.#o.what}: registry announces ${length} bytes, descriptor declares ${this.#o.size}`,
        );
      }
      // Range ignored: usable only as the one stream of a download that has nothing else yet.
      const alone =
        part.cur === 0 && this.#parts.size === 1 && this.#written.length === 0 && this.#todo.length === 0;
      if (!alone) {
        await res.discard();
        throw new RangesRefused(`${this.#o.what}: the registry ignored Range`);
      }
      this.#ranged = false;
      this.#growth = { growing: false, limit: 1 };
    } else {
      await res.discard();
      // Anything else first: the caller's general path asks again and explains it.
      if (first && !RETRYABLE_STATUS.has(res.status)) throw new Fallback(res.status);
      const retryAfterSeconds = parseRetryAfter(res.header("retry-after"), this.#clock.now());
      throw new RegistryError(
        errorCodeFor(res.status),
        `${this.#o.what}: HTTP ${res.status} for bytes ${asked[0]}-${asked[1] - 1}`,
        {
          status: res.status,
          retryable: RETRYABLE_STATUS.has(res.status),
          ...(retryAfterSeconds !== undefined && { retryAfterSeconds }),
        },
      );
    }
    // The socket reads straight into the part's buffer where it can (`#room`); other chunks are
    // copied into it before the next read reuses their memory.
    await res.consume(
      (chunk) => {
        this.#reads++;
        this.#readBytes += chunk.length;
        const room = part.end - part.cur;
        if (room <= 0 || this.#failure !== undefined) return STOP;
        const waiting = this.#place(part, chunk.length > room ? chunk.subarray(0, room) : chunk);
        if (waiting !== undefined) return waiting;
        return part.cur >= part.end ? STOP : undefined;
      },
      () => this.#room(part),
    );
    if (part.cur < part.end && this.#failure === undefined) {
      throw new RegistryError(
        "InvalidResponse",
        `${this.#o.what}: connection closed after ${part.cur - asked[0]} of ${part.end - asked[0]} bytes (bytes ${asked[0]}-${part.end - 1})`,
        { retryable: true },
      );
    }
  }

  /**
   * Where the part's next bytes go: the free end of its buffer (one is taken from the pool if it
   * has none), at most up to the part's end; undefined when the pool has none free or a failure
   * stops the download. The part keeps that buffer until `#place` fills it.
   */
  #room(part: Part): Buffer | undefined {
    if (this.#failure !== undefined || part.cur >= part.end) return undefined;
    if (part.buffer === undefined) {
      const buffer = this.#takeBuffer();
      if (buffer === undefined) return undefined;
      part.buffer = buffer;
      part.bufferAt = part.cur;
      part.filled = 0;
    }
    const length = Math.min(part.buffer.length - part.filled, part.end - part.cur);
    return part.buffer.subarray(part.filled, part.filled + length);
  }

  /**
   * Takes received bytes into the part's buffers (copied, unless the socket read them in place at
   * `#room`); a promise when it must wait for a free buffer.
   */
  #place(part: Part, bytes: Buffer): Promise<void> | undefined {
    const buffer = part.buffer;
    if (
      buffer !== undefined &&
      bytes.buffer === buffer.buffer &&
      bytes.byteOffset === buffer.byteOffset + part.filled &&
      bytes.length <= buffer.length - part.filled
    ) {
      this.#took(part, buffer, bytes.length);
      return undefined;
    }
    let offset = 0;
    while (offset < bytes.length) {
      if (part.buffer === undefined) {
        const buffer = this.#takeBuffer();
        if (buffer === undefined) {
          return new Promise<void>((resolve) => {
            this.#waiting.push((b) => {
              if (this.#failure !== undefined) return resolve();
              part.buffer = b;
              part.bufferAt = part.cur;
              part.filled = 0;
              resolve(this.#place(part, bytes.subarray(offset)));
            });
          });
        }
        part.buffer = buffer;
        part.bufferAt = part.cur;
        part.filled = 0;
      }
      const n = bytes.copy(part.buffer, part.filled, offset);
      offset += n;
      this.#took(part, part.buffer, n);
    }
    return undefined;
  }

  /** `n` more bytes of the part are in its `buffer`; a full buffer goes to the writer. */
  #took(part: Part, buffer: Buffer, n: number): void {
    part.filled += n;
    part.cur += n;
    this.#received += n;
    this.#group.received += n;
    this.#o.onBytes?.(n);
    if (part.filled === buffer.length) this.#flush(part);
  }

  #takeBuffer(): Buffer | undefined {
    const free = this.#free.pop();
    if (free !== undefined) return free;
    // 4 buffers for the first connection, 2 more for each further one allowed now.
    if (this.#allocated >= Math.min(this.#maxBuffers, 4 + 2 * (this.#growth.limit - 1))) return undefined;
    this.#allocated++;
    return this.#writer.allocate(this.#bufferBytes);
  }

  /** Hands the part's buffer to the writer. */
  #flush(part: Part): void {
    const buffer = part.buffer;
    if (buffer === undefined) return;
    part.buffer = undefined;
    if (part.filled === 0 || this.#failure !== undefined) return this.#giveBack(buffer);
    const range: ByteRange = [part.bufferAt, part.bufferAt + part.filled];
    this.#inFlight++;
    this.#writer.write(buffer, part.filled, part.bufferAt, (err) => {
      this.#inFlight--;
      if (err !== undefined) {
        const { code, retryable } =
          err instanceof BlobWriteError ? err : { code: undefined, retryable: false };
        this.#fail(new BlobWriteError(`cannot write ${this.#o.path}: ${err.message}`, { code, retryable }));
      } else this.#written = addRange(this.#written, range);
      this.#giveBack(buffer);
      if (this.#inFlight === 0) this.#drained?.();
    });
  }

  #giveBack(buffer: Buffer): void {
    const waiter = this.#waiting.shift();
    if (waiter !== undefined && this.#failure === undefined) waiter(buffer);
    else this.#free.push(buffer);
  }

  #writesDone(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#drained = resolve));
  }

  #fail(error: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = { error };
    this.#abort.abort(error);
    // Connections waiting for a buffer end now.
    for (const waiter of this.#waiting.splice(0)) waiter(Buffer.alloc(0));
  }

  /** Every window: reconsider the connection count, and record progress for a resume. */
  #tick(): void {
    if (this.#failure !== undefined) return;
    const received = this.#received;
    const rate = ((received - this.#lastReceived) * 1000) / WINDOW_MS;
    // A window in which the first bytes came is not a rate to judge by: it holds the request's
    // round trip and, in a pull, the other downloads' start.
    const steady = this.#lastReceived > 0;
    this.#lastReceived = received;
    const group = this.#group;
    const groupRate = ((group.received - this.#lastGroupReceived) * 1000) / WINDOW_MS;
    this.#lastGroupReceived = group.received;
    const cpuBusy = (this.#o.cpuShare ?? (() => this.#processCpuShare()))() > 0.5;
    const backlogged = readsBacklogged(this.#reads, this.#readBytes);
    this.#reads = 0;
    this.#readBytes = 0;
    if (this.#ranged && steady && (group.prober === undefined || group.prober === this)) {
      let remaining = coveredBytes(this.#todo);
      for (const p of this.#parts) remaining += p.end - p.cur;
      const next = nextGrowth(this.#growth, {
        connections: this.#connections,
        rate,
        max: this.#max,
        remaining,
        part: this.#partBytes,
        cpuBusy,
        backlogged,
        group: { connections: group.connections, rate: groupRate },
      });
      this.#growth = next;
      group.prober = next.probe !== undefined ? this : undefined;
      for (let i = 0; i < next.add; i++) this.#spawn();
    }
    if (this.#o.resume === true && this.#clock.now() - this.#lastCheckpoint >= CHECKPOINT_MS) {
      this.#lastCheckpoint = this.#clock.now();
      void this.#checkpoint();
    }
  }

  /** All of the process's threads (other downloads' too): its share of the machine since the last call. */
  #processCpuShare(): number {
    const cpu = process.cpuUsage();
    const micros = cpu.user + cpu.system - this.#lastCpuMicros;
    this.#lastCpuMicros = cpu.user + cpu.system;
    return micros / (WINDOW_MS * 1000 * availableParallelism());
  }

  #lastReceived = 0;
  #lastGroupReceived = 0;
  /** Socket reads (chunks handed over) in the current window, and their bytes. */
  #reads = 0;
  #readBytes = 0;
  #lastCpuMicros = process.cpuUsage().user + process.cpuUsage().system;
  #lastCheckpoint = 0;

  /** Records the written ranges beside the file (a temporary file renamed over the record). */
  #checkpoint(): Promise<void> {
    this.#checkpointing = this.#checkpointing.then(async () => {
      const state: ResumeState = {
        digest: this.#o.digest,
        size: this.#o.size,
        written: this.#written.map(([s, e]) => [s, e]),
      };
      const text = JSON.stringify(state);
      if (text === this.#checkpointed) return;
      const path = resumeStatePath(this.#o.path);
      await writeFile(`${path}.tmp`, text, { mode: 0o600 })
        .then(() => rename(`${path}.tmp`, path))
        .then(() => (this.#checkpointed = text))
        .catch(() => undefined); // a resume costs bytes, never the download
    });
    return this.#checkpointing;
  }
}
