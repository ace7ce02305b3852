/**
 * Admission metrics on an injected prom-client Registry: requests by result and a latency
 * histogram, every series registered at zero when created (so alerts see 0, not "no data").
 */
import { Counter, Histogram, type Registry } from "prom-client";
import type { AdmissionResult } from "./admission-review.js";

/** How one HTTP request to the admission endpoint ended: an AdmissionReview answer, or an HTTP error. */
export type AdmissionOutcome = AdmissionResult | "error";

/** Records admissions. */
export interface WebhookMetrics {
  /** One request to the admission endpoint ended with `outcome` after `seconds`. */
  observe(outcome: AdmissionOutcome, seconds: number): void;
}

const OUTCOMES: readonly AdmissionOutcome[] = ["allowed", "patched", "denied", "error"];

/** Sub-millisecond to the apiserver's webhook timeout ceiling (30 s). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Registers `modelpack_admission_requests_total{result}` (allowed, patched, denied, error) and
 * `modelpack_admission_duration_seconds{result}` on `registry`. A second call on the same
 * registry throws (prom-client refuses duplicate names).
 */
export function createWebhookMetrics(options: { registry: Registry }): WebhookMetrics {
  const registers = [options.registry];
  const total = new Counter({
    name: "modelpack_admission_requests_total",
    help: "Pod admission requests by result: allowed (no ModelDeployment selects the pod), patched, denied, error (HTTP error: malformed, too large, not synced, internal).",
    labelNames: ["result"] as const,
    registers,
  });
  const duration = new Histogram({
    name: "modelpack_admission_duration_seconds",
    help: "Time from receiving a pod admission request's headers to sending the answer, by result.",
    labelNames: ["result"] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const counters = new Map(OUTCOMES.map((result) => [result, total.labels({ result })]));
  const histograms = new Map(OUTCOMES.map((result) => [result, duration.labels({ result })]));
  for (const result of OUTCOMES) {
    total.inc({ result }, 0);
    duration.zero({ result });
  }
  return {
    observe(outcome, seconds) {
      counters.get(outcome)?.inc();
      histograms.get(outcome)?.observe(seconds);
    },
  };
}

/** Metrics that record nothing. */
export const noopWebhookMetrics: WebhookMetrics = { observe: () => undefined };
