import { createHash, randomFillSync } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { tarPrefix, tarSuffix } from "../src/oci/tar-wrap.js";
import { ensureTools } from "../test/harness/tools.js";
import { buildModelPackArtifact, pushArtifact } from "../test/support/publisher.js";
import { startRegistry } from "../test/support/registry.js";
import { measure, median, type Measured } from "./measure.js";

const MiB = 1024 * 1024;

export interface PublishImageBenchResult {
  readonly bytes: number;
  readonly oras: { mbPerSecond: number; peakRssMiB: number };
  readonly ours: { mbPerSecond: number; peakRssMiB: number; cpuSeconds: number };
  /** The tar model: wall seconds of publish-image, bytes it uploaded (configs only when reused). */
  readonly tar: { seconds: number; uploadedBytes: number; uploadedLayers: number; peakRssMiB: number };
}

/** Writes `size` bytes of incompressible data (each 4 MiB block differs), after `prefix`, then `suffix`; returns the sha256. */
async function writeFile(
  path: string,
  size: number,
  prefix: Buffer = Buffer.alloc(0),
  suffix: Buffer = Buffer.alloc(0),
): Promise<string> {
  const block = randomFillSync(Buffer.alloc(4 * MiB));
  const hash = createHash("sha256");
  async function* chunks() {
    hash.update(prefix);
    yield prefix;
    for (let written = 0; written < size;) {
      const n = Math.min(block.length, size - written);
      block.writeUInt32LE(written / block.length, 0);
      const chunk = Buffer.from(block.subarray(0, n));
      hash.update(chunk);
      written += n;
      yield chunk;
    }
    hash.update(suffix);
    yield suffix;
  }
  await pipeline(Readable.from(chunks()), createWriteStream(path));
  return `sha256:${hash.digest("hex")}`;
}

/**
 * `publish-image` of a 2 GiB raw model (the file read from the registry, verified, wrapped into a
 * tar and uploaded as a stream) against `oras push` of the same bytes from a local file, both to a
 * loopback distribution registry, medians of `runs` runs; and `publish-image` of a 2 GiB model in
 * one tar layer (its blob reused: nothing uploaded but two small configs).
 */
export async function benchPublishImage(
  options: { gib?: number; runs?: number; log?: (l: string) => void } = {},
): Promise<PublishImageBenchResult> {
  const log = options.log ?? ((l: string) => console.log(l));
  const size = Math.round((options.gib ?? Number(process.env.BENCH_PUBLISH_GIB ?? 2)) * 1024 * MiB);
  const runs = options.runs ?? Number(process.env.BENCH_RUNS ?? 3);
  const { oras } = await ensureTools(["oras"]);
  const work = await mkdtemp(join(tmpdir(), "mpo-bench-publish-"));
  const registry = await startRegistry({ kind: "distribution" });
  const node = join(process.cwd(), "node_modules", ".bin", "node");
  const cli = join(process.cwd(), "dist", "src", "cli", "bin.js");
  try {
    log(`publish-image bench: writing ${(size / MiB).toFixed(0)} MiB of weights, raw and as a tar`);
    const rawPath = join(work, "model.safetensors");
    const rawDigest = await writeFile(rawPath, size);
    const raw = await buildModelPackArtifact([{ path: "config.json", content: "{}" }], {
      extraLayers: [
        {
          descriptor: {
            mediaType: "application/vnd.cncf.model.weight.v1.raw",
            digest: rawDigest,
            size,
            annotations: { "org.cncf.model.filepath": "model.safetensors" },
          },
          blob: { path: rawPath, size, digest: rawDigest },
        },
      ],
    });
    await pushArtifact(registry, "bench/raw", "v1", raw);

    const ours: Measured[] = [];
    const orasRuns: Measured[] = [];
    for (let run = 0; run < runs; run++) {
      const pair: [string, () => Promise<Measured>][] = [
        [
          "publish-image",
          () =>
            measure(node, [
              cli,
              "publish-image",
              `${registry.host}/bench/raw:v1`,
              "--plain-http",
              "--force",
              "-o",
              "json",
            ]),
        ],
        [
          "oras push",
          () =>
            measure(join(oras, "oras"), [
              "push",
              "--plain-http",
              "--disable-path-validation",
              `${registry.host}/bench/oras-${run}:v1`,
              `${rawPath}:application/vnd.oci.image.layer.v1.tar`,
            ]),
        ],
      ];
      for (const [name, go] of run % 2 === 0 ? pair : pair.reverse()) {
        const m = await go();
        (name === "oras push" ? orasRuns : ours).push(m);
        log(
          `  run ${run + 1}/${runs} ${name}: ${(size / MiB / m.seconds).toFixed(0)} MB/s, peak RSS ${(m.peakRssBytes / MiB).toFixed(0)} MiB, CPU ${m.cpuSeconds.toFixed(2)} s`,
        );
      }
    }
    await rm(rawPath, { force: true });

    const tarFile = { path: "model.safetensors", size, mode: 0o644, mtimeSeconds: 0 };
    const tarPath = join(work, "model.tar");
    const prefix = tarPrefix(tarFile);
    const suffix = tarSuffix(size);
    const tarDigest = await writeFile(tarPath, size, prefix, suffix);
    const tarSize = prefix.byteLength + size + suffix.byteLength;
    const tar = await buildModelPackArtifact([], {
      extraLayers: [
        {
          descriptor: {
            mediaType: "application/vnd.cncf.model.weight.v1.tar",
            digest: tarDigest,
            size: tarSize,
            annotations: { "org.cncf.model.filepath": "model.safetensors" },
          },
          blob: { path: tarPath, size: tarSize, digest: tarDigest },
        },
      ],
    });
    await pushArtifact(registry, "bench/tar", "v1", tar);
    await rm(tarPath, { force: true });
    const started = process.hrtime.bigint();
    const { stdout, peak } = await runJson(node, [
      cli,
      "publish-image",
      `${registry.host}/bench/tar:v1`,
      "--plain-http",
      "-o",
      "json",
    ]);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const out = JSON.parse(stdout) as { uploadedBytes: number; uploaded: number };
    log(
      `  tar model: ${seconds.toFixed(2)} s, ${out.uploaded} layers and ${out.uploadedBytes} bytes uploaded`,
    );
    return {
      bytes: size,
      oras: {
        mbPerSecond: size / MiB / median(orasRuns.map((m) => m.seconds)),
        peakRssMiB: Math.max(...orasRuns.map((m) => m.peakRssBytes)) / MiB,
      },
      ours: {
        mbPerSecond: size / MiB / median(ours.map((m) => m.seconds)),
        peakRssMiB: Math.max(...ours.map((m) => m.peakRssBytes)) / MiB,
        cpuSeconds: median(ours.map((m) => m.cpuSeconds)),
      },
      tar: {
        seconds,
        uploadedBytes: out.uploadedBytes,
        uploadedLayers: out.uploaded,
        peakRssMiB: peak / MiB,
      },
    };
  } finally {
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Runs a command for its stdout, with its peak RSS (GNU time). */
async function runJson(command: string, args: string[]): Promise<{ stdout: string; peak: number }> {
  const { spawn } = await import("node:child_process");
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-f", "__peak_rss_kib=%M", command, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`${command} exited with ${code}: ${stderr.slice(-2000)}`));
      resolve({ stdout, peak: Number(/__peak_rss_kib=(\d+)/.exec(stderr)?.[1] ?? NaN) * 1024 });
    });
  });
}
