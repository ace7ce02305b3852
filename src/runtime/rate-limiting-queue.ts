/**
 * A delaying queue with per-key backoff, after client-go's `rate_limiting_queue.go`. It adds
 * `addRateLimited`, `forget` and `numRequeues` over a `DelayingQueue` and a `RateLimiter`.
 *
 * Guarantees (besides the delaying queue's):
 * - `addRateLimited(key)` re-adds the key after the rate limiter's delay for it, which grows with
 *   each call until `forget(key)`.
 * - `forget` only clears the backoff history; the caller still calls `done` for the key it holds.
 */
import { systemClock, type Clock } from "./clock.js";
import { createDelayingQueue, type DelayingQueue } from "./delaying-queue.js";
import { noopQueueMetrics, type QueueMetrics } from "./queue-metrics.js";
import { defaultControllerRateLimiter, type RateLimiter } from "./rate-limiter.js";

/** A DelayingQueue plus per-key backoff (client-go's TypedRateLimitingInterface). */
export interface RateLimitingQueue<K extends string = string> extends DelayingQueue<K> {
  /** Adds the key after the rate limiter says it may; counts a retry. Ignored while shutting down. */
  addRateLimited(key: K): void;
  /** Clears the key's backoff history (after a success). The caller must still call `done`. */
  forget(key: K): void;
  /** How many times the key was re-added with backoff since it was last forgotten. */
  numRequeues(key: K): number;
}

/** Options of `createRateLimitingQueue`. */
export interface RateLimitingQueueOptions<K extends string> {
  /** Default: the system clock. */
  clock?: Clock;
  /** Default: `defaultControllerRateLimiter` on the clock (5 ms → 1000 s per key, 10 qps / burst 100). */
  rateLimiter?: RateLimiter<K>;
  /** Hooks for depth, adds, latencies and retries; default: none. */
  metrics?: QueueMetrics<K>;
  /** The queue to add to; default: a new delaying queue on the clock with `metrics`. */
  queue?: DelayingQueue<K>;
}

/** Creates the queue controllers use: delaying queue + rate limiter (default: client-go's). */
export function createRateLimitingQueue<K extends string = string>(
  options: RateLimitingQueueOptions<K> = {},
): RateLimitingQueue<K> {
  const clock = options.clock ?? systemClock;
  const metrics = options.metrics ?? noopQueueMetrics<K>();
  const queue = options.queue ?? createDelayingQueue<K>({ clock, metrics });
  const limiter = options.rateLimiter ?? defaultControllerRateLimiter<K>(() => clock.now());
  return {
    addRateLimited(key) {
      if (queue.shuttingDown()) return;
      metrics.retry(key);
      queue.addAfter(key, limiter.when(key));
    },
    forget: (key) => limiter.forget(key),
    numRequeues: (key) => limiter.numRequeues(key),
    addAfter: (key, delayMs) => queue.addAfter(key, delayMs),
    add: (key) => queue.add(key),
    get: () => queue.get(),
    done: (key) => queue.done(key),
    len: () => queue.len(),
    shutDown: () => queue.shutDown(),
    shutDownWithDrain: () => queue.shutDownWithDrain(),
    shuttingDown: () => queue.shuttingDown(),
  };
}
