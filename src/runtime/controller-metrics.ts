/**
 * Controller metrics with controller-runtime's names, labels and buckets, registered on an
 * injected prom-client Registry, so dashboards and alerts written for Go operators work as-is.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** How one reconcile ended, as the `result` label of `controller_runtime_reconcile_total`. */
export type ReconcileOutcome = "success" | "error" | "requeue" | "requeue_after";

/** The series of one controller. */
export interface ControllerSeries {
  /** One reconcile finished with `outcome` after `seconds`. */
  reconciled(outcome: ReconcileOutcome, seconds: number): void;
  /** The reconcile threw; `terminal` when it was a TerminalError (not retried). */
  failed(terminal: boolean): void;
  /** A worker started (+1) or finished (-1) a reconcile. */
  activeWorkers(delta: number): void;
}

/** Hands out the series of named controllers; all share one set of metric families. */
export interface ControllerMetrics {
  /** The series of controller `name`, every one registered at zero. Call once per controller name. */
  forController(name: string, workers: number): ControllerSeries;
}

/** controller-runtime's reconcile_time_seconds buckets: 5 ms … 60 s. */
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25,
  1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

const OUTCOMES: readonly ReconcileOutcome[] = ["success", "error", "requeue", "requeue_after"];

/**
 * Registers `controller_runtime_reconcile_total{controller,result}`, `…_reconcile_errors_total`,
 * `…_terminal_reconcile_errors_total`, `…_reconcile_time_seconds`, `…_max_concurrent_reconciles`
 * and `…_active_workers` on `registry`. A second call on the same registry throws.
 */
export function createControllerMetrics(options: { registry: Registry }): ControllerMetrics {
  const registers = [options.registry];
  const total = new Counter({
    name: "controller_runtime_reconcile_total",
    help: "Total number of reconciliations per controller",
    labelNames: ["controller", "result"] as const,
    registers,
  });
  const errors = new Counter({
    name: "controller_runtime_reconcile_errors_total",
    help: "Total number of reconciliation errors per controller",
    labelNames: ["controller"] as const,
    registers,
  });
  const terminalErrors = new Counter({
    name: "controller_runtime_terminal_reconcile_errors_total",
    help: "Total number of terminal reconciliation errors per controller",
    labelNames: ["controller"] as const,
    registers,
  });
  const time = new Histogram({
    name: "controller_runtime_reconcile_time_seconds",
    help: "Length of time per reconciliation per controller",
    labelNames: ["controller"] as const,
    buckets: RECONCILE_BUCKETS,
    registers,
  });
  const maxConcurrent = new Gauge({
    name: "controller_runtime_max_concurrent_reconciles",
    help: "Maximum number of concurrent reconciles per controller",
    labelNames: ["controller"] as const,
    registers,
  });
  const active = new Gauge({
    name: "controller_runtime_active_workers",
    help: "Number of currently used workers per controller",
    labelNames: ["controller"] as const,
    registers,
  });
  const names = new Set<string>();
  return {
    forController(controller, workers) {
      if (names.has(controller))
        throw new Error(`controller metrics for "${controller}" were already created`);
      names.add(controller);
      for (const result of OUTCOMES) total.inc({ controller, result }, 0);
      errors.inc({ controller }, 0);
      terminalErrors.inc({ controller }, 0);
      time.zero({ controller });
      maxConcurrent.set({ controller }, workers);
      active.set({ controller }, 0);
      return {
        reconciled(result, seconds) {
          total.inc({ controller, result });
          time.observe({ controller }, seconds);
        },
        failed(terminal) {
          errors.inc({ controller });
          if (terminal) terminalErrors.inc({ controller });
        },
        activeWorkers(delta) {
          active.inc({ controller }, delta);
        },
      };
    },
  };
}
