/**
 * A work queue that can add a key later, after client-go's `delaying_queue.go`. It adds exactly
 * one method, `addAfter`, over any `WorkQueue`.
 *
 * Guarantees (besides the base queue's):
 * - A key added with `addAfter(key, ms)` reaches the queue no earlier than `ms` after the call, as
 *   measured by the injected clock, and as soon as possible after that.
 * - Waiting keys are de-duplicated: for a key already waiting, the earliest deadline wins.
 * - At most one timer is pending at any time (for the earliest deadline).
 * - Shutting down cancels the timer and drops the waiting keys.
 */
import { systemClock, type Clock } from "./clock.js";
import { createWorkQueue, type WorkQueue } from "./queue.js";
import type { QueueMetrics } from "./queue-metrics.js";

/** A WorkQueue plus `addAfter` (client-go's TypedDelayingInterface). */
export interface DelayingQueue<K extends string = string> extends WorkQueue<K> {
  /** Adds the key once `delayMs` has passed; `delayMs <= 0` adds it now. Ignored while shutting down. */
  addAfter(key: K, delayMs: number): void;
}

/** Options of `createDelayingQueue`. */
export interface DelayingQueueOptions<K extends string> {
  /** Default: the system clock. Tests pass a FakeClock and `advance` it. */
  clock?: Clock;
  /** The queue keys are added to when due. Default: a new base queue with `metrics`. */
  queue?: WorkQueue<K>;
  /** Hooks for the base queue created when `queue` is not given. */
  metrics?: QueueMetrics<K>;
}

/** Creates a delaying queue over `options.queue` (default: a new base queue). */
export function createDelayingQueue<K extends string = string>(
  options: DelayingQueueOptions<K> = {},
): DelayingQueue<K> {
  const queue = options.queue ?? createWorkQueue<K>(options.metrics ? { metrics: options.metrics } : {});
  return new DelayingQueueImpl(queue, options.clock ?? systemClock);
}

interface Waiting<K> {
  key: K;
  readyAt: number;
}

/** A binary min-heap on `readyAt`. */
class DeadlineHeap<K> {
  readonly #items: Waiting<K>[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): Waiting<K> | undefined {
    return this.#items[0];
  }

  push(item: Waiting<K>): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.readyAt <= item.readyAt) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = item;
  }

  pop(): Waiting<K> | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child = right < items.length && items[right]!.readyAt < items[left]!.readyAt ? right : left;
      if (items[child]!.readyAt >= last.readyAt) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }

  clear(): void {
    this.#items.length = 0;
  }
}

class DelayingQueueImpl<K extends string> implements DelayingQueue<K> {
  readonly #queue: WorkQueue<K>;
  readonly #clock: Clock;
  /**
   * The deadline of every waiting key. Invariant: each entry has a heap node with the same
   * `readyAt`; heap nodes whose `readyAt` differs from this map (superseded) are skipped.
   */
  readonly #deadlines = new Map<K, number>();
  readonly #heap = new DeadlineHeap<K>();
  /** The pending timer. Invariant: when set, `at` is the earliest deadline in the heap. */
  #timer: { at: number; abort: AbortController } | undefined;

  constructor(queue: WorkQueue<K>, clock: Clock) {
    this.#queue = queue;
    this.#clock = clock;
  }

  addAfter(key: K, delayMs: number): void {
    if (this.#queue.shuttingDown()) return;
    if (!(delayMs > 0)) {
      this.#queue.add(key);
      return;
    }
    const readyAt = this.#clock.now() + delayMs;
    const current = this.#deadlines.get(key);
    if (current !== undefined && current <= readyAt) return;
    this.#deadlines.set(key, readyAt);
    this.#heap.push({ key, readyAt });
    this.#arm();
  }

  add(key: K): void {
    this.#queue.add(key);
  }

  get(): Promise<K | undefined> {
    return this.#queue.get();
  }

  done(key: K): void {
    this.#queue.done(key);
  }

  len(): number {
    return this.#queue.len();
  }

  shutDown(): void {
    this.#stopWaiting();
    this.#queue.shutDown();
  }

  shutDownWithDrain(): Promise<void> {
    this.#stopWaiting();
    return this.#queue.shutDownWithDrain();
  }

  shuttingDown(): boolean {
    return this.#queue.shuttingDown();
  }

  #stopWaiting(): void {
    this.#timer?.abort.abort();
    this.#timer = undefined;
    this.#deadlines.clear();
    this.#heap.clear();
  }

  /** The earliest live heap node, dropping superseded ones on the way. */
  #peek(): Waiting<K> | undefined {
    for (let top = this.#heap.peek(); top; top = this.#heap.peek()) {
      if (this.#deadlines.get(top.key) === top.readyAt) return top;
      this.#heap.pop();
    }
    return undefined;
  }

  /** Moves due keys into the queue, then sets the timer for the next deadline. */
  #flush(): void {
    const now = this.#clock.now();
    for (let top = this.#peek(); top && top.readyAt <= now; top = this.#peek()) {
      this.#heap.pop();
      this.#deadlines.delete(top.key);
      this.#queue.add(top.key);
    }
    this.#arm();
  }

  #arm(): void {
    const next = this.#peek();
    if (!next) {
      this.#timer?.abort.abort();
      this.#timer = undefined;
      return;
    }
    if (this.#timer && this.#timer.at <= next.readyAt) return;
    this.#timer?.abort.abort();
    const timer = { at: next.readyAt, abort: new AbortController() };
    this.#timer = timer;
    this.#clock.sleep(Math.max(0, next.readyAt - this.#clock.now()), timer.abort.signal).then(
      () => {
        if (this.#timer !== timer) return;
        this.#timer = undefined;
        this.#flush();
      },
      () => undefined, // cancelled: a nearer deadline or shutdown replaced this timer
    );
  }
}
