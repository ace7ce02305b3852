import { OperatorError } from "../errors.js";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { FakeClock } from "./clock.js";
import { createController, isTerminalError, TerminalError, type Reconciler } from "./controller.js";
import { createControllerMetrics } from "./controller-metrics.js";
import { createLogger, silentLogger } from "./logger.js";
import { createRateLimitingQueue } from "./rate-limiting-queue.js";
import type { Syncable } from "./runnable.js";

/** Lets pending promise callbacks run (one macrotask turn); not a sleep. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function setup(reconcile: Reconciler<string>, options: { workers?: number; waitForSync?: Syncable[] } = {}) {
  const clock = new FakeClock(1_000_000);
  const registry = new Registry();
  const queue = createRateLimitingQueue<string>({ clock });
  const controller = createController({
    name: "test",
    queue,
    reconcile,
    clock,
    logger: silentLogger(),
    metrics: createControllerMetrics({ registry }),
    ...options,
  });
  const stop = new AbortController();
  return { clock, registry, queue, controller, stop, run: () => controller.start(stop.signal) };
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  const found = values.find((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value));
  return found?.value ?? Number.NaN;
}

describe("controller", () => {
  it("registers its metrics at zero when created", async () => {
    const { registry } = setup(async () => undefined, { workers: 3 });
    const text = await registry.metrics();
    for (const result of ["success", "error", "requeue", "requeue_after"]) {
      expect(text).toContain(`controller_runtime_reconcile_total{controller="test",result="${result}"} 0`);
    }
    expect(text).toContain('controller_runtime_reconcile_errors_total{controller="test"} 0');
    expect(text).toContain('controller_runtime_terminal_reconcile_errors_total{controller="test"} 0');
    expect(text).toContain('controller_runtime_reconcile_time_seconds_count{controller="test"} 0');
    expect(text).toContain('controller_runtime_max_concurrent_reconciles{controller="test"} 3');
    expect(text).toContain('controller_runtime_active_workers{controller="test"} 0');
  });

  it("reconciles each added key and forgets its backoff on success", async () => {
    const seen: string[] = [];
    const { queue, stop, run, registry } = setup(async (key) => void seen.push(key));
    const running = run();
    queue.add("ns/a");
    queue.add("ns/b");
    await tick();
    expect(seen).toEqual(["ns/a", "ns/b"]);
    expect(queue.numRequeues("ns/a")).toBe(0);
    expect(await metric(registry, "controller_runtime_reconcile_total", { result: "success" })).toBe(2);
    stop.abort();
    await running;
  });

  it("retries a thrown error with per-key exponential backoff, then forgets on success", async () => {
    const times: number[] = [];
    let failuresLeft = 3;
    const { clock, queue, stop, run, registry } = setup(async () => {
      times.push(clock.now());
      if (failuresLeft-- > 0) throw new Error("registry unreachable");
    });
    const running = run();
    queue.add("ns/a");
    await tick();
    for (let i = 0; i < 40; i++) {
      clock.advance(1);
      await tick();
    }
    expect(times.map((t) => t - times[0]!)).toEqual([0, 5, 15, 35]);
    expect(queue.numRequeues("ns/a")).toBe(0);
    expect(await metric(registry, "controller_runtime_reconcile_total", { result: "error" })).toBe(3);
    expect(await metric(registry, "controller_runtime_reconcile_errors_total", {})).toBe(3);
    expect(await metric(registry, "workqueue_retries_total", {})).toBeNaN(); // queue metrics are the queue's
    stop.abort();
    await running;
  });

  it("does not retry a TerminalError but logs and counts it", async () => {
    let calls = 0;
    const { clock, queue, stop, run, registry } = setup(async () => {
      calls++;
      throw new Error("wrapped", {
        cause: new TerminalError("artifact is not a ModelPack", { reason: "NotModelPack" }),
      });
    });
    const running = run();
    queue.add("ns/a");
    await tick();
    clock.advance(10 * 60_000);
    await tick();
    expect(calls).toBe(1);
    expect(queue.len()).toBe(0);
    expect(clock.pendingSleeps).toBe(0);
    expect(await metric(registry, "controller_runtime_terminal_reconcile_errors_total", {})).toBe(1);
    expect(await metric(registry, "controller_runtime_reconcile_errors_total", {})).toBe(1);
    expect(await metric(registry, "controller_runtime_reconcile_total", { result: "error" })).toBe(1);
    stop.abort();
    await running;
  });

  it("requeueAfterMs forgets the backoff and reconciles again after exactly that long", async () => {
    const times: number[] = [];
    let fail = true;
    const { clock, queue, stop, run, registry } = setup(async () => {
      times.push(clock.now());
      if (fail) {
        fail = false;
        throw new Error("transient");
      }
      return { requeueAfterMs: 30_000 };
    });
    const running = run();
    queue.add("ns/a");
    await tick();
    clock.advance(5);
    await tick();
    expect(queue.numRequeues("ns/a")).toBe(0);
    clock.advance(29_999);
    await tick();
    expect(times).toHaveLength(2);
    clock.advance(1);
    await tick();
    expect(times.map((t) => t - times[1]!)).toEqual([-5, 0, 30_000]);
    expect(await metric(registry, "controller_runtime_reconcile_total", { result: "requeue_after" })).toBe(2);
    stop.abort();
    await running;
  });

  it("runs different keys in parallel up to the worker count, never one key twice at once", async () => {
    const inFlight = new Set<string>();
    let maxParallel = 0;
    const violations: string[] = [];
    const gates: (() => void)[] = [];
    const { queue, stop, run } = setup(
      async (key) => {
        if (inFlight.has(key)) violations.push(key);
        inFlight.add(key);
        maxParallel = Math.max(maxParallel, inFlight.size);
        const gate = deferred();
        gates.push(gate.resolve);
        await gate.promise;
        inFlight.delete(key);
      },
      { workers: 2 },
    );
    const running = run();
    queue.add("a");
    queue.add("b");
    queue.add("c");
    await tick();
    expect([...inFlight].sort()).toEqual(["a", "b"]);
    queue.add("a"); // while a is in flight: must wait for a's done
    for (let round = 0; round < 6; round++) {
      for (const open of gates.splice(0)) open();
      await tick();
    }
    expect(violations).toEqual([]);
    expect(maxParallel).toBe(2);
    expect(queue.len()).toBe(0);
    stop.abort();
    await running;
  });

  it("logs an expected failure (an OperatorError) as one warn line without a stack, and a bug at error with it", async () => {
    const lines: string[] = [];
    const clock = new FakeClock();
    const queue = createRateLimitingQueue<string>({ clock });
    const controller = createController({
      name: "modeldeployment",
      queue,
      clock,
      logger: createLogger({ level: "info", destination: { write: (l: string) => void lines.push(l) } }),
      reconcile: async (key) => {
        if (key === "ml/expected") throw new OperatorError("Unreachable", "registry r.example is down");
        throw new TypeError("x is undefined");
      },
    });
    const stop = new AbortController();
    const running = controller.start(stop.signal);
    queue.add("ml/expected");
    queue.add("ml/bug");
    await tick();
    stop.abort();
    await running;
    const parsed = lines.map((l) =>
      z.looseObject({ msg: z.string(), name: z.string().optional() }).parse(JSON.parse(l)),
    );
    const expected = parsed.find((l) => l.name === "expected" && l.msg.startsWith("reconcile failed"));
    expect(expected).toMatchObject({
      level: "warn",
      code: "Unreachable",
      error: "registry r.example is down",
    });
    expect(JSON.stringify(expected)).not.toContain("stack");
    const bug = parsed.find((l) => l.name === "bug" && l.msg.startsWith("reconcile failed"));
    expect(bug).toMatchObject({ level: "error", err: { type: "TypeError" } });
    expect(JSON.stringify(bug)).toContain("stack");
  });

  it("aborts a reconcile that outlives its deadline and retries it, freeing the worker", async () => {
    const lines: string[] = [];
    const clock = new FakeClock();
    const queue = createRateLimitingQueue<string>({ clock });
    let calls = 0;
    const controller = createController({
      name: "modeldeployment",
      queue,
      clock,
      reconcileTimeoutMs: 50,
      logger: createLogger({ level: "info", destination: { write: (l: string) => void lines.push(l) } }),
      reconcile: async (_key, signal) => {
        calls++;
        // hangs until aborted, like a registry that never answers
        await new Promise((_resolve, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason)),
        );
      },
    });
    const stop = new AbortController();
    const running = controller.start(stop.signal);
    queue.add("ml/hung");
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toBe(1);
    expect(queue.numRequeues("ml/hung")).toBe(1);
    expect(
      lines.some((l) => l.includes("reconcile exceeded its deadline") && l.includes('"level":"warn"')),
    ).toBe(true);
    stop.abort();
    await running;
  });

  it("gives every reconcile a logger with controller, namespace, name and reconcileID", async () => {
    const lines: string[] = [];
    const clock = new FakeClock();
    const queue = createRateLimitingQueue<string>({ clock });
    const ids = ["id-1", "id-2"];
    const controller = createController({
      name: "modeldeployment",
      queue,
      clock,
      logger: createLogger({ level: "debug", destination: { write: (l: string) => void lines.push(l) } }),
      newReconcileID: () => ids.shift() ?? "id-x",
      reconcile: async (_key, _signal, { logger, reconcileID }) => {
        logger.info({ reconcileIDSeen: reconcileID }, "reconciling");
        if (reconcileID === "id-2") throw new Error("boom");
      },
    });
    const stop = new AbortController();
    const running = controller.start(stop.signal);
    queue.add("ml/llama");
    queue.add("cluster-scoped");
    await tick();
    stop.abort();
    await running;
    const Line = z.looseObject({ msg: z.string(), reconcileID: z.string().optional() });
    const parsed = lines.map((l) => Line.parse(JSON.parse(l)));
    const reconciling = parsed.filter((l) => l.msg === "reconciling");
    expect(reconciling[0]).toMatchObject({
      controller: "modeldeployment",
      namespace: "ml",
      name: "llama",
      reconcileID: "id-1",
      reconcileIDSeen: "id-1",
    });
    expect(reconciling[1]).toMatchObject({ name: "cluster-scoped", reconcileID: "id-2" });
    expect(reconciling[1]).not.toHaveProperty("namespace");
    const failure = parsed.find((l) => l.msg === "reconcile failed; retrying with backoff");
    expect(failure).toMatchObject({
      level: "error",
      reconcileID: "id-2",
      err: { message: "boom" },
      retries: 1,
    });
  });

  it("waits for its caches before the first reconcile", async () => {
    const synced = deferred<boolean>();
    const seen: string[] = [];
    const { queue, stop, run } = setup(async (key) => void seen.push(key), {
      waitForSync: [{ waitForSync: () => synced.promise }],
    });
    const running = run();
    queue.add("a");
    await tick();
    expect(seen).toEqual([]);
    synced.resolve(true);
    await tick();
    expect(seen).toEqual(["a"]);
    stop.abort();
    await running;
  });

  it("fails with a clear error when caches do not sync in time", async () => {
    const { clock, run } = setup(async () => undefined, {
      waitForSync: [{ waitForSync: () => new Promise<boolean>(() => undefined) }],
    });
    const running = run();
    await tick();
    clock.advance(120_000);
    await expect(running).rejects.toThrow(/caches did not sync within 120000 ms/);
  });

  it("on stop drops queued keys, lets in-flight reconciles see the abort, and resolves after them", async () => {
    const gate = deferred();
    const seen: string[] = [];
    let sawAbort = false;
    const { queue, stop, run, registry } = setup(async (key, signal) => {
      seen.push(key);
      await gate.promise;
      sawAbort = signal.aborted;
      throw signal.reason;
    });
    const running = run();
    queue.add("a");
    queue.add("b");
    await tick();
    let resolved = false;
    void running.then(() => (resolved = true));
    stop.abort(new Error("shutting down"));
    await tick();
    expect(resolved).toBe(false);
    expect(queue.shuttingDown()).toBe(true);
    gate.resolve();
    await running;
    expect(seen).toEqual(["a"]);
    expect(sawAbort).toBe(true);
    expect(await metric(registry, "controller_runtime_reconcile_errors_total", {})).toBe(0);
    expect(queue.numRequeues("a")).toBe(0);
  });

  it("refuses to start twice and rejects a bad worker count", async () => {
    const { controller, stop } = setup(async () => undefined);
    stop.abort();
    await controller.start(stop.signal);
    await expect(controller.start(stop.signal)).rejects.toThrow(/already started/);
    expect(() => setup(async () => undefined, { workers: 0 })).toThrow(/positive integer/);
  });

  it("finds a TerminalError in the cause chain", () => {
    expect(isTerminalError(new TerminalError("x"))).toBe(true);
    expect(isTerminalError(new Error("outer", { cause: new TerminalError("x") }))).toBe(true);
    expect(isTerminalError(new Error("plain"))).toBe(false);
    expect(isTerminalError("not an error")).toBe(false);
    expect(new TerminalError("x", { reason: "Invalid" })).toMatchObject({
      name: "TerminalError",
      code: "Terminal",
    });
  });
});
