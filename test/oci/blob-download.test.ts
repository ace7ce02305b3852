import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBlob, STOP, type BlobRequest } from "../../src/oci/blob-download.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

/** Reads a whole answer, copying each chunk; `holdMs` makes every chunk wait (reading pauses). */
async function readAll(request: BlobRequest, range?: readonly [number, number], holdMs = 0): Promise<Buffer> {
  const res = await openBlob(request, range);
  const chunks: Buffer[] = [];
  await res.consume((chunk) => {
    chunks.push(Buffer.from(chunk));
    return holdMs > 0 ? new Promise<void>((r) => setTimeout(r, holdMs)) : undefined;
  });
  return Buffer.concat(chunks);
}

describe("direct blob path (socket reads into one reused buffer)", () => {
  let registry: TestRegistry;
  const weights = Buffer.alloc(9 * 1024 * 1024 + 123);
  for (let i = 0; i < weights.length; i += 4096) weights.writeUInt32LE(i, i);
  const digest = `sha256:${createHash("sha256").update(weights).digest("hex")}`;
  let request: BlobRequest;

  beforeAll(async () => {
    registry = await startRegistry({ kind: "distribution" });
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
  });

  it("hands over every body byte in order, also when the consumer makes reading pause", async () => {
    expect((await readAll(request)).equals(weights)).toBe(true);
    expect((await readAll(request, undefined, 2)).equals(weights)).toBe(true);
  });

  it("asks for a range and gives its status and Content-Range", async () => {
    const res = await openBlob(request, [1000, 5000]);
    expect(res.status).toBe(206);
    expect(res.header("content-range")).toBe(`bytes 1000-4999/${weights.length}`);
    await res.discard();
    expect((await readAll(request, [1000, 5000])).equals(weights.subarray(1000, 5000))).toBe(true);
  });

  it("over TLS with reading paused: records decrypted after a pause wait, in order", async () => {
    const tls = await startRegistry({ kind: "distribution", tls: true });
    try {
      await pushArtifact(
        tls,
        "models/big",
        "v1",
        await buildModelPackArtifact([{ path: "model.safetensors", content: weights }]),
      );
      const body = await readAll(
        { url: new URL(`${tls.url}/v2/models/big/blobs/${digest}`), headers: {}, caPem: tls.caPem ?? "" },
        undefined,
        1,
      );
      expect(body.equals(weights)).toBe(true);
    } finally {
      await tls.stop();
    }
  });

  it("stops reading when the consumer says so", async () => {
    const res = await openBlob(request, undefined);
    let seen = 0;
    await res.consume((chunk) => {
      seen += chunk.length;
      return seen >= 1024 * 1024 ? STOP : undefined;
    });
    expect(seen).toBeLessThan(weights.length);
  });

  it("stops on abort", async () => {
    const abort = new AbortController();
    const reason = new DOMException("stop", "AbortError");
    const res = await openBlob({ ...request, signal: abort.signal }, undefined);
    const reading = res.consume(() => {
      abort.abort(reason);
      return new Promise<void>((r) => setTimeout(r, 10));
    });
    await expect(reading).rejects.toBe(reason);
  });

  it("gives any other answer to the caller with its status", async () => {
    const missing = {
      ...request,
      url: new URL(`${registry.url}/v2/models/big/blobs/sha256:${"1".repeat(64)}`),
    };
    const res = await openBlob(missing, undefined);
    expect(res.status).toBe(404);
    await res.discard();
  });
});
