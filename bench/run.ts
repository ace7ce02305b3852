import { execFileSync } from "node:child_process";
import { benchPull } from "./pull.js";

// `npm run bench`: every hot-path benchmark, each against a baseline measured in the same run.
// BENCH=pull runs one; BENCH_PULL_GIB and BENCH_RUNS size the pull benchmark.
const selected = new Set((process.env.BENCH ?? "pull").split(","));
execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" }); // benches run the compiled CLI

if (selected.has("pull")) {
  const result = await benchPull();
  console.log(`\nPull benchmark: ${(result.bytes / 1024 ** 3).toFixed(2)} GiB from a loopback registry (median of runs)`);
  for (const row of result.rows) console.log(`  ${row.name.padEnd(26)} ${row.mbPerSecond.toFixed(0).padStart(6)} MB/s   peak RSS ${row.peakRssMiB?.toFixed(0)} MiB`);
  for (const line of result.summary) console.log(`  ${line}`);
}
