/**
 * Load generator for the admission benchmark, run as its own process: pod creates (dry run, so
 * every admission step runs but nothing is stored) sent to the API server at a fixed rate.
 * Input (JSON on argv[2]): url, caPem, certPem, keyPem, body, rate, seconds, concurrency.
 * Output (one JSON line): latencies of the fixed-rate run, the rate achieved, and failures.
 */
import { atFixedRate, LoadInput, percentile, timedPoster } from "./fixed-rate.js";

const input = LoadInput.parse(JSON.parse(process.argv[2] ?? "{}"));
const poster = timedPoster(input);
let failures = 0;
let firstFailure: string | undefined;

async function once(): Promise<number> {
  const { ms, statusCode, text } = await poster.post();
  if (statusCode >= 300) {
    failures++;
    firstFailure ??= `HTTP ${statusCode}: ${text.slice(0, 300)}`;
  }
  return ms;
}

// Warm up connections and caches on both sides.
for (let i = 0; i < 4; i++) await Promise.all(Array.from({ length: 50 }, once));
failures = 0;

const { latencies, elapsedSeconds: elapsed } = await atFixedRate(once, input.rate, input.seconds);
await poster.close();
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
