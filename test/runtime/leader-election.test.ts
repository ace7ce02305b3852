/**
 * Lease-based leader election against a real kube-apiserver (harness): one of two replicas leads,
 * a graceful stop hands over at once, a crash hands over after the lease duration, and the lease
 * object carries what `kubectl get lease` users expect.
 */
import { CoordinationV1Api, type KubeConfig } from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { createLeaderElector, type LeaderElector } from "../../src/runtime/leader-election.js";
import { createLogger } from "../../src/runtime/logger.js";
import { createNamespace, useControlPlane, waitFor } from "../harness/testing.js";

const plane = useControlPlane();
const logger = createLogger({ level: process.env.TEST_LOG_LEVEL === "debug" ? "debug" : "silent" });

/** Short but consistent durations (lease 3 s > renew deadline 2 s > 1.2 × retry 0.5 s). */
const DURATIONS = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };

let kubeConfig: KubeConfig;
let namespace: string;

beforeAll(async () => {
  kubeConfig = plane().kubeConfig;
  namespace = await createNamespace(kubeConfig, "leader");
});

interface Replica {
  elector: LeaderElector;
  stop: AbortController;
  running: Promise<void>;
  leadingSince: () => number | undefined;
  leaderWorkStoppedAt: () => number | undefined;
}

function replica(lease: string, identity: string, releaseOnCancel = true): Replica {
  const elector = createLeaderElector({
    kubeConfig,
    namespace,
    name: lease,
    identity,
    logger,
    releaseOnCancel,
    ...DURATIONS,
  });
  const stop = new AbortController();
  let leadingSince: number | undefined;
  let leaderWorkStoppedAt: number | undefined;
  const running = elector.run(stop.signal, {
    onStartedLeading: async (signal) => {
      leadingSince = Date.now();
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      leaderWorkStoppedAt = Date.now();
    },
  });
  return {
    elector,
    stop,
    running,
    leadingSince: () => leadingSince,
    leaderWorkStoppedAt: () => leaderWorkStoppedAt,
  };
}

async function readLease(name: string) {
  return kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ name, namespace });
}

/**
 * Epoch ms of a MicroTime field. client-node types it as Date but returns the wire string
 * (its serializer does not convert MicroTime), so accept both.
 */
function epochMs(value: Date | string | undefined): number {
  return value instanceof Date ? value.getTime() : Date.parse(String(value));
}

/** Samples both replicas until `ms` passed and returns the largest number that led at once. */
async function maxSimultaneousLeaders(replicas: Replica[], ms: number): Promise<number> {
  let max = 0;
  const until = Date.now() + ms;
  while (Date.now() < until) {
    max = Math.max(max, replicas.filter((r) => r.elector.isLeader()).length);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return max;
}

describe("leader election against a real apiserver", () => {
  it("elects exactly one of two replicas and records it on the Lease", async () => {
    const a = replica("one-leader", "replica-a");
    const b = replica("one-leader", "replica-b");
    const leader = await waitFor("a leader", async () => [a, b].find((r) => r.elector.isLeader()));
    expect(await maxSimultaneousLeaders([a, b], 3 * DURATIONS.leaseDurationMs)).toBe(1);
    const lease = await readLease("one-leader");
    expect(lease.spec?.holderIdentity).toBe(leader.elector.identity);
    expect(lease.spec?.leaseDurationSeconds).toBe(3);
    expect(lease.spec?.renewTime).toBeDefined();
    expect(String(lease.spec?.renewTime)).toMatch(/\.\d{6}Z$/); // MicroTime: microsecond precision
    expect(Date.now() - epochMs(lease.spec?.renewTime)).toBeLessThan(2 * DURATIONS.retryPeriodMs + 1_000);
    a.stop.abort();
    b.stop.abort();
    await Promise.all([a.running, b.running]);
  });

  it("hands over at once when the leader stops gracefully (leader work stops before the release)", async () => {
    const a = replica("graceful", "replica-a");
    await waitFor("a to lead", async () => (a.elector.isLeader() ? true : undefined));
    const b = replica("graceful", "replica-b");
    await waitFor("b to observe a", async () =>
      b.elector.observedLeader() === "replica-a" ? true : undefined,
    );
    const stoppedAt = Date.now();
    a.stop.abort();
    await a.running;
    expect((await readLease("graceful")).spec?.holderIdentity).toBe("");
    expect(a.leaderWorkStoppedAt()).toBeDefined();
    await waitFor("b to lead", async () => (b.elector.isLeader() ? true : undefined), { intervalMs: 20 });
    const handover = b.leadingSince()! - stoppedAt;
    // At most one jittered retry period (≤ 2.2 × 500 ms), far below the 3 s lease duration.
    expect(handover).toBeLessThan(1_600);
    const lease = await readLease("graceful");
    expect(lease.spec).toMatchObject({ holderIdentity: "replica-b", leaseTransitions: 1 });
    b.stop.abort();
    await b.running;
  });

  it("takes over within the lease duration when the leader crashes without releasing", async () => {
    const a = replica("crash", "replica-a", false);
    await waitFor("a to lead", async () => (a.elector.isLeader() ? true : undefined));
    const b = replica("crash", "replica-b");
    await waitFor("b to observe a", async () =>
      b.elector.observedLeader() === "replica-a" ? true : undefined,
    );
    a.stop.abort(); // the "crash": renewals stop and nothing is released
    await a.running;
    const lastRenew = epochMs((await readLease("crash")).spec?.renewTime);
    expect((await readLease("crash")).spec?.holderIdentity).toBe("replica-a");
    await waitFor("b to lead", async () => (b.elector.isLeader() ? true : undefined), { intervalMs: 20 });
    const takeover = b.leadingSince()! - lastRenew;
    // Not before the lease expired, and no later than one lease duration plus two jittered retry
    // periods: b sees the last renewal up to one period after it was written and counts the lease
    // from then, and notices the expiry up to one period later.
    expect(takeover).toBeGreaterThanOrEqual(DURATIONS.leaseDurationMs - 100);
    expect(takeover).toBeLessThan(DURATIONS.leaseDurationMs + 2 * 2.2 * DURATIONS.retryPeriodMs + 500);
    expect((await readLease("crash")).spec).toMatchObject({
      holderIdentity: "replica-b",
      leaseTransitions: 1,
    });
    b.stop.abort();
    await b.running;
  });
});
