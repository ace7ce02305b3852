/**
 * Load generator for the webhook benchmark, run as its own process so that it does not share an
 * event loop with the server it measures. Input (JSON on argv[2]): url, caPem, body, rate, seconds,
 * concurrency. Output (one JSON line): latencies at a fixed rate, and throughput at full speed.
 */
import { atFixedRate, LoadInput, percentile, timedPoster } from "./fixed-rate.js";

const input = LoadInput.parse(JSON.parse(process.argv[2] ?? "{}"));
const poster = timedPoster(input);

async function once(): Promise<number> {
  const { ms, statusCode } = await poster.post();
  if (statusCode !== 200) throw new Error(`HTTP ${statusCode}`);
  return ms;
}

// Warm up connections and JIT on both sides.
await Promise.all(Array.from({ length: 200 }, once));

// Fixed rate: one request every 1000/rate ms, latencies measured from send to full response.
const { latencies } = await atFixedRate(once, input.rate, input.seconds);

// Full speed: `concurrency` requests in flight for `seconds`.
let done = 0;
const until = performance.now() + input.seconds * 1000;
await Promise.all(
  Array.from({ length: input.concurrency }, async () => {
    while (performance.now() < until) {
      await once();
      done++;
    }
  }),
);
const throughput = done / input.seconds;
await poster.close();
const requests = 200 + latencies.length + done;
console.log(
  JSON.stringify({
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1),
    throughput,
    requests,
  }),
);
