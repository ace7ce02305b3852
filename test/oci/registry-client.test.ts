import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient, type Descriptor, type RegistryClientOptions } from "../../src/oci/client.js";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy.js";
import { parseDockerConfig } from "../../src/oci/credentials.js";
import { DigestMismatchError, RegistryError } from "../../src/oci/errors.js";
import { parseReference, type ImageReference } from "../../src/oci/reference.js";
import { buildModelPackArtifact, pushArtifact, sha256, type BuiltArtifact } from "../support/publisher.js";
import { startRegistry, type RegistryOptions, type TestRegistry } from "../support/registry.js";

const files = [
  { path: "config.json", content: '{"model_type":"tiny"}' },
  { path: "model.safetensors", content: Buffer.alloc(64 * 1024, 7) },
  { path: "README.md", content: "# tiny\n" },
];

function credentialsFor(registry: TestRegistry, password = registry.password) {
  const auth = Buffer.from(`${registry.username}:${password}`).toString("base64");
  return parseDockerConfig(JSON.stringify({ auths: { [registry.host]: { auth } } }), "test config.json");
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const setups: [string, RegistryOptions][] = [
  ["distribution 2.8, anonymous", { kind: "distribution" }],
  ["distribution 2.8, Basic auth", { kind: "distribution", auth: "basic" }],
  ["distribution 2.8, Bearer token auth", { kind: "distribution", auth: "token" }],
  ["distribution 2.8, TLS", { kind: "distribution", tls: true }],
  ["olareg, anonymous", { kind: "olareg" }],
  ["olareg, Basic auth", { kind: "olareg", auth: "basic" }],
];

describe.each(setups)("registry client against %s", (_name, options) => {
  let registry: TestRegistry;
  let artifact: BuiltArtifact;
  let client: RegistryClient;
  const requests: string[] = [];

  beforeAll(async () => {
    registry = await startRegistry(options);
    artifact = await buildModelPackArtifact(files);
    await pushArtifact(registry, "models/tiny", "v1", artifact);
    client = new RegistryClient({
      plainHttp: options.tls === true ? [] : [registry.host],
      ...(registry.caPem !== undefined && { caPem: registry.caPem }),
      ...(options.auth !== undefined && { credentials: credentialsFor(registry) }),
      onRequest: (e) => requests.push(`${e.operation}:${e.result}`),
    });
  });
  afterAll(async () => {
    await client?.close();
    await registry?.stop();
  });

  it("pings, resolves a tag and fetches the verified manifest, config and layers", async () => {
    await client.ping(registry.host);
    const ref = parseReference(`${registry.host}/models/tiny:v1`);
    const resolved = await client.resolve(ref);
    expect(resolved.digest).toBe(artifact.manifestDigest);

    const manifest = await client.getManifest(ref);
    expect(manifest.digest).toBe(artifact.manifestDigest);
    expect(Buffer.from(manifest.bytes).equals(artifact.manifestBytes)).toBe(true);
    expect(manifest.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");

    const config = artifact.manifest.config as { mediaType: string; digest: string; size: number };
    const configBytes = await client.getBlob(ref, config);
    expect(Buffer.from(configBytes).equals(artifact.configBytes)).toBe(true);

    for (const layer of artifact.manifest.layers as { mediaType: string; digest: string; size: number }[]) {
      const body = await readAll(await client.openBlob(ref, layer));
      expect(sha256(body)).toBe(layer.digest);
    }
  });

  it("fetches by digest and serves a repeated digest from its cache", async () => {
    const ref = parseReference(`${registry.host}/models/tiny@${artifact.manifestDigest}`);
    expect((await client.resolve(ref)).digest).toBe(artifact.manifestDigest);
    const before = requests.length;
    const manifest = await client.getManifest(ref);
    expect(manifest.digest).toBe(artifact.manifestDigest);
    expect(requests.length).toBe(before); // cached by the tag fetch above
  });

  it("reports a missing tag and repository as NotFound", async () => {
    for (const reference of [`${registry.host}/models/tiny:nope`, `${registry.host}/models/absent:v1`]) {
      const err = await client.getManifest(parseReference(reference)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).code).toBe("NotFound");
      expect((err as RegistryError).message).toContain("HTTP 404");
    }
  });

  if (options.auth !== undefined && options.auth !== "none") {
    it("says Unauthorized for a wrong password and for missing credentials", async () => {
      const ref = parseReference(`${registry.host}/models/tiny:v1`);
      for (const credentials of [credentialsFor(registry, "wrong-password"), undefined]) {
        const other = new RegistryClient({
          plainHttp: [registry.host],
          ...(credentials !== undefined && { credentials }),
          maxAttempts: 1,
        });
        const err = await other.getManifest(ref).catch((e: unknown) => e);
        await other.close();
        expect(err).toBeInstanceOf(RegistryError);
        expect((err as RegistryError).code).toBe("Unauthorized");
        expect((err as RegistryError).message).toMatch(
          credentials === undefined ? /no credentials are configured/ : /rejected the configured credentials/,
        );
      }
    });
  }

  if (options.auth === "token") {
    it("caches bearer tokens per scope", async () => {
      const issued = registry.tokenIssuer?.issued.get("repository:models/tiny:pull") ?? 0;
      const ref = parseReference(`${registry.host}/models/tiny:v1`);
      const fresh = new RegistryClient({ plainHttp: [registry.host], credentials: credentialsFor(registry) });
      await fresh.resolve(ref);
      await fresh.getManifest({ ...ref, tag: "v1" });
      await fresh.getBlob(
        ref,
        artifact.manifest.config as { mediaType: string; digest: string; size: number },
      );
      await fresh.close();
      expect((registry.tokenIssuer?.issued.get("repository:models/tiny:pull") ?? 0) - issued).toBe(1);
    });
  }

  if (options.tls === true) {
    it("refuses an untrusted certificate with a hint, and --insecure skips verification", async () => {
      const untrusting = new RegistryClient({ maxAttempts: 1 });
      const err = await untrusting.ping(registry.host).catch((e: unknown) => e);
      await untrusting.close();
      expect((err as RegistryError).code).toBe("Unreachable");
      expect((err as RegistryError).message).toMatch(/--ca-file/);
      const insecure = new RegistryClient({ insecureSkipTlsVerify: true });
      await insecure.ping(registry.host);
      await insecure.close();
    });
  }
});

describe("registry client edge cases", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ kind: "distribution" });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it("refuses registries outside the allow-list before any request", async () => {
    const client = new RegistryClient({ plainHttp: true, allowedRegistries: ["registry.example.com"] });
    const err = await client.ping(registry.host).catch((e: unknown) => e);
    await client.close();
    expect((err as RegistryError).code).toBe("RegistryNotAllowed");
  });

  it("follows an index to its only manifest and keeps the index digest", async () => {
    const artifact = await buildModelPackArtifact(files);
    await pushArtifact(registry, "models/indexed", "inner", artifact);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          {
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            digest: artifact.manifestDigest,
            size: artifact.manifestBytes.length,
            artifactType: "application/vnd.cncf.model.manifest.v1+json",
          },
        ],
      }),
    );
    const put = await fetch(`${registry.url}/v2/models/indexed/manifests/v1`, {
      method: "PUT",
      headers: { "content-type": "application/vnd.oci.image.index.v1+json" },
      body: index,
    });
    expect(put.status).toBe(201);
    const client = new RegistryClient({ plainHttp: true });
    const manifest = await client.getManifest(parseReference(`${registry.host}/models/indexed:v1`));
    await client.close();
    expect(manifest.digest).toBe(artifact.manifestDigest);
    expect(manifest.index?.digest).toBe(sha256(index));
  });

  it("shares one round trip between concurrent identical resolutions", async () => {
    const artifact = await buildModelPackArtifact(files);
    await pushArtifact(registry, "models/shared", "v1", artifact);
    let count = 0;
    const client = new RegistryClient({
      plainHttp: true,
      onRequest: (e) => e.operation === "resolve" && count++,
    });
    const ref = parseReference(`${registry.host}/models/shared:v1`);
    const results = await Promise.all(Array.from({ length: 50 }, () => client.resolve(ref)));
    await client.close();
    expect(new Set(results.map((r) => r.digest))).toEqual(new Set([artifact.manifestDigest]));
    expect(count).toBe(1);
  });
});

describe("registry client against a misbehaving registry (fault proxy in front of a real one)", () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let artifact: BuiltArtifact;
  const ref = (): ImageReference => parseReference(`${proxy.host}/models/faulty:v1`);
  const layer = (): Descriptor => (artifact.manifest.layers as Descriptor[])[1]!;
  const client = (extra: Partial<RegistryClientOptions> = {}): RegistryClient =>
    new RegistryClient({ plainHttp: true, retryBaseDelayMs: 10, ...extra });

  beforeAll(async () => {
    registry = await startRegistry({ kind: "distribution" });
    proxy = await startFaultProxy(registry.url);
    artifact = await buildModelPackArtifact(files);
    await pushArtifact(registry, "models/faulty", "v1", artifact);
  });
  afterEach(() => {
    proxy.rules.length = 0;
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  const onManifest = (method: string, path: string): boolean =>
    path.includes("/manifests/") && method === "GET";
  const onBlob = (method: string, path: string): boolean => path.includes(`/blobs/${layer().digest}`);

  it("retries 500s and succeeds", async () => {
    proxy.rules.push({ match: onManifest, fault: { kind: "status", status: 500 }, times: 2 });
    const c = client();
    expect((await c.getManifest(ref())).digest).toBe(artifact.manifestDigest);
    await c.close();
  });

  it("honours a short Retry-After on 429 in the request", async () => {
    const sleeps: number[] = [];
    const sleepingClock = { now: () => Date.now(), sleep: async (ms: number) => void sleeps.push(ms) };
    proxy.rules.push({
      match: onManifest,
      fault: { kind: "status", status: 429, retryAfter: "1" },
      times: 1,
    });
    const c = client({ clock: sleepingClock });
    expect((await c.getManifest(ref())).digest).toBe(artifact.manifestDigest);
    await c.close();
    expect(sleeps).toEqual([1000]);
  });

  it("waits out a longer Retry-After only when the caller allows it (maxRetryWaitMs)", async () => {
    const sleeps: number[] = [];
    const sleepingClock = { now: () => Date.now(), sleep: async (ms: number) => void sleeps.push(ms) };
    proxy.rules.push({
      match: onManifest,
      fault: { kind: "status", status: 429, retryAfter: "3" },
      times: 1,
    });
    const c = client({ clock: sleepingClock, maxRetryWaitMs: 10_000 });
    expect((await c.getManifest(ref())).digest).toBe(artifact.manifestDigest);
    await c.close();
    expect(sleeps).toEqual([3000]);
  });

  it("gives up after the bounded attempts with a retryable typed error", async () => {
    proxy.rules.push({ match: onManifest, fault: { kind: "status", status: 503 } });
    const c = client({ maxAttempts: 3 });
    const err = await c.getManifest(ref()).catch((e: unknown) => e);
    await c.close();
    expect((err as RegistryError).code).toBe("ServerError");
    expect((err as RegistryError).retryable).toBe(true);
    expect(
      proxy.requests.filter((r) => r.startsWith("GET /v2/models/faulty/manifests")).length,
    ).toBeGreaterThanOrEqual(3);
  });

  it("retries connection resets", async () => {
    proxy.rules.push({ match: onManifest, fault: { kind: "reset" }, times: 1 });
    const c = client();
    expect((await c.getManifest(ref())).digest).toBe(artifact.manifestDigest);
    await c.close();
  });

  it("times out a stalled registry", async () => {
    proxy.rules.push({ match: onManifest, fault: { kind: "stall" } });
    const c = client({ headersTimeoutMs: 300, maxAttempts: 2 });
    const err = await c.getManifest(ref()).catch((e: unknown) => e);
    await c.close();
    expect((err as RegistryError).code).toBe("Timeout");
  });

  it("refuses a manifest over the size cap", async () => {
    proxy.rules.push({ match: onManifest, fault: { kind: "body", body: Buffer.alloc(5 * 1024 * 1024, 32) } });
    const c = client();
    const err = await c.getManifest(ref()).catch((e: unknown) => e);
    await c.close();
    expect((err as RegistryError).code).toBe("TooLarge");
  });

  it("refuses a manifest whose bytes do not match Docker-Content-Digest", async () => {
    proxy.rules.push({ match: onManifest, fault: { kind: "corrupt" } });
    const c = client();
    const err = await c.getManifest(ref()).catch((e: unknown) => e);
    await c.close();
    expect(err).toBeInstanceOf(DigestMismatchError);
  });

  it("refuses malformed manifest JSON", async () => {
    const garbage = Buffer.from("{not json");
    proxy.rules.push({
      match: onManifest,
      fault: { kind: "body", body: garbage, headers: { "docker-content-digest": sha256(garbage) } },
    });
    const c = client();
    const err = await c.getManifest(ref()).catch((e: unknown) => e);
    await c.close();
    expect((err as RegistryError).code).toBe("InvalidResponse");
    expect((err as RegistryError).message).toContain("not valid JSON");
  });

  it("fails a blob stream whose bytes do not match its digest", async () => {
    proxy.rules.push({ match: onBlob, fault: { kind: "corrupt" } });
    const c = client();
    const err = await readAll(await c.openBlob(ref(), layer())).catch((e: unknown) => e);
    const small = await c.getBlob(ref(), layer()).catch((e: unknown) => e);
    await c.close();
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect(small).toBeInstanceOf(DigestMismatchError);
  });

  it("fails a truncated blob stream", async () => {
    proxy.rules.push({ match: onBlob, fault: { kind: "truncate" } });
    const c = client();
    const err = await readAll(await c.openBlob(ref(), layer())).catch((e: unknown) => e);
    await c.close();
    expect(err).toBeInstanceOf(Error);
  });
});
