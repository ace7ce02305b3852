/**
 * Fairness between registries for the reconcile workers. One slow or throttling registry must
 * not hold every worker and starve the ModelDeployments of the others:
 * - at most `maxPerRegistry` reconciles talk to one registry at a time; a reconcile that finds
 *   its registry full does not wait for a slot (it would hold a worker), it is requeued;
 * - once a registry answers 429/503 with Retry-After, nobody asks it again before that time:
 *   the other ModelDeployments of that registry are requeued for then (their verified digests
 *   stay in service meanwhile).
 * Memory is bounded by the number of registries in use (entries are dropped when idle).
 */
import type { Clock } from "../runtime/clock.js";

export interface RegistryGateOptions {
  readonly clock: Clock;
  /** Concurrent reconciles per registry. */
  readonly maxPerRegistry: number;
  /** Registries remembered as throttled at most; the oldest are forgotten first. Default 10,000. */
  readonly maxThrottled?: number;
}

/** What a reconcile may do now. */
export type GateDecision =
  /** Go ahead; call `release` exactly once when done with the registry. */
  | { readonly enter: true; readonly release: () => void }
  /** Busy: try again after `retryAfterMs`. */
  | { readonly enter: false; readonly reason: "busy"; readonly retryAfterMs: number }
  /** The registry asked for a pause until `until` (epoch ms). */
  | {
      readonly enter: false;
      readonly reason: "throttled";
      readonly retryAfterMs: number;
      readonly until: number;
    };

/** How long a reconcile that found its registry busy waits before it is tried again. */
export const BUSY_RETRY_MS = 1_000;

export class RegistryGate {
  readonly #options: RegistryGateOptions;
  readonly #active = new Map<string, number>();
  readonly #throttledUntil = new Map<string, number>();

  constructor(options: RegistryGateOptions) {
    if (!Number.isInteger(options.maxPerRegistry) || options.maxPerRegistry < 1)
      throw new RangeError(`maxPerRegistry must be a positive integer, got ${options.maxPerRegistry}`);
    this.#options = options;
  }

  /** Asks to talk to `registry` (host[:port]). */
  enter(registry: string): GateDecision {
    const now = this.#options.clock.now();
    const until = this.#throttledUntil.get(registry);
    if (until !== undefined) {
      if (until > now) return { enter: false, reason: "throttled", retryAfterMs: until - now, until };
      this.#throttledUntil.delete(registry);
    }
    const active = this.#active.get(registry) ?? 0;
    if (active >= this.#options.maxPerRegistry) {
      // Spread the retries a little so the waiting reconciles do not all come back at once.
      return { enter: false, reason: "busy", retryAfterMs: BUSY_RETRY_MS + Math.floor(Math.random() * 500) };
    }
    this.#active.set(registry, active + 1);
    let released = false;
    return {
      enter: true,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.#active.get(registry) ?? 1) - 1;
        if (left <= 0) this.#active.delete(registry);
        else this.#active.set(registry, left);
      },
    };
  }

  /** Records that `registry` asked for a pause of `ms` (Retry-After); the later time wins. */
  throttle(registry: string, ms: number): void {
    if (!(ms > 0)) return;
    const until = this.#options.clock.now() + ms;
    const previous = this.#throttledUntil.get(registry);
    this.#throttledUntil.delete(registry);
    this.#throttledUntil.set(registry, Math.max(until, previous ?? 0));
    const max = this.#options.maxThrottled ?? 10_000;
    for (const key of this.#throttledUntil.keys()) {
      if (this.#throttledUntil.size <= max) break;
      this.#throttledUntil.delete(key);
    }
  }

  /** Reconciles currently talking to `registry` (for tests and metrics). */
  active(registry: string): number {
    return this.#active.get(registry) ?? 0;
  }
}
