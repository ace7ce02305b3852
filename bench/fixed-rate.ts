/**
 * What the load generators share: their input, one timed POST over a connection pool, requests
 * sent at a fixed rate, and percentiles of their latencies.
 */
import { Pool } from "undici";
import { z } from "zod";

/** A load generator's input (JSON on argv[2]); a client certificate where the server asks for one. */
export const LoadInput = z.object({
  url: z.string(),
  caPem: z.string(),
  certPem: z.string().optional(),
  keyPem: z.string().optional(),
  body: z.string(),
  rate: z.number(),
  seconds: z.number(),
  concurrency: z.number(),
});
export type LoadInput = z.infer<typeof LoadInput>;

/** POSTs `input.body` to `input.url` over `input.concurrency` connections, timing each from send to full response. */
export function timedPoster(input: LoadInput): {
  post(): Promise<{ ms: number; statusCode: number; text: string }>;
  close(): Promise<void>;
} {
  const url = new URL(input.url);
  const pool = new Pool(url.origin, {
    connections: input.concurrency,
    connect: {
      ca: input.caPem,
      ...(input.certPem !== undefined && { cert: input.certPem }),
      ...(input.keyPem !== undefined && { key: input.keyPem }),
    },
  });
  return {
    async post() {
      const start = process.hrtime.bigint();
      const res = await pool.request({
        method: "POST",
        path: `${url.pathname}${url.search}`,
        headers: { "content-type": "application/json" },
        body: input.body,
      });
      const text = await res.body.text();
      return { ms: Number(process.hrtime.bigint() - start) / 1e6, statusCode: res.statusCode, text };
    },
    close: () => pool.close(),
  };
}

/** The `p`th percentile (0–100) of ascending `sorted`; NaN when it is empty. */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/**
 * Calls `once` every 1000/`rate` ms for `seconds` (late calls are sent at once, never skipped),
 * and resolves with every call's latency in ms (from send to full response), ascending, and the
 * seconds it took.
 */
export async function atFixedRate(
  once: () => Promise<number>,
  rate: number,
  seconds: number,
): Promise<{ latencies: number[]; elapsedSeconds: number }> {
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const interval = 1000 / rate;
  const start = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const wait = start + i * interval - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(once().then((ms) => void latencies.push(ms)));
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return { latencies, elapsedSeconds: (performance.now() - start) / 1000 };
}
