/**
 * Large blobs in ranged parts, against node:http fronts that misbehave the ways registries and
 * object stores do (no Range, Range ignored, a wrong Content-Range, short answers, resets, 429,
 * redirects to another origin, a corrupted part), and a real registry behind a throttling front
 * with the puller on top (parts, a corrupted part placing nothing).
 */
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startThrottleProxy } from "../../bench/throttle-proxy.js";
import { RegistryClient, type Descriptor } from "../../src/oci/client.js";
import { parseDockerConfig } from "../../src/oci/credentials.js";
import { DigestMismatchError } from "../../src/oci/errors.js";
import { resumeStatePath } from "../../src/oci/ranged-download.js";
import { parseReference } from "../../src/oci/reference.js";
import { pull } from "../../src/puller/puller.js";
import { startFaultProxy } from "../support/fault-proxy.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRangeFront, type RangeFront, type RangeFrontOptions } from "../support/range-front.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

const MiB = 1024 * 1024;
const blob = Buffer.alloc(40 * MiB + 12345);
for (let i = 0; i < blob.length; i += 4096) blob.writeUInt32LE((i * 2654435761) >>> 0, i);
const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
const descriptor: Descriptor = {
  mediaType: "application/vnd.cncf.model.weight.v1.raw",
  digest,
  size: blob.length,
};

describe("ranged blob downloads against misbehaving fronts", () => {
  let dir: string;
  const fronts: RangeFront[] = [];
  const clients: RegistryClient[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mpo-ranged-"));
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    for (const f of fronts) await f.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Downloads the blob from a front with `options`; returns the front, the bytes received and the file. */
  async function download(
    options: Omit<RangeFrontOptions, "blob">,
    extra: { connections?: number; credentials?: boolean } = {},
  ) {
    const front = await startRangeFront({ blob, bytesPerSecond: 25e6, ...options });
    fronts.push(front);
    const auth = `Basic ${Buffer.from("u:p").toString("base64")}`;
    const client = new RegistryClient({
      plainHttp: true,
      retryBaseDelayMs: 10,
      ...(extra.credentials === true && {
        credentials: parseDockerConfig(
          JSON.stringify({ auths: { [front.host]: { auth: auth.slice(6) } } }),
          "test",
        ),
      }),
    });
    clients.push(client);
    const path = join(dir, `blob-${Math.random()}`);
    let received = 0;
    const started = Date.now();
    const result = await client
      .downloadBlob(parseReference(`${front.host}/models/m:v1`), descriptor, path, {
        connections: extra.connections ?? 8,
        resume: true,
        onBytes: (n) => (received += n),
        // The front shares this process: its pacing must not read as the download's CPU.
        cpuShare: () => 0,
      })
      .then(
        (size) => ({ size }),
        (error: unknown) => ({ error }),
      );
    return { front, path, received, result, ms: Date.now() - started, auth };
  }

  const expectBlob = async (path: string): Promise<void> => {
    expect((await readFile(path)).equals(blob)).toBe(true);
    // The record of written ranges goes once the blob is verified.
    expect(await stat(resumeStatePath(path)).catch(() => undefined)).toBeUndefined();
  };

  it("fetches parts over several connections, each byte once, and verifies the whole", async () => {
    const { front, path, received, result } = await download({});
    expect(result).toEqual({ size: blob.length });
    await expectBlob(path);
    expect(received).toBe(blob.length);
    expect(front.requests.filter((r) => r.range !== undefined).length).toBeGreaterThan(1);
  });

  it("takes one stream from a registry without Range support (200 to a Range request)", async () => {
    const { front, path, received, result } = await download({ ignoreRange: true });
    expect(result).toEqual({ size: blob.length });
    await expectBlob(path);
    expect(received).toBe(blob.length);
    expect(front.requests).toHaveLength(1);
  });

  it("starts one stream from the beginning after a Content-Range other than the one asked", async () => {
    const { front, path, result } = await download({ wrongContentRange: true });
    expect(result).toEqual({ size: blob.length });
    await expectBlob(path);
    // The refused answer, then one request without a Range.
    expect(front.requests.at(-1)?.range).toBeUndefined();
  });

  it("asks again for the rest of shorter answers", async () => {
    const { front, path, received, result } = await download({ maxPartBytes: 6 * MiB });
    expect(result).toEqual({ size: blob.length });
    await expectBlob(path);
    expect(received).toBe(blob.length);
    expect(front.requests.length).toBeGreaterThanOrEqual(Math.ceil(blob.length / (6 * MiB)));
  });

  it("continues parts cut off by connection resets from where they stopped", async () => {
    const { path, received, result } = await download({ resets: 3 });
    expect(result).toEqual({ size: blob.length });
    await expectBlob(path);
    expect(received).toBe(blob.length); // no byte asked twice
  });

  it("waits out a 429's Retry-After (within bounds) and goes on", async () => {
    const { front, path, result, ms } = await download({ throttles: 1, retryAfter: "1" });
    expect(result).toEqual({ size: blob.length });
    await expectBlob(path);
    expect(front.requests[0]?.status).toBe(429);
    expect(ms).toBeGreaterThanOrEqual(950);
  });

  it("follows a redirect to storage on another origin without the registry's credentials", async () => {
    const store = await startRangeFront({ blob, bytesPerSecond: 25e6 });
    fronts.push(store);
    const { front, path, result, auth } = await download(
      { redirectTo: store.url, requireAuth: `Basic ${Buffer.from("u:p").toString("base64")}` },
      { credentials: true },
    );
    expect(auth).toContain("Basic");
    expect(result).toEqual({ size: blob.length });
    await expectBlob(path);
    expect(front.requests.every((r) => r.authorization)).toBe(true);
    expect(store.requests.length).toBeGreaterThan(0);
    expect(store.requests.some((r) => r.authorization)).toBe(false);
  });

  it("refuses a corrupted part: digest mismatch", async () => {
    const { result } = await download({ corruptOnce: true, maxPartBytes: 8 * MiB });
    expect((result as { error: unknown }).error).toBeInstanceOf(DigestMismatchError);
  });
});

describe("ranged pulls from a real registry", () => {
  let registry: TestRegistry;
  let dir: string;
  beforeAll(async () => {
    registry = await startRegistry({ kind: "distribution" });
    dir = await mkdtemp(join(tmpdir(), "mpo-ranged-pull-"));
    await pushArtifact(
      registry,
      "models/big",
      "v1",
      await buildModelPackArtifact([
        { path: "config.json", content: "{}" },
        { path: "model.safetensors", content: blob },
      ]),
    );
  });
  afterAll(async () => {
    await registry?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("pulls through a throttling front in ranged parts over several connections", async () => {
    const front = await startThrottleProxy(registry.url, { bytesPerSecond: 20e6, latencyMs: 20 });
    const client = new RegistryClient({ plainHttp: true });
    try {
      const dest = join(dir, "throttled");
      await pull({ client, reference: parseReference(`${front.host}/models/big:v1`), dest });
      expect((await readFile(join(dest, "model.safetensors"))).equals(blob)).toBe(true);
      // Several parts unless the machine was too busy to probe (the front shares this process).
      expect(front.stats.rangeRequests).toBeGreaterThanOrEqual(1);
      expect(await readdir(dest)).toEqual(["config.json", "model.safetensors"]);
    } finally {
      await client.close();
      await front.stop();
    }
  });

  it("places nothing when a part's bytes are corrupted (digest mismatch)", async () => {
    const proxy = await startFaultProxy(registry.url);
    const client = new RegistryClient({ plainHttp: true, retryBaseDelayMs: 10 });
    try {
      proxy.rules.push({ match: (m, p) => m === "GET" && p.endsWith(digest), fault: { kind: "corrupt" } });
      const dest = join(dir, "corrupt");
      const err = await pull({
        client,
        reference: parseReference(`${proxy.host}/models/big:v1`),
        dest,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DigestMismatchError);
      expect(await readdir(dest).catch(() => [])).toEqual([]);
    } finally {
      await client.close();
      await proxy.stop();
    }
  });
});
