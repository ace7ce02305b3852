import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadBlobToFile, type BlobDownload } from "../../src/oci/blob-download.js";
import { DigestVerifier } from "../../src/oci/digest.js";
import { DigestMismatchError } from "../../src/oci/errors.js";
import { inlineHasher, workerHasher, type BufferHasher } from "../../src/oci/hasher.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

/** A hasher that holds on to each buffer for `ms`: the download runs out of buffers and must pause. */
function slowHasher(ms: number): (algorithm: string) => BufferHasher {
  return (algorithm) => {
    const inner = inlineHasher(algorithm);
    return { ...inner, update: (buffer, length, released) => inner.update(buffer, length, () => setTimeout(released, ms)) };
  };
}

describe("direct blob download (socket straight into write buffers)", () => {
  let registry: TestRegistry;
  let dir: string;
  const weights = Buffer.alloc(9 * 1024 * 1024 + 123);
  for (let i = 0; i < weights.length; i += 4096) weights.writeUInt32LE(i, i);
  const digest = `sha256:${createHash("sha256").update(weights).digest("hex")}`;
  let request: BlobDownload;

  beforeAll(async () => {
    registry = await startRegistry({ kind: "distribution" });
    dir = await mkdtemp(join(tmpdir(), "mpo-blob-"));
    await pushArtifact(registry, "models/big", "v1", await buildModelPackArtifact([{ path: "model.safetensors", content: weights }]));
    request = { url: new URL(`${registry.url}/v2/models/big/blobs/${digest}`), headers: {} };
  });
  afterAll(async () => {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ["on the hash worker", workerHasher],
    ["inline", inlineHasher],
    ["with every buffer held up, so reading pauses and resumes", slowHasher(20)],
  ] as const)("writes the verified bytes %s", async (_name, hasher) => {
    const path = join(dir, `ok-${Math.random()}`);
    let counted = 0;
    const result = await downloadBlobToFile({ ...request, hasher }, path, new DigestVerifier(digest, weights.length, "blob"), (n) => (counted += n));
    expect(result).toEqual({ kind: "done", bytes: weights.length });
    expect(counted).toBe(weights.length);
    expect((await readFile(path)).equals(weights)).toBe(true);
  });

  it("rejects bytes that do not match the digest, after the last write", async () => {
    const wrong = `sha256:${"0".repeat(64)}`;
    const path = join(dir, "wrong");
    await expect(downloadBlobToFile(request, path, new DigestVerifier(wrong, weights.length, "blob"), () => undefined)).rejects.toBeInstanceOf(DigestMismatchError);
    expect((await readFile(path)).length).toBe(weights.length); // every write finished before the file was closed
  });

  it("refuses a body larger than the descriptor declares", async () => {
    await expect(downloadBlobToFile(request, join(dir, "small"), new DigestVerifier(digest, 1024, "blob"), () => undefined)).rejects.toMatchObject({ code: "TooLarge" });
  });

  it("stops on abort after reading has paused at least once", async () => {
    const abort = new AbortController();
    const reason = new DOMException("stop", "AbortError");
    let counted = 0;
    // Every buffer is held 50 ms, so the fifth MiB can only come after a pause and a release.
    const onBytes = (n: number): void => {
      counted += n;
      if (counted > 5 * 1024 * 1024) abort.abort(reason);
    };
    const download = downloadBlobToFile({ ...request, hasher: slowHasher(50), signal: abort.signal }, join(dir, "aborted"), new DigestVerifier(digest, weights.length, "blob"), onBytes);
    await expect(download).rejects.toBe(reason);
    expect(counted).toBeLessThan(weights.length);
  });

  it("hands anything but a plain 200 to the general client", async () => {
    const missing = { ...request, url: new URL(`${registry.url}/v2/models/big/blobs/sha256:${"1".repeat(64)}`) };
    expect(await downloadBlobToFile(missing, join(dir, "missing"), new DigestVerifier(digest, weights.length, "blob"), () => undefined)).toEqual({ kind: "fallback", status: 404 });
  });
});
