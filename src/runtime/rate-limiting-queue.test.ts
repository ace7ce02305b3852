import { describe, expect, it } from "vitest";
import { FakeClock } from "./clock.js";
import type { QueueMetrics } from "./queue-metrics.js";
import { createRateLimitingQueue } from "./rate-limiting-queue.js";
import { exponentialFailureRateLimiter } from "./rate-limiter.js";

/** Lets pending promise callbacks run (one macrotask turn); not a sleep. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("rate-limiting queue", () => {
  it("re-adds with growing per-key backoff until forgotten", async () => {
    const clock = new FakeClock();
    const queue = createRateLimitingQueue({ clock, rateLimiter: exponentialFailureRateLimiter(5, 1000) });
    const delays: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const start = clock.now();
      queue.addRateLimited("a");
      while (queue.len() === 0) {
        clock.advance(1);
        await tick();
      }
      delays.push(clock.now() - start);
      queue.done((await queue.get())!);
    }
    expect(delays).toEqual([5, 10, 20, 40]);
    expect(queue.numRequeues("a")).toBe(4);
    queue.forget("a");
    expect(queue.numRequeues("a")).toBe(0);
  });

  it("uses client-go's default limiter: 5 ms per key first, then the 10 qps bucket after a burst of 100", async () => {
    const clock = new FakeClock();
    const queue = createRateLimitingQueue({ clock });
    for (let i = 0; i < 100; i++) queue.addRateLimited(`k${i}`);
    clock.advance(5);
    await tick();
    expect(queue.len()).toBe(100);
    // The bucket is empty; 5 ms refilled 0.05 tokens, so the next one is 95 ms away at 10 qps.
    queue.addRateLimited("k100");
    clock.advance(94);
    await tick();
    expect(queue.len()).toBe(100);
    clock.advance(1);
    await tick();
    expect(queue.len()).toBe(101);
  });

  it("counts retries and ignores addRateLimited after shutdown", () => {
    const calls: string[] = [];
    const metrics: QueueMetrics<string> = {
      add: () => undefined,
      get: () => undefined,
      done: () => undefined,
      retry: (key) => calls.push(key),
    };
    const clock = new FakeClock();
    const queue = createRateLimitingQueue({ clock, metrics });
    queue.addRateLimited("a");
    queue.shutDown();
    queue.addRateLimited("b");
    expect(calls).toEqual(["a"]);
    expect(queue.numRequeues("b")).toBe(0);
    expect(clock.pendingSleeps).toBe(0);
  });
});
