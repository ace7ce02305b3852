import { describe, expect, it } from "vitest";
import { FakeClock } from "./clock.js";
import { createDelayingQueue } from "./delaying-queue.js";
import { createWorkQueue, type WorkQueue } from "./queue.js";
import type { QueueMetrics } from "./queue-metrics.js";
import { createRateLimitingQueue } from "./rate-limiting-queue.js";

/** Lets pending promise callbacks run (one macrotask turn); not a sleep. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function recordingMetrics(): QueueMetrics<string> & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    add: (key) => calls.push(`add ${key}`),
    get: (key) => calls.push(`get ${key}`),
    done: (key) => calls.push(`done ${key}`),
    retry: (key) => calls.push(`retry ${key}`),
  };
}

type Factory = (metrics?: QueueMetrics<string>) => WorkQueue<string>;

/** The base-queue contract, run against every layer: each must behave exactly like the base. */
const implementations: [string, Factory][] = [
  ["base queue", (metrics) => createWorkQueue(metrics ? { metrics } : {})],
  [
    "delaying queue",
    (metrics) => createDelayingQueue({ clock: new FakeClock(), ...(metrics && { metrics }) }),
  ],
  [
    "rate-limiting queue",
    (metrics) => createRateLimitingQueue({ clock: new FakeClock(), ...(metrics && { metrics }) }),
  ],
];

describe.each(implementations)("WorkQueue contract: %s", (_name, create) => {
  it("hands keys out first in, first out", async () => {
    const queue = create();
    queue.add("ns/a");
    queue.add("ns/b");
    queue.add("ns/c");
    expect(queue.len()).toBe(3);
    expect([await queue.get(), await queue.get(), await queue.get()]).toEqual(["ns/a", "ns/b", "ns/c"]);
    expect(queue.len()).toBe(0);
  });

  it("collapses repeated adds of a queued key into one", async () => {
    const queue = create();
    queue.add("a");
    queue.add("b");
    queue.add("a");
    queue.add("a");
    expect(queue.len()).toBe(2);
    expect(await queue.get()).toBe("a");
    expect(await queue.get()).toBe("b");
    expect(queue.len()).toBe(0);
  });

  it("is stingy: a key added while held is re-queued only after done", async () => {
    const queue = create();
    queue.add("a");
    const key = await queue.get();
    expect(key).toBe("a");
    queue.add("a");
    queue.add("a");
    expect(queue.len()).toBe(0);
    let second: string | undefined;
    void queue.get().then((k) => (second = k));
    await tick();
    expect(second).toBeUndefined();
    queue.done("a");
    await tick();
    expect(second).toBe("a");
    queue.done("a");
    expect(queue.len()).toBe(0);
  });

  it("does not re-queue a key that was not added again while held", async () => {
    const queue = create();
    queue.add("a");
    queue.done((await queue.get())!);
    expect(queue.len()).toBe(0);
  });

  it("ignores done for a key it did not hand out", async () => {
    const queue = create();
    queue.add("a");
    queue.done("a");
    queue.done("b");
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe("a");
    expect(queue.len()).toBe(0);
  });

  it("serves waiting getters in call order as keys arrive", async () => {
    const queue = create();
    const got: string[] = [];
    const first = queue.get().then((k) => got.push(`first:${k}`));
    const second = queue.get().then((k) => got.push(`second:${k}`));
    await tick();
    expect(got).toEqual([]);
    queue.add("x");
    queue.add("y");
    await Promise.all([first, second]);
    expect(got).toEqual(["first:x", "second:y"]);
  });

  it("never gives one key to two workers at once, and processes every last add", async () => {
    const queue = create();
    const inFlight = new Set<string>();
    const violations: string[] = [];
    const processed: string[] = [];
    const worker = async (): Promise<void> => {
      for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
        if (inFlight.has(key)) violations.push(key);
        inFlight.add(key);
        await tick();
        processed.push(key);
        inFlight.delete(key);
        queue.done(key);
      }
    };
    const workers = [worker(), worker(), worker()];
    const keys = ["a", "b", "c", "d"];
    for (let round = 0; round < 50; round++) {
      for (const key of keys) if ((round + key.charCodeAt(0)) % 3 !== 0) queue.add(key);
      if (round % 2 === 0) await tick();
    }
    const lastAddAt = processed.length;
    for (const key of keys) queue.add(key);
    await queue.shutDownWithDrain();
    await Promise.all(workers);
    expect(violations).toEqual([]);
    // Every key added at the end was processed after that add.
    expect(new Set(processed.slice(lastAddAt))).toEqual(new Set(keys));
  });

  it("after shutDown ignores adds, hands out what is queued, then resolves undefined", async () => {
    const queue = create();
    let waiterGot: string | undefined = "pending";
    const empty = create();
    void empty.get().then((k) => (waiterGot = k));
    empty.shutDown();
    await tick();
    expect(waiterGot).toBeUndefined();

    queue.add("a");
    queue.add("b");
    queue.shutDown();
    expect(queue.shuttingDown()).toBe(true);
    queue.add("c");
    expect(queue.len()).toBe(2);
    expect(await queue.get()).toBe("a");
    expect(await queue.get()).toBe("b");
    expect(await queue.get()).toBeUndefined();
    queue.shutDown(); // idempotent
  });

  it("shutDownWithDrain resolves only after every held key is done", async () => {
    const queue = create();
    queue.add("a");
    queue.add("b");
    const a = await queue.get();
    let drained = false;
    const drain = queue.shutDownWithDrain().then(() => (drained = true));
    expect(await queue.get()).toBe("b");
    queue.done("b");
    await tick();
    expect(drained).toBe(false);
    queue.done(a!);
    await drain;
    expect(drained).toBe(true);
    expect(await queue.get()).toBeUndefined();
  });

  it("shutDownWithDrain of an idle queue resolves at once", async () => {
    const queue = create();
    await expect(queue.shutDownWithDrain()).resolves.toBeUndefined();
  });

  it("reports adds, hand-outs and dones to its metrics hooks", async () => {
    const metrics = recordingMetrics();
    const queue = create(metrics);
    queue.add("a");
    queue.add("a"); // collapsed: not an add
    const key = await queue.get();
    queue.add("a"); // dirty while held: counted once more
    queue.done(key!);
    queue.done((await queue.get())!);
    expect(metrics.calls).toEqual(["add a", "get a", "add a", "done a", "get a", "done a"]);
  });
});
