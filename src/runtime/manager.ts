/**
 * The manager, after controller-runtime's `manager`: it starts every Runnable, gates the ones that
 * need leader election on the lease, and stops them all when one signal aborts.
 *
 * Guarantees:
 * - Runnables that do not need leader election (informers, webhook, health server) start at once;
 *   the others (controllers) start only once the lease is held (at once without leader election).
 * - Stopping (the `start` signal aborts, a runnable fails, or leadership is lost) happens in two
 *   phases, as controller-runtime does: first the leader runnables (controllers drain their
 *   queues), then — with them stopped — the lease is released; then all other runnables, so
 *   caches, webhooks and health endpoints keep serving until the controllers are done.
 * - Both phases together get `gracefulShutdownTimeoutMs`; runnables still running then are named
 *   in a ShutdownTimeout error.
 * - `start` resolves after a requested stop with everything stopped; it rejects with a
 *   ManagerError naming the cause otherwise: `RunnableFailed` (which runnable, with its error as
 *   `cause`), `LeaderElectionLost` or `ShutdownTimeout`. The first failure wins; later ones are logged.
 */
import { describeError, OperatorError } from "../errors.js";
import { systemClock, type Clock } from "./clock.js";
import type { LeaderElector } from "./leader-election.js";
import type { Logger } from "./logger.js";
import { whenAborted, type Runnable } from "./runnable.js";

/** Why the manager stopped on its own. */
export type ManagerErrorCode = "RunnableFailed" | "LeaderElectionLost" | "ShutdownTimeout";

/** The manager's failure; `cause` holds the runnable's own error for `RunnableFailed`. */
export class ManagerError extends OperatorError<ManagerErrorCode> {
  /** The runnable that failed or did not stop in time (comma-separated if several). */
  readonly runnable: string | undefined;

  constructor(code: ManagerErrorCode, message: string, options: { runnable?: string; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause });
    this.runnable = options.runnable;
  }
}

/** Options of `createManager`. */
export interface ManagerOptions {
  runnables?: readonly Runnable[];
  /** Without it, leader runnables start at once (a single replica). */
  leaderElection?: LeaderElector;
  logger: Logger;
  /** Time all runnables get to stop. Default 30 s, as controller-runtime's GracefulShutdownTimeout. */
  gracefulShutdownTimeoutMs?: number;
  /** Default: the system clock. */
  clock?: Clock;
}

/** Runs Runnables under one lifecycle. */
export interface Manager {
  /** Adds a runnable; only before `start`. */
  add(runnable: Runnable): void;
  /** Runs everything until `signal` aborts (see the module guarantees). Call once. */
  start(signal: AbortSignal): Promise<void>;
  /** Whether the leader runnables are running (always true without leader election, once started). */
  isLeader(): boolean;
}

/** Creates a manager; nothing runs until `start`. */
export function createManager(options: ManagerOptions): Manager {
  return new ManagerImpl(options);
}

interface Named {
  runnable: Runnable;
  name: string;
}

class ManagerImpl implements Manager {
  readonly #runnables: Named[] = [];
  readonly #elector: LeaderElector | undefined;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  /** Names of runnables started and not yet returned. */
  readonly #running = new Set<string>();
  #started = false;
  #leading = false;
  #failure: ManagerError | undefined;

  constructor(options: ManagerOptions) {
    this.#elector = options.leaderElection;
    this.#logger = options.logger.child({ component: "manager" });
    this.#timeoutMs = options.gracefulShutdownTimeoutMs ?? 30_000;
    this.#clock = options.clock ?? systemClock;
    for (const runnable of options.runnables ?? []) this.add(runnable);
  }

  add(runnable: Runnable): void {
    if (this.#started) throw new Error("runnables must be added before the manager starts");
    const base = runnable.name ?? `runnable-${this.#runnables.length + 1}`;
    const taken = new Set(this.#runnables.map((r) => r.name));
    let name = base;
    for (let i = 2; taken.has(name); i++) name = `${base}#${i}`;
    this.#runnables.push({ runnable, name });
  }

  isLeader(): boolean {
    return this.#leading;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new Error("the manager was already started");
    this.#started = true;
    const stopping = new AbortController();
    const forward = (): void => stopping.abort(signal.reason);
    if (signal.aborted) forward();
    else signal.addEventListener("abort", forward, { once: true });

    const needsLease = (r: Named): boolean => r.runnable.needLeaderElection?.() ?? true;
    const leaderRunnables = this.#runnables.filter(needsLease);
    const otherRunnables = this.#runnables.filter((r) => !needsLease(r));

    const others = new AbortController();
    const othersDone = Promise.all(otherRunnables.map((r) => this.#launch(r, others.signal, stopping)));
    const leadersDone = this.#runLeaders(leaderRunnables, stopping);

    await whenAborted(stopping.signal);
    signal.removeEventListener("abort", forward);
    this.#logger.info({ reason: describeError(stopping.signal.reason) }, "stopping");
    const stopTimer = new AbortController();
    const timedOut = this.#clock.sleep(this.#timeoutMs, stopTimer.signal).then(
      () => true,
      () => false,
    );
    let late = await Promise.race([leadersDone.then(() => false), timedOut]);
    if (!late) {
      others.abort(stopping.signal.reason);
      late = await Promise.race([othersDone.then(() => false), timedOut]);
    } else {
      others.abort(stopping.signal.reason);
    }
    stopTimer.abort();
    if (late) {
      const names = [...this.#running].join(", ");
      this.#fail(
        stopping,
        new ManagerError(
          "ShutdownTimeout",
          `runnables did not stop within ${this.#timeoutMs} ms: ${names}; they are abandoned`,
          { runnable: names },
        ),
      );
    }
    this.#logger.info("stopped");
    if (this.#failure) throw this.#failure;
  }

  /** Starts the leader runnables under the lease (or at once); resolves once they returned and the lease is released. */
  async #runLeaders(leaders: Named[], stopping: AbortController): Promise<void> {
    const runAll = async (signal: AbortSignal): Promise<void> => {
      this.#leading = true;
      try {
        await Promise.all(leaders.map((r) => this.#launch(r, signal, stopping)));
      } finally {
        this.#leading = false;
      }
    };
    if (!this.#elector) {
      await runAll(stopping.signal);
      return;
    }
    try {
      await this.#elector.run(stopping.signal, { onStartedLeading: runAll });
    } catch (err) {
      this.#fail(
        stopping,
        new ManagerError("LeaderElectionLost", `leader election failed: ${describeError(err)}`, {
          cause: err,
        }),
      );
      return;
    }
    if (!stopping.signal.aborted) {
      this.#fail(
        stopping,
        new ManagerError(
          "LeaderElectionLost",
          "leader election lost: the lease could not be renewed in time; stopping so that a fresh start can campaign again",
        ),
      );
    }
  }

  /** Runs one runnable; a rejection (other than the signal's own reason after a stop) fails the manager. Never rejects. */
  async #launch({ runnable, name }: Named, signal: AbortSignal, stopping: AbortController): Promise<void> {
    this.#running.add(name);
    this.#logger.info({ runnable: name }, "starting runnable");
    try {
      await runnable.start(signal);
      if (!signal.aborted) this.#logger.info({ runnable: name }, "runnable returned before the stop");
    } catch (err) {
      if (signal.aborted && err === signal.reason) return;
      this.#fail(
        stopping,
        new ManagerError("RunnableFailed", `runnable ${name} failed: ${describeError(err)}`, {
          runnable: name,
          cause: err,
        }),
      );
    } finally {
      this.#running.delete(name);
    }
  }

  #fail(stopping: AbortController, error: ManagerError): void {
    if (this.#failure) {
      this.#logger.error({ err: error }, "another failure while stopping");
    } else {
      this.#failure = error;
      this.#logger.error({ err: error }, "stopping after a failure");
    }
    stopping.abort(error);
  }
}
