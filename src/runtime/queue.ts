/**
 * The base work queue, after client-go's `workqueue.Typed`: a de-duplicating FIFO of keys that
 * workers take with `get` and hand back with `done`. Delay (`delaying-queue.ts`) and backoff
 * (`rate-limiting-queue.ts`) are layers on top; this layer knows nothing about time.
 *
 * Guarantees:
 * - Fair: keys are handed out in the order they were first added, and pending `get` calls are
 *   served in the order they were made.
 * - Stingy: a key is queued at most once however often it is added before a worker gets it, and
 *   it is never held by two workers at once. A key added while a worker holds it is queued again
 *   only when that worker calls `done`, so the newest state is always processed once more.
 * - Shutdown: after `shutDown` (or `shutDownWithDrain`) adds are ignored; `get` keeps handing out
 *   the keys already queued and resolves `undefined` once none are left, which tells a worker to
 *   exit. `shutDownWithDrain` resolves once every key handed out has been `done`.
 * - Single-threaded: every method runs synchronously to completion; `get` resolves in a microtask.
 */
import { noopQueueMetrics, type QueueMetrics } from "./queue-metrics.js";

/** The seven methods of client-go's `TypedInterface`. Keys are strings such as `namespace/name`. */
export interface WorkQueue<K extends string = string> {
  /** Marks the key as needing processing. Ignored while shutting down. */
  add(key: K): void;
  /**
   * Resolves with the next key, waiting until one is available. The caller owns the key until it
   * calls `done(key)` and must call it exactly once, also when processing failed. Resolves
   * `undefined` once the queue is shutting down and empty: the worker must then exit.
   */
  get(): Promise<K | undefined>;
  /** Ends the processing of a key got from `get`; re-queues it if it was added meanwhile. */
  done(key: K): void;
  /** Number of keys waiting to be handed out (not counting keys being processed). */
  len(): number;
  /** Stops intake; workers drain what is queued, then `get` resolves `undefined`. Idempotent. */
  shutDown(): void;
  /**
   * Like `shutDown`, then resolves once every key handed out has been `done`. Workers must keep
   * calling `get` and `done` until `get` resolves `undefined`, or this never resolves.
   */
  shutDownWithDrain(): Promise<void>;
  shuttingDown(): boolean;
}

/** Options of `createWorkQueue`. */
export interface WorkQueueOptions<K extends string> {
  /** Hooks for depth, adds and latencies; default: none. See `createWorkQueueMetrics`. */
  metrics?: QueueMetrics<K>;
}

/** Creates the base queue. */
export function createWorkQueue<K extends string = string>(options: WorkQueueOptions<K> = {}): WorkQueue<K> {
  return new BaseQueue<K>(options.metrics ?? noopQueueMetrics<K>());
}

/** A FIFO over an array with a moving head: O(1) amortised push and shift. */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

class BaseQueue<K extends string> implements WorkQueue<K> {
  /** Keys waiting to be handed out. Invariant: every key here is in `#dirty` and not in `#processing`, once. */
  readonly #queue = new Fifo<K>();
  /** Keys that need processing: queued, or added again while being processed. */
  readonly #dirty = new Set<K>();
  /** Keys handed out by `get` and not yet `done`. Invariant: disjoint from the keys in `#queue`. */
  readonly #processing = new Set<K>();
  /** Pending `get` calls. Invariant: non-empty only while `#queue` is empty and not shutting down. */
  readonly #waiters = new Fifo<(key: K | undefined) => void>();
  readonly #metrics: QueueMetrics<K>;
  #shuttingDown = false;
  /** Resolvers of `shutDownWithDrain` calls, run once `#processing` is empty. */
  #drained: (() => void)[] = [];

  constructor(metrics: QueueMetrics<K>) {
    this.#metrics = metrics;
  }

  add(key: K): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#metrics.add(key);
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#enqueue(key);
  }

  get(): Promise<K | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) return Promise.resolve(this.#handOut(key));
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  done(key: K): void {
    if (!this.#processing.delete(key)) return;
    this.#metrics.done(key);
    if (this.#dirty.has(key)) this.#enqueue(key);
    else if (this.#processing.size === 0) this.#notifyDrained();
  }

  len(): number {
    return this.#queue.length;
  }

  shutDown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    // Waiters exist only while the queue is empty, so each of them is told to exit.
    for (let resolve = this.#waiters.shift(); resolve; resolve = this.#waiters.shift()) resolve(undefined);
  }

  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.#processing.size === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Gives a dirty, not-processing key to the first waiter, or queues it. */
  #enqueue(key: K): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(this.#handOut(key));
    else this.#queue.push(key);
  }

  #handOut(key: K): K {
    this.#dirty.delete(key);
    this.#processing.add(key);
    this.#metrics.get(key);
    return key;
  }

  #notifyDrained(): void {
    if (this.#queue.length > 0) return;
    for (const resolve of this.#drained.splice(0)) resolve();
  }
}
