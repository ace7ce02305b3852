/**
 * Work-queue metrics, after client-go's `queueMetrics`: the queue calls four hooks and knows
 * nothing about Prometheus. `createWorkQueueMetrics` implements the hooks on an injected
 * prom-client Registry with controller-runtime's metric names and labels (`name`, `controller`),
 * so existing workqueue dashboards and alerts work unchanged.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { systemClock, type Clock } from "./clock.js";

/**
 * Hooks a queue calls. Each key passes add → get → done; a key added again while it is processed
 * passes add again and is handed out after its done (never twice at once).
 */
export interface QueueMetrics<K> {
  /** The key entered the queue's dirty set (collapsed repeat adds are not reported). */
  add(key: K): void;
  /** A worker got the key. */
  get(key: K): void;
  /** The worker called done. */
  done(key: K): void;
  /** The key was re-added with rate-limited backoff. */
  retry(key: K): void;
}

/** Hooks that record nothing: the default of every queue. */
export function noopQueueMetrics<K>(): QueueMetrics<K> {
  return { add() {}, get() {}, done() {}, retry() {} };
}

/** Hands out the hooks of named queues; all queues share one set of metric families. */
export interface WorkQueueMetrics {
  /** The hooks for queue `name`, with its series registered at zero. Call once per queue name. */
  forQueue(name: string): QueueMetrics<string>;
}

/** Options of `createWorkQueueMetrics`. */
export interface WorkQueueMetricsOptions {
  /** Where the families are registered. Registering a second provider on one registry throws. */
  registry: Registry;
  /** Time source of latencies and unfinished work. Default: the system clock. */
  clock?: Clock;
}

/** 10 ns to 1000 s by decades, as client-go's workqueue histograms. */
const QUEUE_BUCKETS = Array.from({ length: 12 }, (_, i) => 1e-8 * 10 ** i);

/**
 * Registers `workqueue_depth`, `workqueue_adds_total`, `workqueue_queue_duration_seconds`,
 * `workqueue_work_duration_seconds`, `workqueue_unfinished_work_seconds`,
 * `workqueue_longest_running_processor_seconds` and `workqueue_retries_total` on the registry.
 * The two "unfinished" gauges are computed when scraped, so no timer runs.
 */
export function createWorkQueueMetrics(options: WorkQueueMetricsOptions): WorkQueueMetrics {
  const { registry } = options;
  const clock = options.clock ?? systemClock;
  const labelNames = ["name", "controller"] as const;
  /** Per queue: when each key was added (waiting) and when each key's processing started. */
  const queues = new Map<string, { added: Map<string, number>; processing: Map<string, number> }>();

  const depth = new Gauge({
    name: "workqueue_depth",
    help: "Current depth of workqueue",
    labelNames,
    registers: [registry],
  });
  const adds = new Counter({
    name: "workqueue_adds_total",
    help: "Total number of adds handled by workqueue",
    labelNames,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "workqueue_queue_duration_seconds",
    help: "How long in seconds an item stays in workqueue before being requested",
    labelNames,
    buckets: QUEUE_BUCKETS,
    registers: [registry],
  });
  const workDuration = new Histogram({
    name: "workqueue_work_duration_seconds",
    help: "How long in seconds processing an item from workqueue takes",
    labelNames,
    buckets: QUEUE_BUCKETS,
    registers: [registry],
  });
  const retries = new Counter({
    name: "workqueue_retries_total",
    help: "Total number of retries handled by workqueue",
    labelNames,
    registers: [registry],
  });
  new Gauge({
    name: "workqueue_unfinished_work_seconds",
    help:
      "How many seconds of work has been done that is in progress and hasn't been observed by " +
      "work_duration. Large values indicate stuck threads.",
    labelNames,
    registers: [registry],
    collect() {
      const now = clock.now();
      for (const [name, queue] of queues) {
        let total = 0;
        for (const started of queue.processing.values()) total += now - started;
        this.set({ name, controller: name }, total / 1000);
      }
    },
  });
  new Gauge({
    name: "workqueue_longest_running_processor_seconds",
    help: "How many seconds has the longest running processor for workqueue been running.",
    labelNames,
    registers: [registry],
    collect() {
      const now = clock.now();
      for (const [name, queue] of queues) {
        let longest = 0;
        for (const started of queue.processing.values()) longest = Math.max(longest, now - started);
        this.set({ name, controller: name }, longest / 1000);
      }
    },
  });

  return {
    forQueue(name) {
      if (queues.has(name)) throw new Error(`work queue metrics for "${name}" were already created`);
      const state = { added: new Map<string, number>(), processing: new Map<string, number>() };
      queues.set(name, state);
      const labels = { name, controller: name };
      depth.set(labels, 0);
      adds.inc(labels, 0);
      retries.inc(labels, 0);
      latency.zero(labels);
      workDuration.zero(labels);
      return {
        add(key) {
          adds.inc(labels);
          depth.inc(labels);
          if (!state.added.has(key)) state.added.set(key, clock.now());
        },
        get(key) {
          depth.dec(labels);
          const now = clock.now();
          const added = state.added.get(key);
          if (added !== undefined) latency.observe(labels, (now - added) / 1000);
          state.added.delete(key);
          state.processing.set(key, now);
        },
        done(key) {
          const started = state.processing.get(key);
          if (started !== undefined) workDuration.observe(labels, (clock.now() - started) / 1000);
          state.processing.delete(key);
        },
        retry() {
          retries.inc(labels);
        },
      };
    },
  };
}
