import { describe, expect, it } from "vitest";
import { FakeClock } from "./clock.js";
import { KubeApiError } from "./kube-errors.js";
import { createLeaderElector, type LeaderElectionRecord, type LeaseLock } from "./leader-election.js";
import { silentLogger } from "./logger.js";

/** Lets pending promise callbacks run (a few macrotask turns); not a sleep. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** One lease in memory with the apiserver's optimistic concurrency. */
class MemoryLease {
  record: LeaderElectionRecord | undefined;
  version = 0;
  writes = 0;

  /** A lock for one replica; `broken` makes every call of that replica fail (a partition). */
  lockFor(): LeaseLock & { broken: boolean } {
    const write = (record: LeaderElectionRecord): string => this.write(record);
    const current = (): LeaderElectionRecord | undefined => this.record;
    const version = (): string => String(this.version);
    return {
      description: "ns/lease",
      broken: false,
      async get() {
        if (this.broken) throw new KubeApiError("Unreachable", "partitioned");
        const record = current();
        return record && { record: { ...record }, version: version() };
      },
      async create(record) {
        if (this.broken) throw new KubeApiError("Unreachable", "partitioned");
        if (current()) throw new KubeApiError("AlreadyExists", "exists", { status: 409 });
        return write(record);
      },
      async update(record, expected) {
        if (this.broken) throw new KubeApiError("Unreachable", "partitioned");
        if (expected !== version()) throw new KubeApiError("Conflict", "stale", { status: 409 });
        return write(record);
      },
    };
  }

  write(record: LeaderElectionRecord): string {
    this.record = { ...record };
    this.writes++;
    return String(++this.version);
  }
}

const DURATIONS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

function replica(
  lease: MemoryLease,
  clock: FakeClock,
  identity: string,
  options: { releaseOnCancel?: boolean } = {},
) {
  const lock = lease.lockFor();
  const elector = createLeaderElector({
    lock,
    identity,
    clock,
    logger: silentLogger(),
    random: () => 0,
    ...DURATIONS,
    ...options,
  });
  const stop = new AbortController();
  const log: string[] = [];
  let leaderSignal: AbortSignal | undefined;
  const running = elector.run(stop.signal, {
    onStartedLeading: async (signal) => {
      leaderSignal = signal;
      log.push("started");
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      log.push("work returned");
    },
    onStoppedLeading: () => log.push("stopped"),
  });
  return { elector, lock, stop, log, running, leaderSignal: () => leaderSignal };
}

/** Advances the fake clock in steps, letting the electors react after each. */
async function advance(clock: FakeClock, ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await settle();
  }
}

describe("leader election", () => {
  it("creates a missing lease and leads at once, renewing it every retry period", async () => {
    const lease = new MemoryLease();
    const clock = new FakeClock(1_000_000);
    const a = replica(lease, clock, "a");
    await settle();
    expect(a.elector.isLeader()).toBe(true);
    expect(a.log).toEqual(["started"]);
    expect(lease.record).toMatchObject({
      holderIdentity: "a",
      leaseDurationSeconds: 15,
      leaseTransitions: 0,
    });
    const acquiredAt = lease.record?.acquireTime;
    await advance(clock, 6_000);
    expect(lease.record?.renewTime).toBe(1_006_000);
    expect(lease.record?.acquireTime).toBe(acquiredAt);
    a.stop.abort();
    await a.running;
  });

  it("lets only one of two replicas lead", async () => {
    const lease = new MemoryLease();
    const clock = new FakeClock();
    const a = replica(lease, clock, "a");
    const b = replica(lease, clock, "b");
    await advance(clock, 60_000);
    expect([a.elector.isLeader(), b.elector.isLeader()].filter(Boolean)).toHaveLength(1);
    expect(b.elector.observedLeader()).toBe("a");
    a.stop.abort();
    b.stop.abort();
    await Promise.all([a.running, b.running]);
  });

  it("on a graceful stop, stops leader work first, releases the lease, and the other takes over within a retry period", async () => {
    const lease = new MemoryLease();
    const clock = new FakeClock();
    const a = replica(lease, clock, "a");
    await settle();
    const b = replica(lease, clock, "b");
    await advance(clock, 10_000);
    a.stop.abort();
    await a.running;
    expect(a.log).toEqual(["started", "work returned", "stopped"]);
    expect(a.leaderSignal()?.aborted).toBe(true);
    expect(lease.record?.holderIdentity).toBe("");
    await advance(clock, DURATIONS.retryPeriodMs);
    expect(b.elector.isLeader()).toBe(true);
    expect(lease.record).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
    b.stop.abort();
    await b.running;
  });

  it("after a crash (no release, no renewals) the other takes over once the lease expired, not before", async () => {
    const lease = new MemoryLease();
    const clock = new FakeClock();
    const a = replica(lease, clock, "a", { releaseOnCancel: false });
    await settle();
    const b = replica(lease, clock, "b");
    await advance(clock, 10_000);
    const lastRenew = lease.record?.renewTime ?? 0;
    a.stop.abort(); // the process "dies": nothing is released
    await a.running;
    expect(lease.record?.holderIdentity).toBe("a");
    await advance(clock, lastRenew + DURATIONS.leaseDurationMs - clock.now() - 100);
    expect(b.elector.isLeader()).toBe(false);
    await advance(clock, DURATIONS.retryPeriodMs + 100);
    expect(b.elector.isLeader()).toBe(true);
    expect(lease.record).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
    b.stop.abort();
    await b.running;
  });

  it("steps down when it cannot renew for the renew deadline, before the lease can expire for others", async () => {
    const lease = new MemoryLease();
    const clock = new FakeClock();
    const a = replica(lease, clock, "a");
    await settle();
    const b = replica(lease, clock, "b");
    await advance(clock, 4_000);
    a.lock.broken = true; // a is partitioned from the apiserver
    const partitionedAt = clock.now();
    let steppedDownAt: number | undefined;
    void a.running.then(() => (steppedDownAt = clock.now()));
    await advance(clock, 12_000);
    expect(steppedDownAt).toBeDefined();
    expect(a.log).toEqual(["started", "work returned", "stopped"]);
    expect(a.elector.isLeader()).toBe(false);
    // a stopped within the renew deadline of its last renewal; b could not lead before the lease expired.
    expect(steppedDownAt! - partitionedAt).toBeLessThanOrEqual(DURATIONS.renewDeadlineMs);
    expect(b.elector.isLeader()).toBe(false);
    await advance(clock, 8_000);
    expect(b.elector.isLeader()).toBe(true);
    b.stop.abort();
    await b.running;
  });

  it("uses optimistic concurrency: a write from a stale read fails and does not lead", async () => {
    const lease = new MemoryLease();
    const clock = new FakeClock();
    const lock = lease.lockFor();
    const stale = await lock.create(
      { holderIdentity: "", leaseDurationSeconds: 1, acquireTime: 0, renewTime: 0, leaseTransitions: 3 },
      new AbortController().signal,
    );
    const racing: LeaseLock = {
      description: "ns/lease",
      get: async () => ({ record: lease.record!, version: stale }),
      create: lock.create.bind(lock),
      update: async (record, version, signal) => {
        // Someone else writes between our read and our write.
        await lock.update({ ...lease.record!, holderIdentity: "c" }, String(lease.version), signal);
        return lock.update(record, version, signal);
      },
    };
    const elector = createLeaderElector({
      lock: racing,
      identity: "a",
      clock,
      logger: silentLogger(),
      ...DURATIONS,
    });
    const stop = new AbortController();
    const running = elector.run(stop.signal, { onStartedLeading: () => undefined });
    await settle();
    expect(elector.isLeader()).toBe(false);
    expect(lease.record?.holderIdentity).toBe("c");
    stop.abort();
    await running;
  });

  it("validates its durations and refuses to run twice", async () => {
    const lock = new MemoryLease().lockFor();
    const base = { lock, identity: "a", logger: silentLogger() };
    expect(() => createLeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(
      /greater than renewDeadlineMs/,
    );
    expect(() => createLeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow(
      /1.2/,
    );
    expect(() => createLeaderElector({ ...base, identity: "" })).toThrow(/identity/);
    expect(() => createLeaderElector({ identity: "a", logger: silentLogger() })).toThrow(/lock/);
    const elector = createLeaderElector({ ...base, clock: new FakeClock() });
    const stop = new AbortController();
    const running = elector.run(stop.signal, { onStartedLeading: () => undefined });
    await expect(elector.run(stop.signal, { onStartedLeading: () => undefined })).rejects.toThrow(
      /already running/,
    );
    stop.abort();
    await running;
  });
});
