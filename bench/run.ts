import { execFileSync } from "node:child_process";
import { benchAdmission } from "./admission.js";
import { benchController } from "./controller.js";
import { benchFaults } from "./faults.js";
import { benchMemory } from "./memory.js";
import { benchPublishImage } from "./publish-image.js";
import { benchPull, benchPullThrottled } from "./pull.js";
import { benchVerify } from "./verify.js";
import { benchWebhook } from "./webhook.js";

// `npm run bench`: every hot-path benchmark, each against a baseline measured in the same run.
// BENCH=pull, controller, webhook, admission, memory, faults, verify or publish-image runs one; BENCH_PULL_GIB and BENCH_RUNS size the
// pull benchmark, BENCH_MEMORY_PODS the memory one (default 20000). `pull` is two parts:
// pull-throttled (1 GiB through a 40 MB/s-per-connection front; BENCH_PULL_THROTTLED_MIB,
// BENCH_THROTTLED_RUNS) and pull-loopback (2 GiB in 4 files); either can be selected alone.
const selected = new Set(
  (process.env.BENCH ?? "pull,controller,webhook,admission,memory,faults,verify,publish-image").split(","),
);
execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" }); // benches run the compiled CLI

if (selected.has("pull") || selected.has("pull-throttled")) {
  const result = await benchPullThrottled();
  console.log(
    `\nPull benchmark, throttled: ${(result.bytes / 1024 ** 3).toFixed(2)} GiB single file through a front serving 40 MB/s per connection, 20 ms per response (median of runs)`,
  );
  for (const row of result.rows)
    console.log(
      `  ${row.name.padEnd(36)} ${row.mbPerSecond.toFixed(0).padStart(6)} MB/s   peak RSS ${row.peakRssMiB?.toFixed(0)} MiB   CPU ${row.cpuSeconds?.toFixed(2)} s`,
    );
  for (const line of result.summary) console.log(`  ${line}`);
  console.log(`  the front served ${result.requests} requests, ${result.rangeRequests} with a Range`);
}

if (selected.has("pull") || selected.has("pull-loopback")) {
  const result = await benchPull();
  console.log(
    `\nPull benchmark: ${(result.bytes / 1024 ** 3).toFixed(2)} GiB from a loopback registry (median of runs)`,
  );
  for (const row of result.rows)
    console.log(
      `  ${row.name.padEnd(36)} ${row.mbPerSecond.toFixed(0).padStart(6)} MB/s   peak RSS ${row.peakRssMiB?.toFixed(0)} MiB   CPU ${row.cpuSeconds?.toFixed(2)} s`,
    );
  for (const line of result.summary) console.log(`  ${line}`);
}

if (selected.has("admission")) {
  const { rows, version } = await benchAdmission();
  console.log(
    `\nAdmission benchmark: dry-run pod creates (2 containers, selected by 1 of 20 Ready ModelDeployments) on kube-apiserver ${version}`,
  );
  for (const r of rows)
    console.log(
      `  ${r.name.padEnd(26)} p50 ${r.p50.toFixed(2).padStart(6)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  ${r.achievedRate.toFixed(0)}/s  apiserver CPU ${r.apiserverMicros.toFixed(0).padStart(5)} µs/pod  webhook process CPU ${r.webhookMicros.toFixed(0).padStart(5)} µs/pod${r.failures > 0 ? `  ${r.failures} failed` : ""}`,
    );
  const [base, hook, policy] = rows;
  if (base !== undefined && hook !== undefined && policy !== undefined) {
    const total = (r: typeof base) => r.apiserverMicros + r.webhookMicros;
    console.log(
      `  policies / webhook: p50 ${(policy.p50 / hook.p50).toFixed(2)}×, p99 ${(policy.p99 / hook.p99).toFixed(2)}×; ` +
        `added CPU per pod over the baseline (apiserver + webhook process): webhook ${(total(hook) - total(base)).toFixed(0)} µs, ` +
        `policies ${(total(policy) - total(base)).toFixed(0)} µs`,
    );
  }
}

if (selected.has("verify")) {
  const r = await benchVerify();
  console.log(
    `\nSignature benchmark: ${r.models} models signed by cosign v3 (key, bundle through referrers) on a loopback olareg`,
  );
  console.log(
    `  one reconcile's registry work (resolve, manifest, config; cold client) p50 ${r.inspectP50Ms.toFixed(1)} ms; verification added (referrers, bundle manifest and blob, sigstore-js; cold) p50 ${r.verifyP50Ms.toFixed(1)} ms = ${(r.verifyP50Ms / r.inspectP50Ms).toFixed(2)}× (target ≤ 50 ms)`,
  );
  console.log(
    `  ${r.modelDeployments} ModelDeployments over ${r.models} models at once: ${r.verifications} verifications run (target ${r.models}), ${r.registryRequests} registry requests (target ≤ ${3 * r.models})`,
  );
}

if (selected.has("publish-image")) {
  const r = await benchPublishImage();
  const gib = (r.bytes / 1024 ** 3).toFixed(2);
  console.log(
    `\nPublish-image benchmark: ${gib} GiB model on a loopback distribution registry (median of runs)`,
  );
  console.log(
    `  raw file: publish-image ${r.ours.mbPerSecond.toFixed(0)} MB/s (peak RSS ${r.ours.peakRssMiB.toFixed(0)} MiB, CPU ${r.ours.cpuSeconds.toFixed(2)} s) vs oras push of the same bytes ${r.oras.mbPerSecond.toFixed(0)} MB/s (peak RSS ${r.oras.peakRssMiB.toFixed(0)} MiB): ${(r.ours.mbPerSecond / r.oras.mbPerSecond).toFixed(2)}× (target ≥ 1.0×, RSS < 200 MB)`,
  );
  console.log(
    `  one tar layer: ${r.tar.seconds.toFixed(2)} s, ${r.tar.uploadedLayers} layer blobs and ${r.tar.uploadedBytes} bytes uploaded (two image configs), peak RSS ${r.tar.peakRssMiB.toFixed(0)} MiB (target: no blob, < 2 s)`,
  );
}

if (selected.has("controller")) {
  const rows = await benchController([200, 2000], 20);
  console.log(
    "\nController benchmark: ModelDeployments over 20 distinct models, operator as its own process",
  );
  for (const r of rows) {
    console.log(
      `  ${String(r.modelDeployments).padStart(5)} ModelDeployments: all Ready in ${r.secondsToAllReady.toFixed(1)} s, ${r.registryRequests} registry requests, peak RSS ${r.peakRssMiB.toFixed(0)} MiB`,
    );
  }
  const [small, large] = rows;
  if (small !== undefined && large !== undefined) {
    console.log(
      `  growth 200 → 2000: time ${(large.secondsToAllReady / small.secondsToAllReady).toFixed(2)}×, registry requests ${(large.registryRequests / Math.max(1, small.registryRequests)).toFixed(2)}×, RSS ${(large.peakRssMiB / small.peakRssMiB).toFixed(2)}×`,
    );
    console.log(
      `  targets: all Ready < 60 s (${large.secondsToAllReady.toFixed(1)} s), registry requests ≤ 2 × 20 models (${large.registryRequests}), RSS < 250 MiB (${large.peakRssMiB.toFixed(0)} MiB)`,
    );
  }
}

if (selected.has("webhook")) {
  const { webhook, unmatched, bare } = await benchWebhook();
  console.log(
    "\nWebhook benchmark: 50 ModelDeployments in the namespace, a matching pod, HTTPS, load from another process",
  );
  for (const [name, r] of [
    ["modelpack-operator webhook", webhook],
    ["  same, a pod nothing selects", unmatched],
    ["bare HTTPS server (fixed allow)", bare],
  ] as const) {
    console.log(
      `  ${name.padEnd(32)} p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms at 500/s   throughput ${r.throughput.toFixed(0)}/s   server CPU ${r.cpuMicrosPerReview.toFixed(0)} µs/review (capacity ${(1e6 / r.cpuMicrosPerReview).toFixed(0)}/s per core)`,
    );
  }
  console.log(
    `  webhook / bare throughput with the load generator on the same cores: ${(webhook.throughput / bare.throughput).toFixed(2)}×; server capacity (CPU per review): ${(bare.cpuMicrosPerReview / webhook.cpuMicrosPerReview).toFixed(2)}× (target ≥ 0.70); p99 at 500/s: ${webhook.p99.toFixed(2)} ms (target < 5 ms)`,
  );
}

if (selected.has("memory")) {
  const result = await benchMemory(Number(process.env.BENCH_MEMORY_PODS ?? 20_000));
  console.log(
    `\nMemory benchmark: operator as its own process, ${result.pods} pods (${(result.podJsonBytes / 1024).toFixed(1)} KiB of JSON each) that no ModelDeployment selects, created in ${result.secondsToCreatePods.toFixed(0)} s`,
  );
  for (const r of result.rows)
    console.log(
      `  ${String(r.pods).padStart(5)} pods, pod cache ${r.podCache.padEnd(9)} peak RSS ${r.peakRssMiB.toFixed(0).padStart(4)} MiB (RSS ${r.rssMiB.toFixed(0)} MiB after)   /readyz after ${r.secondsToReadyz.toFixed(1)} s   ${r.podsCached} pods cached after ${r.secondsToPodCacheSynced.toFixed(1)} s`,
    );
  const full = result.rows.find((r) => r.podCache === "full");
  const projected = result.rows.find((r) => r.podCache === "projected" && r.pods > 0);
  if (full !== undefined && projected !== undefined)
    console.log(
      `  projected / full peak RSS: ${(projected.peakRssMiB / full.peakRssMiB).toFixed(2)}× (target < 250 MiB: ${projected.peakRssMiB.toFixed(0)} MiB)`,
    );
}

if (selected.has("faults")) {
  const { small, large, alone, throttled } = await benchFaults();
  const kib = (bytes: number): string => `${(bytes / 1024).toFixed(bytes < 10_240 ? 1 : 0)} KiB`;
  console.log(
    `\nFaults benchmark: operator as its own process, ${large.modelDeployments} ModelDeployments each on its own artifact`,
  );
  for (const r of [small, large])
    console.log(
      `  configs of ${kib(r.configBytes).padStart(9)}  peak RSS ${r.peakRssMiB.toFixed(0).padStart(4)} MiB   settled in ${r.secondsToSettled.toFixed(1)} s   ${[...r.validated].map(([k, n]) => `${n}× ${k}`).join(", ")}`,
    );
  console.log(
    `  with 6 MiB configs: ${large.namingConfigTooLarge}/${large.modelDeployments} name ConfigTooLarge in Validated's reason or message, ${large.configTooLargeInValidation}/${large.modelDeployments} have error code ConfigTooLarge in status.validation; Validated message: "${large.sampleMessage}"`,
  );
  console.log(
    `  large / small peak RSS: ${(large.peakRssMiB / small.peakRssMiB).toFixed(2)}× (target < 300 MiB: ${large.peakRssMiB.toFixed(0)} MiB)`,
  );
  for (const r of [alone, throttled])
    console.log(
      `  healthy ModelDeployment beside ${String(r.throttledModelDeployments).padStart(1)} on a 429 registry (Retry-After: 300): Ready in ${r.secondsToReady.toFixed(2)} s   429 registry requests: ${r.throttledRequestsDuringMeasurement} during the measurement, ${r.throttledRequestsTotal} in all${r.throttledResolved.size > 0 ? `   throttled ones: ${[...r.throttledResolved].map(([k, n]) => `${n}× ${k}`).join(", ")}` : ""}`,
    );
  console.log(
    `  beside throttled / alone time to Ready: ${(throttled.secondsToReady / alone.secondsToReady).toFixed(2)}× (target < 10 s: ${throttled.secondsToReady.toFixed(2)} s)`,
  );
  console.log(`  operator logs: ${[small, large, alone, throttled].map((r) => r.logPath).join(" ")}`);
}
