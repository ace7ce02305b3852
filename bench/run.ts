import { execFileSync } from "node:child_process";
import { benchController } from "./controller.js";
import { benchPull } from "./pull.js";

// `npm run bench`: every hot-path benchmark, each against a baseline measured in the same run.
// BENCH=pull or BENCH=controller runs one; BENCH_PULL_GIB and BENCH_RUNS size the pull benchmark.
const selected = new Set((process.env.BENCH ?? "pull,controller").split(","));
execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" }); // benches run the compiled CLI

if (selected.has("pull")) {
  const result = await benchPull();
  console.log(`\nPull benchmark: ${(result.bytes / 1024 ** 3).toFixed(2)} GiB from a loopback registry (median of runs)`);
  for (const row of result.rows) console.log(`  ${row.name.padEnd(26)} ${row.mbPerSecond.toFixed(0).padStart(6)} MB/s   peak RSS ${row.peakRssMiB?.toFixed(0)} MiB`);
  for (const line of result.summary) console.log(`  ${line}`);
}

if (selected.has("controller")) {
  const rows = await benchController([200, 2000], 20);
  console.log("\nController benchmark: ModelDeployments over 20 distinct models, operator as its own process");
  for (const r of rows) {
    console.log(`  ${String(r.modelDeployments).padStart(5)} ModelDeployments: all Ready in ${r.secondsToAllReady.toFixed(1)} s, ${r.registryRequests} registry requests, peak RSS ${r.peakRssMiB.toFixed(0)} MiB`);
  }
  const [small, large] = rows;
  if (small !== undefined && large !== undefined) {
    console.log(`  growth 200 → 2000: time ${(large.secondsToAllReady / small.secondsToAllReady).toFixed(2)}×, registry requests ${(large.registryRequests / Math.max(1, small.registryRequests)).toFixed(2)}×, RSS ${(large.peakRssMiB / small.peakRssMiB).toFixed(2)}×`);
    console.log(`  targets: all Ready < 60 s (${large.secondsToAllReady.toFixed(1)} s), registry requests ≤ 2 × 20 models (${large.registryRequests}), RSS < 250 MiB (${large.peakRssMiB.toFixed(0)} MiB)`);
  }
}
