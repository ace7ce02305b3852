/**
 * Load generator for the admission benchmark, run as its own process: pod creates (dry run, so
 * every admission step runs but nothing is stored) sent to the API server at a fixed rate.
 * Input (JSON on argv[2]): url, caPem, certPem, keyPem, body, rate, seconds, concurrency.
 * Output (one JSON line): latencies of the fixed-rate run, the rate achieved, and failures.
 */
import { Pool } from "undici";
import { z } from "zod";
import { atFixedRate, percentile } from "./fixed-rate.js";

const Input = z.object({
  url: z.string(),
  caPem: z.string(),
  certPem: z.string(),
  keyPem: z.string(),
  body: z.string(),
  rate: z.number(),
  seconds: z.number(),
  concurrency: z.number(),
});
const input = Input.parse(JSON.parse(process.argv[2] ?? "{}"));
const url = new URL(input.url);
const pool = new Pool(url.origin, {
  connections: input.concurrency,
  connect: { ca: input.caPem, cert: input.certPem, key: input.keyPem },
});
let failures = 0;
let firstFailure: string | undefined;

async function once(): Promise<number> {
  const start = process.hrtime.bigint();
  const res = await pool.request({
    method: "POST",
    path: `${url.pathname}${url.search}`,
    headers: { "content-type": "application/json" },
    body: input.body,
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) {
    failures++;
    firstFailure ??= `HTTP ${res.statusCode}: ${text.slice(0, 300)}`;
  }
  return Number(process.hrtime.bigint() - start) / 1e6;
}

// Warm up connections and caches on both sides.
for (let i = 0; i < 4; i++) await Promise.all(Array.from({ length: 50 }, once));
failures = 0;

const { latencies, elapsedSeconds: elapsed } = await atFixedRate(once, input.rate, input.seconds);
await pool.close();
console.log(
  JSON.stringify({
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? NaN,
    requests: latencies.length,
    achievedRate: latencies.length / elapsed,
    failures,
    ...(firstFailure !== undefined && { firstFailure }),
  }),
);
