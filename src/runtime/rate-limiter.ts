/**
 * Decides how long to wait before retrying an item, after client-go's workqueue rate limiters.
 * `when` records one more failure of the item and returns the delay; `forget` clears its history
 * once it succeeded (the caller must still finish its own bookkeeping).
 */
export interface RateLimiter<K> {
  when(item: K): number;
  forget(item: K): void;
  numRequeues(item: K): number;
}

/** Per-item exponential backoff: base·2^failures, capped at max (defaults 5 ms → 1000 s). */
export function exponentialFailureRateLimiter<K>(baseMs = 5, maxMs = 1_000_000): RateLimiter<K> {
  const failures = new Map<K, number>();
  return {
    when(item) {
      const n = failures.get(item) ?? 0;
      failures.set(item, n + 1);
      return Math.min(maxMs, baseMs * 2 ** n);
    },
    forget(item) {
      failures.delete(item);
    },
    numRequeues(item) {
      return failures.get(item) ?? 0;
    },
  };
}

/** A token bucket shared by all items: `qps` sustained, `burst` at once. */
export function bucketRateLimiter<K>(
  qps: number,
  burst: number,
  now: () => number = Date.now,
): RateLimiter<K> {
  let tokens = burst;
  let last = now();
  return {
    when() {
      const t = now();
      tokens = Math.min(burst, tokens + ((t - last) / 1000) * qps);
      last = t;
      tokens -= 1;
      return tokens >= 0 ? 0 : Math.ceil((-tokens / qps) * 1000);
    },
    forget() {},
    numRequeues() {
      return 0;
    },
  };
}

/** The slowest answer of several limiters wins (client-go's MaxOf). */
export function maxOf<K>(...limiters: RateLimiter<K>[]): RateLimiter<K> {
  return {
    when: (item) => Math.max(0, ...limiters.map((l) => l.when(item))),
    forget: (item) => limiters.forEach((l) => l.forget(item)),
    numRequeues: (item) => Math.max(0, ...limiters.map((l) => l.numRequeues(item))),
  };
}

/**
 * controller-runtime's default controller rate limiter: the slower of per-item exponential
 * backoff (5 ms doubling to 1000 s) and one token bucket shared by all items (10 qps, burst 100).
 * `now` reads the clock the bucket refills by (pass the injected `Clock`'s `now`).
 */
export function defaultControllerRateLimiter<K>(now: () => number = Date.now): RateLimiter<K> {
  return maxOf(exponentialFailureRateLimiter<K>(5, 1_000_000), bucketRateLimiter<K>(10, 100, now));
}
