import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { FakeClock } from "./clock.js";
import { createWorkQueueMetrics } from "./queue-metrics.js";
import { createRateLimitingQueue } from "./rate-limiting-queue.js";

async function sample(registry: Registry, metric: string, queue: string): Promise<number | undefined> {
  const found = await registry.getSingleMetric(metric)?.get();
  return found?.values.find((v) => v.labels.name === queue)?.value;
}

describe("work queue metrics", () => {
  it("registers every series at zero for a new queue, with controller-runtime's names and labels", async () => {
    const registry = new Registry();
    createWorkQueueMetrics({ registry, clock: new FakeClock() }).forQueue("modeldeployment");
    const text = await registry.metrics();
    for (const line of [
      'workqueue_depth{name="modeldeployment",controller="modeldeployment"} 0',
      'workqueue_adds_total{name="modeldeployment",controller="modeldeployment"} 0',
      'workqueue_retries_total{name="modeldeployment",controller="modeldeployment"} 0',
      'workqueue_queue_duration_seconds_count{name="modeldeployment",controller="modeldeployment"} 0',
      'workqueue_work_duration_seconds_count{name="modeldeployment",controller="modeldeployment"} 0',
      'workqueue_unfinished_work_seconds{name="modeldeployment",controller="modeldeployment"} 0',
      'workqueue_longest_running_processor_seconds{name="modeldeployment",controller="modeldeployment"} 0',
    ]) {
      expect(text).toContain(line);
    }
  });

  it("tracks depth, adds, retries, latencies and unfinished work of a live queue", async () => {
    const registry = new Registry();
    const clock = new FakeClock();
    const provider = createWorkQueueMetrics({ registry, clock });
    const queue = createRateLimitingQueue({ clock, metrics: provider.forQueue("q") });
    queue.add("a");
    queue.add("b");
    queue.add("a");
    expect(await sample(registry, "workqueue_depth", "q")).toBe(2);
    expect(await sample(registry, "workqueue_adds_total", "q")).toBe(2);
    clock.advance(2_000);
    const key = await queue.get();
    expect(await sample(registry, "workqueue_depth", "q")).toBe(1);
    clock.advance(3_000);
    expect(await sample(registry, "workqueue_unfinished_work_seconds", "q")).toBe(3);
    expect(await sample(registry, "workqueue_longest_running_processor_seconds", "q")).toBe(3);
    queue.addRateLimited("c");
    expect(await sample(registry, "workqueue_retries_total", "q")).toBe(1);
    queue.done(key!);
    expect(await sample(registry, "workqueue_unfinished_work_seconds", "q")).toBe(0);
    const text = await registry.metrics();
    expect(text).toContain('workqueue_queue_duration_seconds_sum{name="q",controller="q"} 2');
    expect(text).toContain('workqueue_work_duration_seconds_sum{name="q",controller="q"} 3');
  });

  it("keeps two queues apart on one registry and refuses a duplicate queue name", async () => {
    const registry = new Registry();
    const provider = createWorkQueueMetrics({ registry });
    const one = createRateLimitingQueue({ metrics: provider.forQueue("one") });
    createRateLimitingQueue({ metrics: provider.forQueue("two") });
    one.add("x");
    expect(await sample(registry, "workqueue_depth", "one")).toBe(1);
    expect(await sample(registry, "workqueue_depth", "two")).toBe(0);
    expect(() => provider.forQueue("one")).toThrow(/already created/);
    expect(() => createWorkQueueMetrics({ registry })).toThrow();
    one.shutDown();
  });
});
