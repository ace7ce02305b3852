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

/**
 * The one exponential backoff formula of the project: `initialMs · 2^failures`, capped at `maxMs`
 * (`failures` counts the failures before this one; 0 gives the first delay). Every backoff loop
 * (the work queue's and the registry client's rate limiter, informers, the webhook's apply and
 * certificate loops, the puller's layer retries) computes its delays here.
 */
export function exponentialDelayMs(failures: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** failures);
}

/**
 * Backoff for one retry loop: `fail()` returns the delay to wait after this failure and doubles
 * the next one (capped at `maxMs`); `reset()` after a success starts over at `initialMs`.
 * Before any failure the delay is `initialMs`, even above `maxMs` (the cap limits growth).
 */
export class Backoff {
  #failures = 0;
  #delayMs: number;

  constructor(
    readonly initialMs: number,
    readonly maxMs: number,
  ) {
    this.#delayMs = initialMs;
  }

  /** The delay the next failure waits. */
  get delayMs(): number {
    return this.#delayMs;
  }

  /** Records a failure: returns the delay to wait now, and doubles the next one up to `maxMs`. */
  fail(): number {
    const delayMs = this.#delayMs;
    this.#failures++;
    this.#delayMs = exponentialDelayMs(this.#failures, this.initialMs, this.maxMs);
    return delayMs;
  }

  /** After a success: the next failure waits `initialMs` again. */
  reset(): void {
    this.#failures = 0;
    this.#delayMs = this.initialMs;
  }
}

/** Per-item exponential backoff: base·2^failures, capped at max (defaults 5 ms → 1000 s). */
export function exponentialFailureRateLimiter<K>(baseMs = 5, maxMs = 1_000_000): RateLimiter<K> {
  const failures = new Map<K, number>();
  return {
    when(item) {
      const n = failures.get(item) ?? 0;
      failures.set(item, n + 1);
      return exponentialDelayMs(n, baseMs, maxMs);
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
