import { describe, expect, it } from "vitest";
import { FakeClock } from "./clock.js";
import { createController } from "./controller.js";
import type { LeaderElector } from "./leader-election.js";
import { silentLogger } from "./logger.js";
import { createManager, ManagerError } from "./manager.js";
import { createRateLimitingQueue } from "./rate-limiting-queue.js";
import { whenAborted, type Runnable } from "./runnable.js";

/** Lets pending promise callbacks run (a few macrotask turns); not a sleep. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A runnable that records its life in `log` and runs until its signal aborts. */
function runnable(
  log: string[],
  name: string,
  options: { leader?: boolean; stopDelay?: Promise<void> } = {},
) {
  const r: Runnable = {
    name,
    async start(signal) {
      log.push(`start ${name}`);
      await whenAborted(signal);
      await options.stopDelay;
      log.push(`stop ${name}`);
    },
  };
  if (options.leader !== undefined) {
    const leader = options.leader;
    return { ...r, needLeaderElection: () => leader };
  }
  return r;
}

/** An elector the test drives: `grant()` makes it lead, `lose()` makes it lose the lease. */
function scriptedElector(log: string[]) {
  const granted = deferred();
  const lost = deferred();
  let leading = false;
  const elector: LeaderElector = {
    identity: "me",
    isLeader: () => leading,
    observedLeader: () => undefined,
    async run(signal, callbacks) {
      await Promise.race([granted.promise, whenAborted(signal)]);
      if (signal.aborted) return;
      leading = true;
      log.push("leading");
      const leaderWork = new AbortController();
      const work = Promise.resolve(callbacks.onStartedLeading(leaderWork.signal));
      const wasLost = await Promise.race([
        lost.promise.then(() => true),
        whenAborted(signal).then(() => false),
      ]);
      leaderWork.abort();
      await work;
      leading = false;
      if (!wasLost) log.push("lease released");
      callbacks.onStoppedLeading?.();
    },
  };
  return { elector, grant: granted.resolve, lose: lost.resolve };
}

describe("manager", () => {
  it("starts non-leader runnables at once and leader runnables only once leading", async () => {
    const log: string[] = [];
    const { elector, grant } = scriptedElector(log);
    const manager = createManager({
      logger: silentLogger(),
      leaderElection: elector,
      runnables: [runnable(log, "informer", { leader: false }), runnable(log, "controller")],
    });
    const stop = new AbortController();
    const running = manager.start(stop.signal);
    await settle();
    expect(log).toEqual(["start informer"]);
    expect(manager.isLeader()).toBe(false);
    grant();
    await settle();
    expect(log).toEqual(["start informer", "leading", "start controller"]);
    expect(manager.isLeader()).toBe(true);
    stop.abort();
    await running;
    // Controllers stop first, then the lease is released, then everything else.
    expect(log.slice(3)).toEqual(["stop controller", "lease released", "stop informer"]);
  });

  it("without leader election starts everything at once (runnables need the lease by default)", async () => {
    const log: string[] = [];
    const manager = createManager({ logger: silentLogger() });
    manager.add(runnable(log, "a"));
    manager.add(runnable(log, "b", { leader: false }));
    const stop = new AbortController();
    const running = manager.start(stop.signal);
    await settle();
    expect(log.sort()).toEqual(["start a", "start b"]);
    expect(manager.isLeader()).toBe(true);
    stop.abort();
    await running;
    expect(() => manager.add(runnable(log, "late"))).toThrow(/before the manager starts/);
    await expect(manager.start(stop.signal)).rejects.toThrow(/already started/);
  });

  it("stops everything and names the runnable when one fails", async () => {
    const log: string[] = [];
    const failing: Runnable = {
      name: "webhook",
      needLeaderElection: () => false,
      async start() {
        await settle();
        throw new Error("listen EADDRINUSE 127.0.0.1:9443");
      },
    };
    const manager = createManager({
      logger: silentLogger(),
      runnables: [runnable(log, "controller"), failing],
    });
    const error = await manager.start(new AbortController().signal).catch((err: unknown) => err);
    if (!(error instanceof ManagerError)) throw new Error(`expected a ManagerError, got ${String(error)}`);
    expect(error).toMatchObject({
      code: "RunnableFailed",
      runnable: "webhook",
      message: "runnable webhook failed: listen EADDRINUSE 127.0.0.1:9443",
    });
    expect(error.cause).toBeInstanceOf(Error);
    expect(log).toEqual(["start controller", "stop controller"]);
  });

  it("fails with LeaderElectionLost when the lease is lost, after stopping everything", async () => {
    const log: string[] = [];
    const { elector, grant, lose } = scriptedElector(log);
    const manager = createManager({
      logger: silentLogger(),
      leaderElection: elector,
      runnables: [runnable(log, "controller"), runnable(log, "cache", { leader: false })],
    });
    const running = manager.start(new AbortController().signal);
    grant();
    await settle();
    lose();
    await expect(running).rejects.toMatchObject({ code: "LeaderElectionLost" });
    expect(log).toEqual(["start cache", "leading", "start controller", "stop controller", "stop cache"]);
  });

  it("gives up on runnables that do not stop within the graceful shutdown timeout", async () => {
    const log: string[] = [];
    const clock = new FakeClock();
    const stuck = deferred();
    const manager = createManager({
      logger: silentLogger(),
      clock,
      gracefulShutdownTimeoutMs: 30_000,
      runnables: [runnable(log, "stuck", { leader: false, stopDelay: stuck.promise }), runnable(log, "fine")],
    });
    const stop = new AbortController();
    const running = manager.start(stop.signal);
    await settle();
    stop.abort();
    await settle();
    clock.advance(30_000);
    await expect(running).rejects.toMatchObject({ code: "ShutdownTimeout", runnable: "stuck" });
    expect(log).toContain("stop fine");
    stuck.resolve();
  });

  it("lets a controller finish its in-flight reconcile before it resolves", async () => {
    const clock = new FakeClock();
    const queue = createRateLimitingQueue<string>({ clock });
    const gate = deferred();
    const finished: string[] = [];
    const controller = createController({
      name: "demo",
      queue,
      clock,
      logger: silentLogger(),
      reconcile: async (key) => {
        await gate.promise;
        finished.push(key);
      },
    });
    const manager = createManager({ logger: silentLogger(), clock, runnables: [controller] });
    const stop = new AbortController();
    const running = manager.start(stop.signal);
    queue.add("ns/a");
    queue.add("ns/b");
    await settle();
    stop.abort();
    await settle();
    let resolved = false;
    void running.then(() => (resolved = true));
    await settle();
    expect(resolved).toBe(false);
    gate.resolve();
    await running;
    expect(finished).toEqual(["ns/a"]);
    expect(queue.shuttingDown()).toBe(true);
  });
});
