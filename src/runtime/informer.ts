/**
 * An informer: list, then watch, keeping an in-memory store current and telling event handlers
 * (which only enqueue keys) what changed. After client-go's Reflector + DeltaFIFO + Indexer,
 * reduced to one loop, and transport-agnostic: `list` and `watch` are injected (see
 * `kube-informers.ts` for the Kubernetes ones), so the loop is unit-tested on a fake clock.
 *
 * Why not `@kubernetes/client-node`'s `ListWatch`/`makeInformer`: it stops for good on any watch
 * error other than 410 and a client timeout (emitting `error` and leaving the cache frozen),
 * watches without bookmarks, lists without pagination, swallows exceptions thrown by callbacks,
 * and hands out typed (Date) objects from lists but raw JSON (string) objects from watches.
 *
 * Guarantees:
 * - Never gives up: any list or watch failure is retried with jittered exponential backoff
 *   (client-go's reflector: 800 ms doubling to 30 s, honouring the server's Retry-After) until
 *   the start signal aborts; only then does `start` resolve. It never rejects after starting.
 * - Resumes a dropped or ended watch from the last resourceVersion seen (objects and bookmarks),
 *   so nothing is missed and nothing is re-listed; re-lists only when that version is gone
 *   (410 Gone, `Expired`, "too old resource version", ResourceVersionTooLarge) — at once, unless
 *   the watch after the previous such re-list failed the same way before any event (then with backoff).
 * - A watch that stays silent (no event, no bookmark) for `watchIdleTimeoutMs` is restarted,
 *   which catches half-open connections; a watch that ends within `minWatchDurationMs` without
 *   an event counts as a failure (client-go's "very short watch"), so a flapping server cannot
 *   make it spin.
 * - The store is updated before handlers run; a re-list diffs against the store and emits
 *   add/update/delete only for real differences (update only when resourceVersion changed).
 * - Handlers run synchronously in event order; one that throws is logged and does not affect the
 *   store, other handlers or the watch.
 * - `hasSynced()` turns true once the first list is in the store and its add events were delivered.
 * - resourceVersions are opaque strings: compared only for equality, never ordered.
 */
import { describeError, OperatorError } from "../errors.js";
import { systemClock, type Clock } from "./clock.js";
import { isResourceVersionUnavailable, KubeApiError } from "./kube-errors.js";
import { objectKey, type KubeObjectLike } from "./keys.js";
import type { Logger } from "./logger.js";
import { exponentialDelayMs } from "./rate-limiter.js";
import type { Runnable, Syncable } from "./runnable.js";
import { MemoryStore, type Store } from "./store.js";

/** One watch event; a bookmark only advances the resourceVersion. */
export type WatchEvent<T> =
  { type: "ADDED" | "MODIFIED" | "DELETED"; object: T } | { type: "BOOKMARK"; resourceVersion: string };

/** One complete list. */
export interface ListResult<T> {
  items: T[];
  /** The list's resourceVersion: the watch starts after it. */
  resourceVersion: string;
}

/** The two calls an informer needs. */
export interface ListerWatcher<T> {
  /** A complete, consistent list (all pages). Rejects on any failure. */
  list(signal: AbortSignal): Promise<ListResult<T>>;
  /**
   * Streams the changes after `resourceVersion` to `onEvent`, synchronously and in order.
   * Resolves when the server ends the watch; rejects on a failure (a KubeApiError for which
   * `isResourceVersionUnavailable` holds makes the informer re-list), or with the signal's
   * reason once it aborts. Must let errors thrown by `onEvent` propagate.
   */
  watch(resourceVersion: string, signal: AbortSignal, onEvent: (event: WatchEvent<T>) => void): Promise<void>;
}

/**
 * Reactions to changes. Keep them lean: turn the object into keys and enqueue them (see
 * `enqueueObjectKey`); never call the API or block here.
 */
export interface EventHandler<T> {
  /** A new object, or one found by a (re-)list that the store did not have. */
  add?(object: T): void;
  /** A changed object: its previous and new state. */
  update?(oldObject: T, newObject: T): void;
  /** A removed object in its last known state (from the event, or from the store after a re-list). */
  delete?(object: T): void;
}

/** Retry delays after failures: min(max, initial × 2^(failures−1)) × (1 + jitter × random()). */
export interface InformerBackoff {
  /** First retry delay before jitter. Default 800 ms. */
  initialMs?: number;
  /** Largest delay before jitter. Default 30 s. */
  maxMs?: number;
  /** Each delay is multiplied by 1 + jitter × random(). Default 1. */
  jitter?: number;
}

/** Options of `createInformer`: the list and watch calls plus tuning; defaults follow client-go. */
export interface InformerOptions<T> extends ListerWatcher<T> {
  /** Names the informer in logs, e.g. `modeldeployments`. */
  name: string;
  logger: Logger;
  /** Default: the system clock. */
  clock?: Clock;
  /** The store key. Default `objectKey` (`namespace/name`). */
  keyOf?: (object: T) => string;
  backoff?: InformerBackoff;
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. Default 150 s. */
  watchIdleTimeoutMs?: number;
  /** A watch that ends cleanly sooner than this with no event is a failure. Default 1 s. */
  minWatchDurationMs?: number;
  /** Jitter source in [0, 1). Default Math.random. */
  random?: () => number;
}

/** A cache of one resource kind, kept current by list + watch. */
export interface Informer<T> extends Runnable, Syncable {
  readonly name: string;
  /** The cache; current as of the last event applied. */
  readonly store: Store<T>;
  hasSynced(): boolean;
  /**
   * Registers a handler; if the store already holds objects, `add` is called for each of them
   * first. Returns a function that unregisters it.
   */
  addEventHandler(handler: EventHandler<T>): () => void;
  /** The resourceVersion the next watch resumes from; undefined before the first list and when a re-list is due. */
  lastSyncResourceVersion(): string | undefined;
  /** Informers run on every replica (the webhook reads their caches); false. */
  needLeaderElection(): boolean;
}

/** Why the informer restarts a watch that went quiet. */
export class WatchIdleError extends OperatorError<"WatchIdle"> {
  constructor(idleMs: number) {
    super("WatchIdle", `the watch delivered nothing for ${idleMs} ms; restarting it`);
  }
}

/** A watch that ended almost at once without any event. */
export class ShortWatchError extends OperatorError<"ShortWatch"> {
  constructor(durationMs: number) {
    super("ShortWatch", `the watch ended after ${durationMs} ms without delivering anything`);
  }
}

/** Creates an informer; it lists and watches once started (usually by the manager). */
export function createInformer<T extends KubeObjectLike>(options: InformerOptions<T>): Informer<T> {
  return new InformerImpl(options);
}

const DEFAULTS = {
  initialMs: 800,
  maxMs: 30_000,
  jitter: 1,
  watchIdleTimeoutMs: 150_000,
  minWatchDurationMs: 1_000,
};

class InformerImpl<T extends KubeObjectLike> implements Informer<T> {
  readonly name: string;
  readonly #store = new MemoryStore<T>();
  readonly #lw: ListerWatcher<T>;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #keyOf: (object: T) => string;
  readonly #random: () => number;
  readonly #backoff: Required<InformerBackoff>;
  readonly #watchIdleTimeoutMs: number;
  readonly #minWatchDurationMs: number;
  #handlers: EventHandler<T>[] = [];
  /** Undefined exactly when the next loop iteration must list. */
  #resourceVersion: string | undefined;
  /** Consecutive failures since the last successful list, delivered event or clean watch end. */
  #failures = 0;
  /** Set when a re-list for an expired resourceVersion skipped the backoff; cleared by any event. */
  #relistedForExpiry = false;
  #synced = false;
  #started = false;
  #stopped = false;
  /** Pending `waitForSync` calls; all settled when synced or stopped. */
  #syncWaiters: ((synced: boolean) => void)[] = [];

  constructor(options: InformerOptions<T>) {
    this.name = options.name;
    this.#lw = { list: options.list, watch: options.watch };
    this.#logger = options.logger.child({ informer: options.name });
    this.#clock = options.clock ?? systemClock;
    this.#keyOf = options.keyOf ?? objectKey;
    this.#random = options.random ?? Math.random;
    this.#backoff = {
      initialMs: options.backoff?.initialMs ?? DEFAULTS.initialMs,
      maxMs: options.backoff?.maxMs ?? DEFAULTS.maxMs,
      jitter: options.backoff?.jitter ?? DEFAULTS.jitter,
    };
    this.#watchIdleTimeoutMs = options.watchIdleTimeoutMs ?? DEFAULTS.watchIdleTimeoutMs;
    this.#minWatchDurationMs = options.minWatchDurationMs ?? DEFAULTS.minWatchDurationMs;
  }

  get store(): Store<T> {
    return this.#store;
  }

  needLeaderElection(): boolean {
    return false;
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  lastSyncResourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  waitForSync(signal: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (this.#stopped || signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => settle(false);
      const settle = (synced: boolean): void => {
        signal.removeEventListener("abort", onAbort);
        this.#syncWaiters = this.#syncWaiters.filter((w) => w !== settle);
        resolve(synced);
      };
      this.#syncWaiters.push(settle);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  addEventHandler(handler: EventHandler<T>): () => void {
    this.#handlers = [...this.#handlers, handler];
    for (const [, object] of this.#store.entries()) this.#call("add", () => handler.add?.(object));
    return () => {
      this.#handlers = this.#handlers.filter((h) => h !== handler);
    };
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new Error(`informer ${this.name} was already started`);
    this.#started = true;
    try {
      while (!signal.aborted) await this.#listAndWatch(signal);
    } finally {
      this.#stopped = true;
      for (const settle of [...this.#syncWaiters]) settle(false);
      this.#logger.debug("informer stopped");
    }
  }

  /** One round: list if needed, then one watch; on failure, waits out the backoff. Never throws. */
  async #listAndWatch(signal: AbortSignal): Promise<void> {
    let phase: "list" | "watch" = "list";
    try {
      if (this.#resourceVersion === undefined) {
        const list = await this.#lw.list(signal);
        this.#replace(list.items);
        this.#resourceVersion = list.resourceVersion;
        this.#failures = 0;
        if (!this.#synced) this.#markSynced(list.resourceVersion);
        else
          this.#logger.info(
            { objects: this.#store.size, resourceVersion: list.resourceVersion },
            "re-listed",
          );
      }
      phase = "watch";
      await this.#watch(this.#resourceVersion, signal);
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof WatchIdleError) {
        this.#logger.info({ idleMs: this.#watchIdleTimeoutMs }, "watch was silent for too long; resuming");
        return;
      }
      if (phase === "watch" && isResourceVersionUnavailable(err)) {
        this.#logger.info(
          { resourceVersion: this.#resourceVersion, reason: describeError(err) },
          "resource version no longer available; re-listing",
        );
        this.#resourceVersion = undefined;
        if (!this.#relistedForExpiry) {
          this.#relistedForExpiry = true;
          return;
        }
        this.#failures++;
      } else {
        this.#failures++;
      }
      const delayMs = this.#backoffDelay(err);
      this.#logger.warn(
        { err, attempt: this.#failures, retryInMs: delayMs, resourceVersion: this.#resourceVersion },
        phase === "list" ? "list failed; retrying" : "watch failed; retrying",
      );
      await this.#clock.sleep(delayMs, signal).catch(() => undefined);
    }
  }

  /** Runs one watch from `resourceVersion` under the idle watchdog; returns when it ended cleanly. */
  async #watch(resourceVersion: string, signal: AbortSignal): Promise<void> {
    const watchSignal = new AbortController();
    const stopWatchdog = new AbortController();
    const forward = (): void => watchSignal.abort(signal.reason);
    signal.throwIfAborted(); // a list that ignored the abort must not start a watch
    signal.addEventListener("abort", forward, { once: true });
    const startedAt = this.#clock.now();
    let lastActivity = startedAt;
    let events = 0;
    void this.#watchdog(watchSignal, () => lastActivity, stopWatchdog.signal);
    try {
      await this.#lw.watch(resourceVersion, watchSignal.signal, (event) => {
        lastActivity = this.#clock.now();
        events++;
        this.#failures = 0;
        this.#relistedForExpiry = false;
        this.#apply(event);
      });
    } catch (err) {
      const reason: unknown = watchSignal.signal.reason;
      throw reason instanceof WatchIdleError ? reason : err;
    } finally {
      stopWatchdog.abort();
      signal.removeEventListener("abort", forward);
    }
    const durationMs = this.#clock.now() - startedAt;
    if (events === 0 && durationMs < this.#minWatchDurationMs) throw new ShortWatchError(durationMs);
    this.#failures = 0;
    this.#logger.debug(
      { events, durationMs, resourceVersion: this.#resourceVersion },
      "watch ended; resuming",
    );
  }

  /** Aborts `watch` with a WatchIdleError once nothing arrived for the idle timeout. */
  async #watchdog(watch: AbortController, lastActivity: () => number, stop: AbortSignal): Promise<void> {
    try {
      for (;;) {
        const remaining = lastActivity() + this.#watchIdleTimeoutMs - this.#clock.now();
        if (remaining <= 0) {
          watch.abort(new WatchIdleError(this.#watchIdleTimeoutMs));
          return;
        }
        await this.#clock.sleep(remaining, stop);
      }
    } catch {
      // stopped: the watch ended first
    }
  }

  #backoffDelay(err: unknown): number {
    const { initialMs, maxMs, jitter } = this.#backoff;
    const base = exponentialDelayMs(Math.max(0, this.#failures - 1), initialMs, maxMs);
    const delay = Math.round(base * (1 + jitter * this.#random()));
    const retryAfterMs = err instanceof KubeApiError ? (err.retryAfterSeconds ?? 0) * 1000 : 0;
    return Math.max(delay, retryAfterMs);
  }

  #markSynced(resourceVersion: string): void {
    this.#synced = true;
    this.#logger.info({ objects: this.#store.size, resourceVersion }, "informer synced");
    for (const settle of [...this.#syncWaiters]) settle(true);
  }

  #apply(event: WatchEvent<T>): void {
    if (event.type === "BOOKMARK") {
      this.#resourceVersion = event.resourceVersion;
      return;
    }
    const { object } = event;
    const key = this.#keyOf(object);
    if (event.type === "DELETED") {
      this.#store.delete(key);
      this.#advance(object);
      this.#notify("delete", (h) => h.delete?.(object));
      return;
    }
    const previous = this.#store.set(key, object);
    this.#advance(object);
    if (previous) this.#notify("update", (h) => h.update?.(previous, object));
    else this.#notify("add", (h) => h.add?.(object));
  }

  #advance(object: T): void {
    const resourceVersion = object.metadata?.resourceVersion;
    if (resourceVersion) this.#resourceVersion = resourceVersion;
  }

  /** Makes the store equal to `items`, emitting the differences. */
  #replace(items: readonly T[]): void {
    const next = new Map<string, T>();
    for (const item of items) next.set(this.#keyOf(item), item);
    const gone: [string, T][] = [];
    for (const [key, object] of this.#store.entries()) if (!next.has(key)) gone.push([key, object]);
    for (const [key, object] of gone) {
      this.#store.delete(key);
      this.#notify("delete", (h) => h.delete?.(object));
    }
    for (const [key, object] of next) {
      const previous = this.#store.set(key, object);
      if (!previous) this.#notify("add", (h) => h.add?.(object));
      else if (previous.metadata?.resourceVersion !== object.metadata?.resourceVersion) {
        this.#notify("update", (h) => h.update?.(previous, object));
      }
    }
  }

  #notify(kind: keyof EventHandler<T>, call: (handler: EventHandler<T>) => void): void {
    for (const handler of this.#handlers) this.#call(kind, () => call(handler));
  }

  #call(kind: keyof EventHandler<T>, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.#logger.error({ err, event: kind }, "event handler failed");
    }
  }
}

/** A handler that enqueues each changed object's own key (controller-runtime's EnqueueRequestForObject). */
export function enqueueObjectKey<T extends KubeObjectLike>(queue: {
  add(key: string): void;
}): EventHandler<T> {
  const enqueue = (object: T): void => queue.add(objectKey(object));
  return { add: enqueue, update: (_old, object) => enqueue(object), delete: enqueue };
}

/**
 * A handler that enqueues the keys `map` returns for each changed object (controller-runtime's
 * EnqueueRequestsFromMapFunc), e.g. a pod's owning ModelDeployment. On update both the old and
 * the new state are mapped, so a key that stops matching is reconciled too.
 */
export function enqueueMappedKeys<T>(
  queue: { add(key: string): void },
  map: (object: T) => Iterable<string>,
): EventHandler<T> {
  const enqueue = (object: T): void => {
    for (const key of map(object)) queue.add(key);
  };
  return {
    add: enqueue,
    update: (oldObject, newObject) => {
      enqueue(oldObject);
      enqueue(newObject);
    },
    delete: enqueue,
  };
}
