/**
 * The generic controller loop, after controller-runtime's `pkg/internal/controller`: workers take
 * keys from a rate-limiting queue and call a level-based reconcile function; only its outcome
 * decides what happens next.
 *
 * Guarantees:
 * - A key is reconciled by at most one worker at a time (the queue is stingy), with at most
 *   `workers` reconciles in flight overall.
 * - Outcomes (controller-runtime's `reconcileHandler`):
 *   - resolves without `requeueAfterMs` → `forget` (backoff history cleared); result `success`;
 *   - resolves with `requeueAfterMs > 0` → `forget`, then `addAfter(key, requeueAfterMs)`; `requeue_after`;
 *   - throws a `TerminalError` (or an error caused by one) → no retry, `forget`; logged and counted
 *     in the errors and terminal-errors totals; result `error`;
 *   - throws anything else → `addRateLimited` (per-key exponential backoff); logged and counted; `error`.
 * - Workers start only after every `waitForSync` source has synced; if they have not after
 *   `cacheSyncTimeoutMs`, `start` rejects.
 * - Stopping (the signal aborts): the queue stops taking keys, keys still queued are dropped
 *   without a reconcile, in-flight reconciles see the aborted signal, and `start` resolves once
 *   they have all returned. A reconcile that throws after the stop is logged at info, neither
 *   retried nor counted.
 * - Every reconcile gets a child logger with `controller`, `namespace`, `name` and `reconcileID`.
 */
import { randomUUID } from "node:crypto";
import { describeError, OperatorError } from "../errors.js";
import { systemClock, type Clock } from "./clock.js";
import type { ControllerMetrics, ControllerSeries, ReconcileOutcome } from "./controller-metrics.js";
import { splitObjectKey } from "./keys.js";
import type { Logger } from "./logger.js";
import type { RateLimitingQueue } from "./rate-limiting-queue.js";
import { whenAborted, type Runnable, type Syncable } from "./runnable.js";

/**
 * A failure that retrying will not fix (an invalid spec, a permanently missing artifact): the
 * controller logs and counts it but does not requeue. The next change to the object reconciles it
 * again. `reason` is a CamelCase condition reason for the reconciler to report.
 */
export class TerminalError extends OperatorError<"Terminal"> {
  readonly reason: string | undefined;

  constructor(message: string, options: { reason?: string; cause?: unknown } = {}) {
    super("Terminal", message, { cause: options.cause });
    this.reason = options.reason;
  }
}

/** Whether `err` is a TerminalError or was caused by one (searching `cause`, like Go's errors.Is). */
export function isTerminalError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 16; e = e.cause, depth++) {
    if (e instanceof TerminalError) return true;
  }
  return false;
}

/** What a reconcile asks for next. */
export interface ReconcileResult {
  /** Reconcile again after this many milliseconds (e.g. to re-resolve a tag). */
  requeueAfterMs?: number;
}

/** Per-reconcile context (controller-runtime puts these into the Go context). */
export interface ReconcileContext {
  /** Carries `controller`, `namespace`, `name` and `reconcileID`. */
  logger: Logger;
  reconcileID: string;
}

/**
 * Brings the world in line with the object named by `key` (level-based: never branch on what
 * changed). `signal` aborts when the controller stops. Throwing means "retry with backoff";
 * throw a TerminalError when retrying cannot help.
 */
export type Reconciler<K extends string> = (
  key: K,
  signal: AbortSignal,
  context: ReconcileContext,
) => Promise<ReconcileResult | void>;

/** Options of `createController`; defaults are filled in by the factory. */
export interface ControllerOptions<K extends string> {
  /** Unique per process; the `controller` label and log field. */
  name: string;
  /** Event handlers add keys here; the controller shuts it down when it stops. */
  queue: RateLimitingQueue<K>;
  reconcile: Reconciler<K>;
  /** Maximum concurrent reconciles (controller-runtime's MaxConcurrentReconciles). Default 1. */
  workers?: number;
  logger: Logger;
  /** Where reconcile totals, errors, durations and active workers are counted. Default: nowhere. */
  metrics?: ControllerMetrics;
  /** Default: the system clock. */
  clock?: Clock;
  /** Caches that must be synced before the first reconcile (the informers feeding `queue`). */
  waitForSync?: readonly Syncable[];
  /** How long to wait for `waitForSync`. Default 2 minutes, as controller-runtime's CacheSyncTimeout. */
  cacheSyncTimeoutMs?: number;
  /** Default: a random UUID per reconcile. */
  newReconcileID?: () => string;
  /**
   * Deadline of one reconcile: its signal aborts after this long and the key is retried with
   * backoff, so a hung call cannot hold a worker for ever. Default 2 minutes.
   */
  reconcileTimeoutMs?: number;
}

/** A controller is a Runnable that needs the leader lease. */
export interface Controller extends Runnable {
  readonly name: string;
  needLeaderElection(): boolean;
}

const DEFAULT_CACHE_SYNC_TIMEOUT_MS = 120_000;
const DEFAULT_RECONCILE_TIMEOUT_MS = 120_000;

/**
 * Creates a controller; start it through the manager (it needs the leader lease). Registers its
 * metric series at zero on `metrics`. Throws a RangeError for a worker count below 1.
 */
export function createController<K extends string>(options: ControllerOptions<K>): Controller {
  return new ControllerImpl(options);
}

const noopSeries: ControllerSeries = { reconciled() {}, failed() {}, activeWorkers() {} };

class ControllerImpl<K extends string> implements Controller {
  readonly name: string;
  readonly #queue: RateLimitingQueue<K>;
  readonly #reconcile: Reconciler<K>;
  readonly #workers: number;
  readonly #logger: Logger;
  readonly #metrics: ControllerSeries;
  readonly #clock: Clock;
  readonly #waitForSync: readonly Syncable[];
  readonly #cacheSyncTimeoutMs: number;
  readonly #newReconcileID: () => string;
  readonly #reconcileTimeoutMs: number;
  #started = false;

  constructor(options: ControllerOptions<K>) {
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(`controller ${options.name}: workers must be a positive integer, got ${workers}`);
    }
    this.name = options.name;
    this.#queue = options.queue;
    this.#reconcile = options.reconcile;
    this.#workers = workers;
    this.#logger = options.logger.child({ controller: options.name });
    this.#metrics = options.metrics?.forController(options.name, workers) ?? noopSeries;
    this.#clock = options.clock ?? systemClock;
    this.#waitForSync = options.waitForSync ?? [];
    this.#cacheSyncTimeoutMs = options.cacheSyncTimeoutMs ?? DEFAULT_CACHE_SYNC_TIMEOUT_MS;
    this.#newReconcileID = options.newReconcileID ?? randomUUID;
    this.#reconcileTimeoutMs = options.reconcileTimeoutMs ?? DEFAULT_RECONCILE_TIMEOUT_MS;
  }

  needLeaderElection(): boolean {
    return true;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new Error(`controller ${this.name} was already started`);
    this.#started = true;
    try {
      if (!(await this.#waitForCaches(signal))) return;
      this.#logger.info({ workers: this.#workers }, "starting workers");
      const workers = Array.from({ length: this.#workers }, () => this.#work(signal));
      await whenAborted(signal);
      this.#logger.info("stopping workers");
      this.#queue.shutDown();
      await Promise.all(workers);
      this.#logger.info("all workers stopped");
    } finally {
      this.#queue.shutDown();
    }
  }

  /** True once every source synced; false if the signal aborted first; throws on timeout. */
  async #waitForCaches(signal: AbortSignal): Promise<boolean> {
    if (this.#waitForSync.length === 0) return !signal.aborted;
    const stopTimer = new AbortController();
    const timedOut = this.#clock.sleep(this.#cacheSyncTimeoutMs, stopTimer.signal).then(
      () => "timeout" as const,
      () => "cancelled" as const,
    );
    const synced = Promise.all(this.#waitForSync.map((source) => source.waitForSync(signal))).then((all) =>
      all.every(Boolean),
    );
    const outcome = await Promise.race([synced, timedOut]);
    stopTimer.abort();
    if (signal.aborted) return false;
    if (outcome === true) return true;
    throw new OperatorError(
      "CacheSyncTimeout",
      `controller ${this.name}: caches did not sync within ${this.#cacheSyncTimeoutMs} ms; ` +
        "check the informers' logs for list or watch errors (RBAC, CRD not installed, apiserver unreachable)",
    );
  }

  async #work(signal: AbortSignal): Promise<void> {
    for (let key = await this.#queue.get(); key !== undefined; key = await this.#queue.get()) {
      try {
        if (!signal.aborted) await this.#reconcileHandler(key, signal);
      } finally {
        this.#queue.done(key);
      }
    }
  }

  async #reconcileHandler(key: K, signal: AbortSignal): Promise<void> {
    const reconcileID = this.#newReconcileID();
    const { namespace, name } = splitObjectKey(key);
    const logger = this.#logger.child({ namespace, name, reconcileID });
    const started = this.#clock.now();
    this.#metrics.activeWorkers(1);
    let outcome: ReconcileOutcome | undefined;
    const deadline = AbortSignal.timeout(this.#reconcileTimeoutMs);
    try {
      const result = await this.#reconcile(key, AbortSignal.any([signal, deadline]), { logger, reconcileID });
      const after = result?.requeueAfterMs;
      this.#queue.forget(key);
      if (after !== undefined && Number.isFinite(after) && after > 0) {
        this.#queue.addAfter(key, after);
        outcome = "requeue_after";
        logger.debug({ requeueAfterMs: after }, "reconcile succeeded; requeueing later");
      } else {
        outcome = "success";
        logger.debug("reconcile succeeded");
      }
    } catch (err) {
      if (signal.aborted) {
        logger.info({ err }, "reconcile interrupted by shutdown");
        return;
      }
      outcome = "error";
      if (deadline.aborted) {
        this.#queue.addRateLimited(key);
        this.#metrics.failed(false);
        logger.warn(
          { timeoutMs: this.#reconcileTimeoutMs, error: describeError(err) },
          "reconcile exceeded its deadline; retrying with backoff",
        );
      } else if (isTerminalError(err)) {
        this.#queue.forget(key);
        this.#metrics.failed(true);
        logger.error({ err }, "reconcile failed permanently; not retrying");
      } else {
        this.#queue.addRateLimited(key);
        this.#metrics.failed(false);
        const retries = this.#queue.numRequeues(key);
        // A failure we expect (registry down, API conflict) is one warn line; anything else is a
        // bug and keeps its stack.
        if (err instanceof OperatorError)
          logger.warn(
            { code: err.code, error: describeError(err), retries },
            "reconcile failed; retrying with backoff",
          );
        else logger.error({ err, retries }, "reconcile failed; retrying with backoff");
      }
    } finally {
      this.#metrics.activeWorkers(-1);
      if (outcome) this.#metrics.reconciled(outcome, (this.#clock.now() - started) / 1000);
    }
  }
}
