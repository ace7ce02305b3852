import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadBlobToFile, type BlobDownload } from "../../src/oci/blob-download.js";
import { DigestVerifier } from "../../src/oci/digest.js";
import { DigestMismatchError } from "../../src/oci/errors.js";
import {
  BlobWriteError,
  inlineWriter,
  workerWriter,
  type BlobWriterFactory,
} from "../../src/oci/blob-writer.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

/** A writer that holds on to each buffer for `ms`: the download runs out of buffers and must pause. */
function slowWriter(ms: number): BlobWriterFactory {
  return (algorithm, fd) => {
    const inner = inlineWriter(algorithm, fd);
    return {
      ...inner,
      append: (buffer, length, done) =>
        inner.append(buffer, length, (err) => setTimeout(() => done(err), ms)),
    };
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
    await pushArtifact(
      registry,
      "models/big",
      "v1",
      await buildModelPackArtifact([{ path: "model.safetensors", content: weights }]),
    );
    request = { url: new URL(`${registry.url}/v2/models/big/blobs/${digest}`), headers: {} };
  });
  afterAll(async () => {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ["on the writer thread", workerWriter],
    ["inline", inlineWriter],
    ["with every buffer held up, so reading pauses and resumes", slowWriter(20)],
  ] as const)("writes the verified bytes %s", async (_name, writer) => {
    const path = join(dir, `ok-${Math.random()}`);
    let counted = 0;
    const result = await downloadBlobToFile(
      { ...request, writer },
      path,
      new DigestVerifier(digest, weights.length, "blob"),
      (n) => (counted += n),
    );
    expect(result).toEqual({ kind: "done", bytes: weights.length });
    expect(counted).toBe(weights.length);
    expect((await readFile(path)).equals(weights)).toBe(true);
  });

  it("over TLS with every buffer held up: records decrypted after a pause wait for a buffer, in order", async () => {
    const tls = await startRegistry({ kind: "distribution", tls: true });
    try {
      await pushArtifact(
        tls,
        "models/big",
        "v1",
        await buildModelPackArtifact([{ path: "model.safetensors", content: weights }]),
      );
      const path = join(dir, "tls");
      const result = await downloadBlobToFile(
        {
          url: new URL(`${tls.url}/v2/models/big/blobs/${digest}`),
          headers: {},
          caPem: tls.caPem ?? "",
          writer: slowWriter(5),
        },
        path,
        new DigestVerifier(digest, weights.length, "blob"),
        () => undefined,
      );
      expect(result).toEqual({ kind: "done", bytes: weights.length });
      expect((await readFile(path)).equals(weights)).toBe(true);
    } finally {
      await tls.stop();
    }
  });

  it("rejects bytes that do not match the digest, after the last write", async () => {
    const wrong = `sha256:${"0".repeat(64)}`;
    const path = join(dir, "wrong");
    await expect(
      downloadBlobToFile(request, path, new DigestVerifier(wrong, weights.length, "blob"), () => undefined),
    ).rejects.toBeInstanceOf(DigestMismatchError);
    expect((await readFile(path)).length).toBe(weights.length); // every write finished before the file was closed
  });

  it("refuses a body larger than the descriptor declares", async () => {
    await expect(
      downloadBlobToFile(
        request,
        join(dir, "small"),
        new DigestVerifier(digest, 1024, "blob"),
        () => undefined,
      ),
    ).rejects.toMatchObject({ code: "TooLarge" });
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
    const download = downloadBlobToFile(
      { ...request, writer: slowWriter(50), signal: abort.signal },
      join(dir, "aborted"),
      new DigestVerifier(digest, weights.length, "blob"),
      onBytes,
    );
    await expect(download).rejects.toBe(reason);
    expect(counted).toBeLessThan(weights.length);
  });

  it("fails with the file's name and the system error when a write fails (a full disk), not as a registry error", async () => {
    const full: BlobWriterFactory = (algorithm, fd) => ({
      ...inlineWriter(algorithm, fd),
      append: (_buffer, _length, done) =>
        setImmediate(() =>
          done(new BlobWriteError("ENOSPC: no space left on device, write", { code: "ENOSPC" })),
        ),
    });
    const path = join(dir, "full");
    const err = await downloadBlobToFile(
      { ...request, writer: full },
      path,
      new DigestVerifier(digest, weights.length, "blob"),
      () => undefined,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobWriteError);
    expect(err).toMatchObject({
      code: "ENOSPC",
      retryable: false,
      message: `cannot write ${path}: ENOSPC: no space left on device, write`,
    });
  });

  it("hands anything but a plain 200 to the general client", async () => {
    const missing = {
      ...request,
      url: new URL(`${registry.url}/v2/models/big/blobs/sha256:${"1".repeat(64)}`),
    };
    expect(
      await downloadBlobToFile(
        missing,
        join(dir, "missing"),
        new DigestVerifier(digest, weights.length, "blob"),
        () => undefined,
      ),
    ).toEqual({ kind: "fallback", status: 404 });
  });
});
