/**
 * Everything long-lived is a Runnable, after controller-runtime's `manager.Runnable`: informers,
 * controllers, the health and metrics server, the webhook server.
 */

/** A long-lived component started by the manager. */
export interface Runnable {
  /** Used in logs and in the manager's errors, e.g. `controller/modeldeployment`. */
  readonly name?: string;
  /**
   * Runs until `signal` aborts, then stops (finishing or abandoning in-flight work, as its docs
   * say) and resolves. Rejects if it cannot run; the manager then stops everything else and fails
   * with an error that names this runnable. Called at most once per instance.
   */
  start(signal: AbortSignal): Promise<void>;
  /**
   * Whether it may only run on the elected leader. Absent means true, as in controller-runtime:
   * controllers need the lease; caches, webhook and health servers do not.
   */
  needLeaderElection?(): boolean;
}

/** Something whose initial state is loaded, e.g. an informer's cache. */
export interface Syncable {
  /** Resolves true once synced, or false if `signal` aborted (or the source stopped) first. */
  waitForSync(signal: AbortSignal): Promise<boolean>;
}

/** Resolves when `signal` aborts (at once if it already has). Never rejects. */
export function whenAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
