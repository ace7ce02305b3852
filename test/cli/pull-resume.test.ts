/**
 * `pull` as its own process, killed mid-download (as a killed init container is) and run again:
 * the second run continues from what the first wrote, and verifies the whole file.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startThrottleProxy, type ThrottleProxy } from "../../bench/throttle-proxy.js";
import { PARTIAL_BLOBS_DIR, STAGING_PREFIX } from "../../src/puller/staging.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

const MiB = 1024 * 1024;
const weights = Buffer.alloc(48 * MiB);
for (let i = 0; i < weights.length; i += 4096) weights.writeUInt32LE((i * 2246822519) >>> 0, i);

/** The CLI from source, as its own process. */
function startPull(args: string[]): {
  child: ChildProcess;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
} {
  const bin = join(import.meta.dirname, "..", "..", "src", "cli", "bin.ts");
  const child = spawn(process.execPath, ["--import", "tsx", bin, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("exit", (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

/** Bytes the partial download's record says are written, 0 while there is none. */
async function recordedBytes(dest: string): Promise<number> {
  const dir = join(dest, PARTIAL_BLOBS_DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  let total = 0;
  for (const name of names.filter((n) => n.endsWith(".json"))) {
    const text = await readFile(join(dir, name), "utf8").catch(() => "");
    try {
      const { written } = JSON.parse(text) as { written: [number, number][] };
      total += written.reduce((n, [s, e]) => n + e - s, 0);
    } catch {
      // being replaced
    }
  }
  return total;
}

describe("pull killed mid-download resumes", () => {
  let registry: TestRegistry;
  let front: ThrottleProxy;
  let work: string;
  beforeAll(async () => {
    registry = await startRegistry({ kind: "distribution" });
    await pushArtifact(
      registry,
      "models/big",
      "v1",
      await buildModelPackArtifact([
        { path: "config.json", content: "{}" },
        { path: "model.safetensors", content: weights },
      ]),
    );
    // Slow enough that the pull is still running when it is killed.
    front = await startThrottleProxy(registry.url, { bytesPerSecond: 8e6, latencyMs: 20 });
    work = await mkdtemp(join(tmpdir(), "mpo-pull-resume-"));
  });
  afterAll(async () => {
    await front?.stop();
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it("continues from the written ranges after SIGKILL, places nothing before, verifies everything after", async () => {
    const dest = join(work, "model");
    const args = ["pull", `${front.host}/models/big:v1`, "--dest", dest, "--plain-http", "--output", "json"];
    const first = startPull([...args, "--connections", "2"]);
    const deadline = Date.now() + 60_000;
    while ((await recordedBytes(dest)) < 8 * MiB) {
      if (Date.now() > deadline) throw new Error(`no progress recorded: ${(await first.done).stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    first.child.kill("SIGKILL");
    await first.done;
    const kept = await recordedBytes(dest);
    expect(kept).toBeGreaterThanOrEqual(8 * MiB);
    expect(kept).toBeLessThan(weights.length);
    // Nothing is placed: only the hidden partial downloads (and the killed pull's staging folder).
    const left = await readdir(dest);
    expect(left).toContain(PARTIAL_BLOBS_DIR);
    expect(left.filter((n) => !n.startsWith(STAGING_PREFIX))).toEqual([]);

    const servedBefore = front.stats.bytes;
    const second = await startPull(args).done;
    expect(second.code, second.stderr).toBe(0);
    const result = JSON.parse(second.stdout) as { bytesDownloaded: number };
    // The second run fetched only what the first had not written (the config is a few bytes).
    expect(result.bytesDownloaded).toBeLessThanOrEqual(weights.length - kept + 1024);
    expect(front.stats.bytes - servedBefore).toBeLessThan(weights.length - kept + 2 * MiB);
    const placed = await readFile(join(dest, "model.safetensors"));
    expect(createHash("sha256").update(placed).digest("hex")).toBe(
      createHash("sha256").update(weights).digest("hex"),
    );
    expect((await readdir(dest)).sort()).toEqual(["config.json", "model.safetensors"]);
  }, 120_000);
});
