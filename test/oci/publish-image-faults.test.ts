import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { RegistryClient } from "../../src/oci/client.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

/**
 * A front to a real registry that flips one byte of every GET of `corrupt` (a blob), keeping its
 * length: what a broken proxy or a tampered store would serve.
 */
async function startCorruptingFront(upstream: URL, corrupt: () => string | undefined): Promise<Server> {
  const server = createServer((req, res) => {
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        const target = corrupt();
        if (req.method !== "GET" || target === undefined || !req.url?.endsWith(`/blobs/${target}`))
          return void answer.pipe(res);
        let first = true;
        answer.on("data", (chunk: Buffer) => {
          if (first && chunk.byteLength > 0) {
            chunk[0] = (chunk[0] ?? 0) ^ 0xff;
            first = false;
          }
          res.write(chunk);
        });
        answer.on("end", () => res.end());
      },
    );
    out.on("error", () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

describe("publish-image when the registry serves a raw file that does not match its digest", () => {
  let registry: TestRegistry;
  let front: Server;
  let target: string | undefined;
  beforeAll(async () => {
    registry = await startRegistry({ kind: "olareg" });
    front = await startCorruptingFront(new URL(registry.url), () => target);
  }, 300_000);
  afterAll(async () => {
    front?.close();
    await registry?.stop();
  });

  it.each([
    ["a small file (hashed on the main thread)", 200_000],
    ["a large file (hashed on a worker)", 9 * 1024 * 1024],
  ])(
    "%s: fails with DigestMismatch (exit 3) and commits no layer, no manifest, no variant",
    async (_name, size) => {
      const artifact = await buildModelPackArtifact([
        { path: "model.safetensors", content: Buffer.alloc(size, 5) },
      ]);
      const repository = `models/corrupt-${size}`;
      const digest = await pushArtifact(registry, repository, "v1", artifact);
      target = (artifact.manifest.layers as { digest: string }[])[0]?.digest;
      const host = `127.0.0.1:${(front.address() as AddressInfo).port}`;
      const stderr = new PassThrough();
      let err = "";
      stderr.on("data", (c: Buffer) => (err += c.toString()));
      const code = await main(["publish-image", `${host}/${repository}:v1`, "--plain-http"], {
        stdout: new PassThrough(),
        stderr,
        env: { HOME: "/nonexistent" },
      });
      expect(code).toBe(3);
      expect(err).toMatch(/does not match the expected sha256:[0-9a-f]{64}/);
      const client = new RegistryClient({ plainHttp: true });
      const referrers = await client.getReferrers(
        { registry: registry.host, repository: "models/corrupt" },
        digest,
      );
      expect(referrers.manifests).toEqual([]);
      await client.close();
    },
  );
});
