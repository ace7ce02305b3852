import { execFileSync } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { ensureTools } from "../test/harness/tools.js";
import { buildModelPackArtifact, pushArtifact } from "../test/support/publisher.js";
import { startRegistry } from "../test/support/registry.js";
import { measure, median, type Measured } from "./measure.js";
import { startThrottleProxy } from "./throttle-proxy.js";

const MiB = 1024 * 1024;

/** Writes `size` bytes of incompressible data (a random 4 MiB block, varied per block) and hashes it. */
async function makeWeightFile(path: string, size: number, seed: number): Promise<string> {
  const block = randomFillSync(Buffer.alloc(4 * MiB));
  const hash = createHash("sha256");
  let written = 0;
  async function* blocks() {
    while (written < size) {
      const n = Math.min(block.length, size - written);
      block.writeUInt32LE(seed, 0);
      block.writeUInt32LE(written / block.length, 4); // every block differs
      const chunk = Buffer.from(block.subarray(0, n));
      hash.update(chunk);
      written += n;
      yield chunk;
    }
  }
  await pipeline(Readable.from(blocks()), createWriteStream(path));
  return `sha256:${hash.digest("hex")}`;
}

export interface PullBenchResult {
  readonly bytes: number;
  readonly rows: readonly { name: string; mbPerSecond: number; peakRssMiB?: number; cpuSeconds?: number }[];
  readonly summary: readonly string[];
}

/** How one tool is run to pull into `dest`. */
type ToolRun = (dest: string) => { cmd: string; args: string[]; env?: NodeJS.ProcessEnv };

const OURS = "modelpack-operator pull";

/** Our CLI, oras and modctl pulling `ref` (plain HTTP), each as its own process. */
function pullTools(
  ref: string,
  work: string,
  tools: { oras: string; modctl: string },
): Record<string, ToolRun> {
  const node = join(process.cwd(), "node_modules", ".bin", "node");
  const cli = join(process.cwd(), "dist", "src", "cli", "bin.js");
  const ours = (dest: string): string[] => [
    "--max-semi-space-size=2",
    cli,
    "pull",
    ref,
    "--dest",
    dest,
    "--plain-http",
    "--output",
    "json",
  ];
  return {
    [OURS]: (dest) => ({ cmd: node, args: ours(dest) }),
    "oras pull": (dest) => ({
      cmd: join(tools.oras, "oras"),
      args: ["pull", "--plain-http", ref, "-o", dest, "--concurrency", "4"],
    }),
    "modctl pull": (dest) => ({
      cmd: join(tools.modctl, "modctl"),
      args: [
        "--storage-dir",
        join(work, "modctl-store"),
        "--no-progress",
        "pull",
        "--plain-http",
        "--concurrency",
        "4",
        "--extract-dir",
        dest,
        "--extract-from-remote",
        ref,
      ],
    }),
  };
}

/**
 * Runs every tool `runs` times, each run starting with a different tool, after a `sync`; checks
 * each pulled file's size and returns per-tool medians.
 */
async function runTools(
  tools: Record<string, ToolRun>,
  runs: number,
  bytes: number,
  work: string,
  log: (l: string) => void,
  check: (dest: string) => Promise<void>,
): Promise<{ name: string; mbPerSecond: number; peakRssMiB: number; cpuSeconds: number }[]> {
  // BENCH_PULL_TOOLS="oras pull,modctl pull" narrows the run to some tools (investigations).
  const only = process.env.BENCH_PULL_TOOLS?.split(",").map((t) => t.trim());
  const entries = Object.entries(tools).filter(([name]) => only === undefined || only.includes(name));
  const results = new Map<string, Measured[]>();
  for (let run = 0; run < runs; run++) {
    // Each run starts with a different tool, so none is always the one after another's cleanup.
    for (const [name, tool] of [
      ...entries.slice(run % entries.length),
      ...entries.slice(0, run % entries.length),
    ]) {
      const dest = join(work, `dest-${run}`);
      await rm(dest, { recursive: true, force: true });
      await rm(join(work, "modctl-store"), { recursive: true, force: true });
      const { cmd, args, env } = tool(dest);
      // Every tool starts with no dirty pages left by the one before: writeback of another
      // tool's bytes would otherwise be charged to whoever runs next.
      execFileSync("sync");
      const m = await measure(cmd, args, env);
      if (!name.startsWith("sha256sum")) await check(dest);
      results.set(name, [...(results.get(name) ?? []), m]);
      await rm(dest, { recursive: true, force: true });
      log(
        `  run ${run + 1}/${runs} ${name}: ${(bytes / MiB / m.seconds).toFixed(0)} MB/s, peak RSS ${(m.peakRssBytes / MiB).toFixed(0)} MiB, CPU ${m.cpuSeconds.toFixed(2)} s`,
      );
    }
  }
  return [...results].map(([name, ms]) => ({
    name,
    mbPerSecond: bytes / MiB / median(ms.map((m) => m.seconds)),
    peakRssMiB: Math.max(...ms.map((m) => m.peakRssBytes)) / MiB,
    cpuSeconds: median(ms.map((m) => m.cpuSeconds)),
  }));
}

/** Fails the benchmark unless every file is in `dest` with its size (the tools verified the digests). */
async function checkFiles(dest: string, files: readonly { name: string; size: number }[]): Promise<void> {
  for (const { name, size } of files) {
    const found = await stat(join(dest, name)).catch(() => undefined);
    if (found?.size !== size)
      throw new Error(`${dest}/${name}: expected ${size} bytes, found ${found?.size}`);
  }
}

/**
 * Pulls a multi-layer artifact (default 2 GiB in 4 raw layers) from a loopback registry with our
 * puller, `oras pull` and `modctl pull`, and hashes the same bytes with `sha256sum` as the
 * ceiling, all in one run; medians of `runs` runs each (default 8).
 */
export async function benchPull(
  options: { gib?: number; layers?: number; runs?: number; log?: (l: string) => void } = {},
): Promise<PullBenchResult> {
  const log = options.log ?? ((l: string) => console.log(l));
  const gib = options.gib ?? Number(process.env.BENCH_PULL_GIB ?? 2);
  const layerCount = options.layers ?? 4;
  // Eight runs: with the rotating order, each of the four tools runs twice in every position, and
  // one slow run (they vary by ±20% on a shared 2-core VM) cannot move a median far.
  const runs = options.runs ?? Number(process.env.BENCH_RUNS ?? 8);
  const total = Math.round(gib * 1024 * MiB);
  const perLayer = Math.floor(total / layerCount);
  const { oras, modctl } = await ensureTools(["oras", "modctl"]);
  const work = await mkdtemp(join(tmpdir(), "mpo-bench-pull-"));
  const registry = await startRegistry({ kind: "distribution" });
  try {
    log(`pull bench: writing ${layerCount} × ${(perLayer / MiB).toFixed(0)} MiB of weights`);
    const sources = join(work, "src");
    await mkdir(sources);
    const extraLayers = [];
    const paths: string[] = [];
    for (let i = 0; i < layerCount; i++) {
      const path = join(sources, `model-${i}.safetensors`);
      const digest = await makeWeightFile(path, perLayer, i);
      paths.push(path);
      extraLayers.push({
        descriptor: {
          mediaType: "application/vnd.cncf.model.weight.v1.raw",
          digest,
          size: perLayer,
          annotations: {
            "org.cncf.model.filepath": `model-${i}.safetensors`,
            "org.opencontainers.image.title": `model-${i}.safetensors`,
          },
        },
        blob: { path, size: perLayer, digest },
      });
    }
    const artifact = await buildModelPackArtifact([{ path: "config.json", content: "{}" }], { extraLayers });
    log("pull bench: pushing to a loopback registry");
    await pushArtifact(registry, "bench/model", "v1", artifact);
    const ref = `${registry.host}/bench/model:v1`;
    const bytes = perLayer * layerCount;

    const tools: Record<string, ToolRun> = {
      ...pullTools(ref, work, { oras, modctl }),
      "sha256sum (ceiling)": () => ({ cmd: "sha256sum", args: paths }),
    };
    const files = paths.map((_, i) => ({ name: `model-${i}.safetensors`, size: perLayer }));
    const rows = await runTools(tools, runs, bytes, work, log, (dest) => checkFiles(dest, files));
    const rate = (name: string): number => rows.find((r) => r.name === name)?.mbPerSecond ?? NaN;
    const ours = rate(OURS);
    const fasterGo = Math.max(rate("oras pull"), rate("modctl pull"));
    const ceiling = rate("sha256sum (ceiling)");
    const summary = [
      `ours / faster Go tool: ${(ours / fasterGo).toFixed(2)}× (target ≥ 1.00)`,
      `ours / sha256sum ceiling: ${((ours / ceiling) * 100).toFixed(0)}% (target ≥ 70%)`,
      `our peak RSS: ${(rows.find((r) => r.name === OURS)?.peakRssMiB ?? NaN).toFixed(0)} MiB (target < 200 MiB)`,
    ];
    return { bytes, rows, summary };
  } finally {
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Pulls a single-file model (default 1 GiB; BENCH_PULL_THROTTLED_MIB) through a front that serves
 * each connection at 40 MB/s with 20 ms before each response (object storage behind a registry),
 * with our puller, `oras pull` and `modctl pull`; medians of `runs` runs (default 3;
 * BENCH_THROTTLED_RUNS).
 */
export async function benchPullThrottled(
  options: { mib?: number; runs?: number; log?: (l: string) => void } = {},
): Promise<PullBenchResult & { readonly requests: number; readonly rangeRequests: number }> {
  const log = options.log ?? ((l: string) => console.log(l));
  const size = (options.mib ?? Number(process.env.BENCH_PULL_THROTTLED_MIB ?? 1024)) * MiB;
  const runs = options.runs ?? Number(process.env.BENCH_THROTTLED_RUNS ?? 3);
  const { oras, modctl } = await ensureTools(["oras", "modctl"]);
  const work = await mkdtemp(join(tmpdir(), "mpo-bench-throttled-"));
  const registry = await startRegistry({ kind: "distribution" });
  const proxy = await startThrottleProxy(registry.url, { bytesPerSecond: 40e6, latencyMs: 20 });
  try {
    log(`throttled pull bench: writing one ${(size / MiB).toFixed(0)} MiB weights file`);
    const path = join(work, "model.safetensors");
    const digest = await makeWeightFile(path, size, 7);
    const artifact = await buildModelPackArtifact([{ path: "config.json", content: "{}" }], {
      extraLayers: [
        {
          descriptor: {
            mediaType: "application/vnd.cncf.model.weight.v1.raw",
            digest,
            size,
            annotations: {
              "org.cncf.model.filepath": "model.safetensors",
              "org.opencontainers.image.title": "model.safetensors",
            },
          },
          blob: { path, size, digest },
        },
      ],
    });
    await pushArtifact(registry, "bench/big", "v1", artifact);
    const ref = `${proxy.host}/bench/big:v1`;
    const rows = await runTools(pullTools(ref, work, { oras, modctl }), runs, size, work, log, (dest) =>
      checkFiles(dest, [{ name: "model.safetensors", size }]),
    );
    const rate = (name: string): number => rows.find((r) => r.name === name)?.mbPerSecond ?? NaN;
    const ours = rate(OURS);
    const fasterGo = Math.max(rate("oras pull"), rate("modctl pull"));
    return {
      bytes: size,
      rows,
      requests: proxy.stats.requests,
      rangeRequests: proxy.stats.rangeRequests,
      summary: [
        `ours / faster Go tool: ${(ours / fasterGo).toFixed(2)}× (target ≥ 2.00)`,
        `our peak RSS: ${(rows.find((r) => r.name === OURS)?.peakRssMiB ?? NaN).toFixed(0)} MiB (target < 200 MiB)`,
      ],
    };
  } finally {
    await proxy.stop();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}
