/**
 * Leader election on a `coordination.k8s.io/v1` Lease, after client-go's `leaderelection`
 * package with a LeaseLock.
 *
 * Guarantees:
 * - At most one elector per lease believes it leads, provided clocks tick at the same rate:
 *   a lease held by someone else is taken only once it has not changed for its full
 *   `leaseDurationSeconds`, measured on this replica's clock from when this replica last saw it
 *   change (never by comparing remote timestamps); every write uses the lease's resourceVersion
 *   (optimistic concurrency), so of two racing candidates only one succeeds.
 * - A leader that has not renewed for `renewDeadlineMs` (< lease duration) stops leading: the
 *   signal given to `onStartedLeading` aborts, `onStoppedLeading` runs and `run` resolves — before
 *   any other replica can take the lease over.
 * - On a graceful stop (the `run` signal aborts) the leader first waits for its leader work to
 *   return, then releases the lease (empty holder), so another replica takes over within one
 *   retry period instead of a whole lease duration. `releaseOnCancel: false` skips the release.
 * - `run` never rejects because of API errors: they only make an attempt fail, to be retried
 *   every `retryPeriodMs` (jittered by up to 1.2× while acquiring, as client-go).
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { z } from "zod";
import { systemClock, type Clock } from "./clock.js";
import { kubeRequest } from "./kube-client.js";
import { isAlreadyExists, isConflict, isNotFound } from "./kube-errors.js";
import type { Logger } from "./logger.js";

/** The leader-election fields of a Lease's spec, times in epoch milliseconds. */
export interface LeaderElectionRecord {
  /** "" when nobody holds the lease (after a release). */
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: number | undefined;
  renewTime: number | undefined;
  leaseTransitions: number;
}

/** Storage of the record with optimistic concurrency: `version` is the object's resourceVersion. */
export interface LeaseLock {
  /** `namespace/name`, for logs. */
  readonly description: string;
  /** The record and its version; undefined if the lease does not exist. */
  get(signal: AbortSignal): Promise<{ record: LeaderElectionRecord; version: string } | undefined>;
  /** Creates the lease; returns its version. Rejects (AlreadyExists) if it exists. */
  create(record: LeaderElectionRecord, signal: AbortSignal): Promise<string>;
  /** Replaces the record if the lease is still at `version`; returns the new version. Rejects (Conflict) otherwise. */
  update(record: LeaderElectionRecord, version: string, signal: AbortSignal): Promise<string>;
}

const LeaseObject = z.looseObject({
  metadata: z.looseObject({ name: z.string(), resourceVersion: z.string() }),
  spec: z
    .looseObject({
      holderIdentity: z.string().nullish(),
      leaseDurationSeconds: z.number().int().nullish(),
      acquireTime: z.string().nullish(),
      renewTime: z.string().nullish(),
      leaseTransitions: z.number().int().nullish(),
    })
    .nullish(),
});
type LeaseObject = z.infer<typeof LeaseObject>;

/** RFC 3339 with microseconds, the wire format of `metav1.MicroTime`. */
function microTime(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

function parseTime(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

function toRecord(lease: LeaseObject): LeaderElectionRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? "",
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: parseTime(spec.acquireTime),
    renewTime: parseTime(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

function toSpec(record: LeaderElectionRecord): Record<string, unknown> {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: microTime(record.acquireTime),
    renewTime: microTime(record.renewTime),
    leaseTransitions: record.leaseTransitions,
  };
}

/** A LeaseLock on `coordination.k8s.io/v1` Lease `namespace/name`. Updates keep the lease's other metadata. */
export function createLeaseLock(options: {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
}): LeaseLock {
  const { kubeConfig, namespace, name } = options;
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  const path = `${collection}/${encodeURIComponent(name)}`;
  /** The last object read or written, so that updates send back its metadata unchanged. */
  let last: LeaseObject | undefined;
  const parse = (raw: unknown): LeaseObject => {
    const lease = LeaseObject.safeParse(raw);
    if (!lease.success)
      throw new Error(`lease ${namespace}/${name}: the apiserver returned something that is not a Lease`);
    last = lease.data;
    return lease.data;
  };
  return {
    description: `${namespace}/${name}`,
    async get(signal) {
      try {
        const lease = parse(await kubeRequest(kubeConfig, { path, signal }));
        return { record: toRecord(lease), version: lease.metadata.resourceVersion };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async create(record, signal) {
      const body = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace },
        spec: toSpec(record),
      };
      return parse(await kubeRequest(kubeConfig, { method: "POST", path: collection, body, signal })).metadata
        .resourceVersion;
    },
    async update(record, version, signal) {
      const base = last ?? { metadata: { name, namespace, resourceVersion: version } };
      const body = {
        ...base,
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { ...base.metadata, resourceVersion: version },
        spec: { ...(base.spec ?? {}), ...toSpec(record) },
      };
      return parse(await kubeRequest(kubeConfig, { method: "PUT", path, body, signal })).metadata
        .resourceVersion;
    },
  };
}

/** What `run` calls when leadership starts and ends. */
export interface LeaderCallbacks {
  /**
   * Called once this replica leads. `signal` aborts when leadership ends (lost, or stopping). The
   * returned promise is awaited before the lease is released, so leader work must return
   * promptly once `signal` aborts. A rejection is logged.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called after leading ended and the leader work returned (only if leading started). */
  onStoppedLeading?(): void;
}

/** Options of `createLeaderElector`; durations default to client-go's 15 s / 10 s / 2 s. */
export interface LeaderElectorOptions {
  /** The lease: give `kubeConfig`, `namespace` and `name`, or a `lock` (tests). */
  kubeConfig?: KubeConfig;
  namespace?: string;
  name?: string;
  lock?: LeaseLock;
  /** Unique per replica, e.g. `${hostname}_${randomUUID()}`. */
  identity: string;
  /** How long a lease stays valid without renewal. Default 15 s. */
  leaseDurationMs?: number;
  /** How long the leader keeps retrying a renewal before it steps down. Default 10 s. */
  renewDeadlineMs?: number;
  /** Time between attempts. Default 2 s. */
  retryPeriodMs?: number;
  /** Release the lease on a graceful stop. Default true. */
  releaseOnCancel?: boolean;
  clock?: Clock;
  logger: Logger;
  /** Jitter source in [0, 1). Default Math.random. */
  random?: () => number;
}

/** Campaigns for and holds one lease. */
export interface LeaderElector {
  readonly identity: string;
  /**
   * Campaigns for the lease, leads while it holds it, and resolves when the signal aborts (after
   * releasing the lease if it led) or when leadership is lost. It never campaigns again after
   * losing: the caller decides (the manager exits, like controller-runtime). Throws if already running.
   */
  run(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<void>;
  isLeader(): boolean;
  /** The holder last observed on the lease ("" when free), undefined before the first read. */
  observedLeader(): string | undefined;
}

/** client-go's JitterFactor for the acquire loop. */
const JITTER_FACTOR = 1.2;

/** Validates the options and creates an elector. Throws a RangeError for inconsistent durations. */
export function createLeaderElector(options: LeaderElectorOptions): LeaderElector {
  return new LeaderElectorImpl(options);
}

class LeaderElectorImpl implements LeaderElector {
  readonly identity: string;
  readonly #lock: LeaseLock;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #releaseOnCancel: boolean;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #random: () => number;
  /** The lease as last read or written, its version, and when (our clock) it last changed. */
  #observed: { record: LeaderElectionRecord; version: string; at: number } | undefined;
  #leading = false;
  #running = false;

  constructor(options: LeaderElectorOptions) {
    const leaseDurationMs = options.leaseDurationMs ?? 15_000;
    const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    const retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!options.identity) throw new RangeError("leader election: identity must not be empty");
    if (!(retryPeriodMs > 0)) throw new RangeError("leader election: retryPeriodMs must be positive");
    if (!(leaseDurationMs > renewDeadlineMs)) {
      throw new RangeError("leader election: leaseDurationMs must be greater than renewDeadlineMs");
    }
    if (!(renewDeadlineMs > JITTER_FACTOR * retryPeriodMs)) {
      throw new RangeError(
        `leader election: renewDeadlineMs must be greater than ${JITTER_FACTOR} × retryPeriodMs`,
      );
    }
    const lock =
      options.lock ??
      (options.kubeConfig && options.namespace && options.name
        ? createLeaseLock({
            kubeConfig: options.kubeConfig,
            namespace: options.namespace,
            name: options.name,
          })
        : undefined);
    if (!lock)
      throw new RangeError("leader election: give either lock, or kubeConfig with namespace and name");
    this.identity = options.identity;
    this.#lock = lock;
    this.#leaseDurationMs = leaseDurationMs;
    this.#renewDeadlineMs = renewDeadlineMs;
    this.#retryPeriodMs = retryPeriodMs;
    this.#releaseOnCancel = options.releaseOnCancel ?? true;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger.child({ lease: lock.description, identity: options.identity });
    this.#random = options.random ?? Math.random;
  }

  isLeader(): boolean {
    return this.#leading;
  }

  observedLeader(): string | undefined {
    return this.#observed?.record.holderIdentity;
  }

  async run(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<void> {
    if (this.#running) throw new Error(`leader elector ${this.identity} is already running`);
    this.#running = true;
    try {
      if (!(await this.#acquire(signal))) return;
      this.#leading = true;
      this.#logger.info("acquired the leader lease");
      const leaderWork = new AbortController();
      const work = Promise.resolve()
        .then(() => callbacks.onStartedLeading(leaderWork.signal))
        .catch((err: unknown) => this.#logger.error({ err }, "leader work failed"));
      const lost = !(await this.#renewLoop(signal));
      this.#leading = false;
      if (lost)
        this.#logger.error(
          { renewDeadlineMs: this.#renewDeadlineMs },
          "could not renew the leader lease; stepping down",
        );
      leaderWork.abort(lost ? new Error("leadership lost") : signal.reason);
      await work;
      if (!lost && this.#releaseOnCancel) await this.#release();
      callbacks.onStoppedLeading?.();
    } finally {
      this.#leading = false;
      this.#running = false;
    }
  }

  /** Tries until acquired (true) or the signal aborts (false, releasing if it just acquired). */
  async #acquire(signal: AbortSignal): Promise<boolean> {
    this.#logger.info("campaigning for the leader lease");
    for (;;) {
      if (signal.aborted) return false;
      const acquired = await this.#attempt(signal, this.#renewDeadlineMs);
      if (acquired && signal.aborted) {
        if (this.#releaseOnCancel) await this.#release();
        return false;
      }
      if (acquired) return true;
      const delay = this.#retryPeriodMs * (1 + JITTER_FACTOR * this.#random());
      await this.#clock.sleep(delay, signal).catch(() => undefined);
    }
  }

  /** Renews every retry period; false once no renewal succeeded for the renew deadline, true on stop. */
  async #renewLoop(signal: AbortSignal): Promise<boolean> {
    let lastRenew = this.#clock.now();
    for (;;) {
      try {
        await this.#clock.sleep(this.#retryPeriodMs, signal);
      } catch {
        return true;
      }
      const remaining = lastRenew + this.#renewDeadlineMs - this.#clock.now();
      if (remaining > 0 && (await this.#attempt(signal, remaining))) {
        lastRenew = this.#clock.now();
        continue;
      }
      if (signal.aborted) return true;
      if (this.#clock.now() - lastRenew >= this.#renewDeadlineMs) return false;
    }
  }

  /** One tryAcquireOrRenew, abandoned after `deadlineMs` on the clock. Never throws. */
  async #attempt(signal: AbortSignal, deadlineMs: number): Promise<boolean> {
    const call = new AbortController();
    const stopTimer = new AbortController();
    const forward = (): void => call.abort(signal.reason);
    if (signal.aborted) return false;
    signal.addEventListener("abort", forward, { once: true });
    void this.#clock.sleep(deadlineMs, stopTimer.signal).then(
      () => call.abort(new Error(`lease request took longer than ${deadlineMs} ms`)),
      () => undefined,
    );
    try {
      return await this.#tryAcquireOrRenew(call.signal);
    } catch (err) {
      if (signal.aborted) return false;
      // Losing a race for the lease is normal; anything else is worth a warning.
      if (isConflict(err) || isAlreadyExists(err))
        this.#logger.debug({ err }, "lost a race for the leader lease");
      else this.#logger.warn({ err }, "leader lease request failed");
      return false;
    } finally {
      stopTimer.abort();
      signal.removeEventListener("abort", forward);
    }
  }

  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const now = this.#clock.now();
    const leaseDurationSeconds = Math.ceil(this.#leaseDurationMs / 1000);
    // Fast path: the leader renews from its own last write, skipping the read; a Conflict means
    // someone else wrote the lease, and the slow path below re-reads it.
    if (this.#leading && this.#observed?.record.holderIdentity === this.identity) {
      const renewed = { ...this.#observed.record, renewTime: now, leaseDurationSeconds };
      try {
        this.#observe(renewed, await this.#lock.update(renewed, this.#observed.version, signal), now);
        return true;
      } catch (err) {
        if (signal.aborted) throw err;
      }
    }
    const current = await this.#lock.get(signal);
    if (!current) {
      const record = {
        holderIdentity: this.identity,
        leaseDurationSeconds,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      };
      this.#observe(record, await this.#lock.create(record, signal), now);
      return true;
    }
    if (current.version !== this.#observed?.version) this.#observe(current.record, current.version, now);
    const { record } = current;
    const observedAt = this.#observed?.at ?? now;
    const ours = record.holderIdentity === this.identity;
    if (record.holderIdentity !== "" && !ours && observedAt + record.leaseDurationSeconds * 1000 > now) {
      return false;
    }
    const next: LeaderElectionRecord = {
      holderIdentity: this.identity,
      leaseDurationSeconds,
      acquireTime: ours ? (record.acquireTime ?? now) : now,
      renewTime: now,
      leaseTransitions: ours ? record.leaseTransitions : record.leaseTransitions + 1,
    };
    this.#observe(next, await this.#lock.update(next, current.version, signal), now);
    return true;
  }

  #observe(record: LeaderElectionRecord, version: string, at: number): void {
    const previous = this.#observed?.record.holderIdentity;
    this.#observed = { record, version, at };
    const holder = record.holderIdentity;
    if (holder !== previous && holder !== "" && holder !== this.identity) {
      this.#logger.info({ leader: holder }, "observed a new leader");
    }
  }

  /** Hands the lease back (empty holder, 1 s duration) if we still hold it. Never throws. */
  async #release(): Promise<void> {
    const call = new AbortController();
    const stopTimer = new AbortController();
    void this.#clock.sleep(this.#renewDeadlineMs, stopTimer.signal).then(
      () => call.abort(new Error("releasing the lease took too long")),
      () => undefined,
    );
    try {
      const current = await this.#lock.get(call.signal);
      if (!current || current.record.holderIdentity !== this.identity) return;
      const now = this.#clock.now();
      const released: LeaderElectionRecord = {
        holderIdentity: "",
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: current.record.leaseTransitions,
      };
      this.#observe(released, await this.#lock.update(released, current.version, call.signal), now);
      this.#logger.info("released the leader lease");
    } catch (err) {
      this.#logger.warn({ err }, "could not release the leader lease; it will expire on its own");
    } finally {
      stopTimer.abort();
    }
  }
}
