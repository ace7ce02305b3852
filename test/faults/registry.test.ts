import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServerResponse } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ArtifactCache } from "../../src/controller/artifact-cache.js";
import { openBlob } from "../../src/oci/blob-download.js";
import { RegistryClient, type Descriptor, type RegistryClientOptions } from "../../src/oci/client.js";
import { parseDockerConfig, type CredentialStore } from "../../src/oci/credentials.js";
import { RegistryError } from "../../src/oci/errors.js";
import { parseReference } from "../../src/oci/reference.js";
import { systemClock } from "../../src/runtime/clock.js";
import { startHostileRegistry, type HostileRegistry } from "../support/hostile-registry.js";
import { buildModelPackArtifact, sha256, type BuiltArtifact } from "../support/publisher.js";

/**
 * Issue 12 §3 (artifact cache memory) and §5 (registry client): a hostile registry built with
 * node:http on loopback, answering exactly what each attack needs.
 */

const files = [
  { path: "config.json", content: '{"model_type":"tiny"}' },
  { path: "model.safetensors", content: Buffer.alloc(16 * 1024, 7) },
];

const dockerConfig = (host: string, entry: Record<string, string>): CredentialStore =>
  parseDockerConfig(JSON.stringify({ auths: { [host]: entry } }), "test config.json");

const basic = (host: string, username = "alice", password = "pa55word"): CredentialStore =>
  dockerConfig(host, { auth: Buffer.from(`${username}:${password}`).toString("base64") });

const caught = <T>(p: Promise<T>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

/** Answers every registry request that has no `authorization` with a Bearer challenge for `realm`. */
function challengeFor(realm: string) {
  return (authorization: string | undefined, res: ServerResponse): boolean => {
    if (authorization !== undefined) return false;
    res
      .writeHead(401, {
        "www-authenticate": `Bearer realm="${realm}",service="hostile",scope="repository:models/m:pull"`,
        "content-type": "application/json",
      })
      .end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED" }] }));
    return true;
  };
}

describe("registry client against a hostile registry", () => {
  let artifact: BuiltArtifact;
  const servers: HostileRegistry[] = [];
  const clients: RegistryClient[] = [];
  const start = async (address?: string): Promise<HostileRegistry> => {
    const s = await startHostileRegistry(address !== undefined ? { address } : {});
    servers.push(s);
    return s;
  };
  const client = (options: RegistryClientOptions): RegistryClient => {
    const c = new RegistryClient({ retryBaseDelayMs: 10, ...options });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    artifact = await buildModelPackArtifact(files);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  it("never replays a refresh-token POST, body included, to a cross-origin redirect target", async () => {
    const registry = await start();
    const elsewhere = await start();
    registry.publish("models/m", "v1", artifact);
    const challenge = challengeFor(`${registry.url}/token`);
    registry.intercept = (req, res) => {
      if (req.path.startsWith("/token")) {
        res.writeHead(307, { location: `${elsewhere.url}/steal` }).end();
        return true;
      }
      return challenge(req.headers.authorization, res);
    };
    const c = client({
      plainHttp: true,
      credentials: dockerConfig(registry.host, { identitytoken: "refresh-secret-123" }),
    });
    const err = await caught(c.getManifest(parseReference(`${registry.host}/models/m:v1`)));
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).message).toMatch(/redirect to another origin/);
    expect(elsewhere.requests).toEqual([]);
    // The token endpoint itself got the body once (and only once: the refusal is not retried).
    expect(registry.requests.filter((r) => r.body.includes("refresh-secret-123"))).toHaveLength(1);
  });

  it("keeps credentials and token bodies on their origin across redirects of every kind", async () => {
    const registry = await start();
    const storage = await start();
    registry.publish("models/m", "v1", artifact);
    storage.publish("models/m", "v1", artifact);
    const layer = (artifact.manifest.layers as Descriptor[])[1]!;
    const challenge = challengeFor(`${registry.url}/token`);
    registry.intercept = (req, res) => {
      if (req.path.startsWith("/token")) {
        res.writeHead(200, { "content-type": "application/json" }).end('{"token":"bearer-xyz"}');
        return true;
      }
      if (challenge(req.headers.authorization, res)) return true;
      if (req.path.includes("/blobs/")) {
        res.writeHead(302, { location: `${storage.url}${req.path}` }).end();
        return true;
      }
      return false;
    };
    const c = client({ plainHttp: true, credentials: basic(registry.host) });
    await c.getManifest(parseReference(`${registry.host}/models/m:v1`));
    const dir = mkdtempSync(join(tmpdir(), "mpo-faults-"));
    try {
      await c.downloadBlob(parseReference(`${registry.host}/models/m:v1`), layer, join(dir, "blob"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(storage.requests.length).toBeGreaterThan(0);
    for (const r of storage.requests) {
      expect(r.headers.authorization).toBeUndefined();
      expect(r.body).toBe("");
    }
  });

  it("refuses a token with CR/LF on every path, and never writes an injected header", async () => {
    const registry = await start();
    registry.publish("models/m", "v1", artifact);
    const challenge = challengeFor(`${registry.url}/token`);
    registry.intercept = (req, res) => {
      if (req.path.startsWith("/token")) {
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ token: "abc\r\nX-Injected: yes" }));
        return true;
      }
      return challenge(req.headers.authorization, res);
    };
    const c = client({ plainHttp: true, maxAttempts: 2 });
    const ref = parseReference(`${registry.host}/models/m:v1`);
    const first = await caught(c.getManifest(ref));
    expect(first).toBeInstanceOf(RegistryError);
    expect((first as RegistryError).code).toBe("InvalidResponse");
    expect((first as RegistryError).message).toMatch(/CR, LF/);
    const dir = mkdtempSync(join(tmpdir(), "mpo-faults-"));
    try {
      const layer = (artifact.manifest.layers as Descriptor[])[1]!;
      const second = await caught(c.downloadBlob(ref, layer, join(dir, "blob")));
      expect((second as RegistryError).message).toMatch(/CR, LF/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(registry.requests.some((r) => r.headers["x-injected"] !== undefined)).toBe(false);
  });

  it("refuses CR/LF in any header on the raw-socket blob path before writing a byte", async () => {
    const registry = await start();
    registry.publish("models/m", "v1", artifact);
    const layer = (artifact.manifest.layers as Descriptor[])[1]!;
    const dir = mkdtempSync(join(tmpdir(), "mpo-faults-"));
    try {
      const err = await caught(
        openBlob(
          {
            url: new URL(`${registry.url}/v2/models/m/blobs/${layer.digest}`),
            headers: { authorization: "Bearer t\r\nX-Injected: yes" },
          },
          undefined,
        ),
      );
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).message).toMatch(/"authorization" header/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(registry.requests).toEqual([]);
  });

  it("refuses CR/LF in a pull secret's username or token", () => {
    const withUser = (): CredentialStore => basic("r.example", "bob\r\nX-Injected: yes");
    expect(withUser).toThrow(/username for r.example contains a CR, LF/);
    expect(() => dockerConfig("r.example", { registrytoken: "t\nX: y" })).toThrow(/registrytoken/);
    expect(() => dockerConfig("r.example", { identitytoken: "t\rX: y" })).toThrow(/identitytoken/);
  });

  it("never sends Basic credentials to a plain-HTTP token realm on an undeclared host", async () => {
    const registry = await start("127.0.0.1");
    const realm = await start("127.0.0.2");
    registry.publish("models/m", "v1", artifact);
    const challenge = challengeFor(`${realm.url}/token`);
    registry.intercept = (req, res) => challenge(req.headers.authorization, res);
    realm.intercept = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end('{"token":"bearer-xyz"}');
      return true;
    };
    const ref = parseReference(`${registry.host}/models/m:v1`);
    const refused = client({ plainHttp: [registry.host], credentials: basic(registry.host) });
    const err = await caught(refused.getManifest(ref));
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).message).toContain(`${realm.url}/token`);
    expect((err as RegistryError).message).toMatch(/not HTTPS.*--plain-http-registries/);
    expect(realm.requests).toEqual([]);

    // Declared plain-HTTP: the realm is used.
    const declared = client({ plainHttp: [registry.host, realm.host], credentials: basic(registry.host) });
    expect((await declared.getManifest(ref)).digest).toBe(artifact.manifestDigest);
    expect(realm.requests[0]?.headers.authorization).toMatch(/^Basic /);
  });

  it("never serves another registry's cached manifest or config for a hostile registry's tag", async () => {
    const good = await start();
    const evil = await start();
    good.publish("models/m", "v1", artifact);
    const decoy = await buildModelPackArtifact([{ path: "x.bin", content: "decoy" }]);
    evil.publish("models/m", "v1", decoy);
    const c = client({ plainHttp: true });
    const goodRef = parseReference(`${good.host}/models/m:v1`);
    const evilRef = parseReference(`${evil.host}/models/m:v1`);
    await c.getManifest(goodRef);
    const config = artifact.manifest.config as Descriptor;
    await c.getBlob(goodRef, config);
    expect((await c.getManifest(evilRef)).digest).toBe(decoy.manifestDigest);

    // Now the evil registry claims the good manifest's digest for its tag and serves no manifest.
    evil.intercept = (req, res) => {
      if (!req.path.includes("/manifests/")) return false;
      if (req.method === "HEAD") {
        res
          .writeHead(200, {
            "docker-content-digest": artifact.manifestDigest,
            "content-type": "application/vnd.oci.image.manifest.v1+json",
          })
          .end();
      } else {
        res.writeHead(404, { "content-type": "application/json" }).end('{"errors":[]}');
      }
      return true;
    };
    const err = await caught(c.getManifest(evilRef));
    expect((err as RegistryError).code).toBe("NotFound");
    // The same for a config by digest: asked from the evil registry, not served from the cache.
    expect(((await caught(c.getBlob(evilRef, config))) as RegistryError).code).toBe("NotFound");
    // And from another repository of the same registry.
    const otherRepo = parseReference(`${good.host}/models/other@${artifact.manifestDigest}`);
    expect(((await caught(c.getManifest(otherRepo))) as RegistryError).code).toBe("NotFound");
  });

  it("retries a manifest and a config whose bodies fail after the headers", async () => {
    const registry = await start();
    registry.publish("models/m", "v1", artifact);
    const config = artifact.manifest.config as Descriptor;
    const cut = new Map<string, number>();
    registry.intercept = (req, res, raw) => {
      const isManifest = req.method === "GET" && req.path.includes("/manifests/");
      const isConfig = req.path.endsWith(config.digest);
      if (!isManifest && !isConfig) return false;
      const key = isManifest ? "manifest" : "config";
      if ((cut.get(key) ?? 0) >= 1) return false;
      cut.set(key, (cut.get(key) ?? 0) + 1);
      const body = isManifest ? artifact.manifestBytes : artifact.configBytes;
      res.writeHead(200, {
        "content-length": body.length,
        "docker-content-digest": isManifest ? artifact.manifestDigest : config.digest,
        "content-type": "application/vnd.oci.image.manifest.v1+json",
      });
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => raw.socket.destroy());
      return true;
    };
    const c = client({ plainHttp: true });
    const ref = parseReference(`${registry.host}/models/m:v1`);
    expect((await c.getManifest(ref)).digest).toBe(artifact.manifestDigest);
    expect(sha256(Buffer.from(await c.getBlob(ref, config)))).toBe(config.digest);
    expect(cut).toEqual(
      new Map([
        ["manifest", 1],
        ["config", 1],
      ]),
    );
    expect(
      registry.requests.filter((r) => r.method === "GET" && r.path.includes("/manifests/")),
    ).toHaveLength(2);
  });

  it("does not sleep on a long Retry-After: it throws RateLimited with retryAfterSeconds at once", async () => {
    const registry = await start();
    registry.intercept = (_req, res) => {
      res.writeHead(429, { "retry-after": "300", "content-type": "application/json" }).end("{}");
      return true;
    };
    const c = client({ plainHttp: true, clock: systemClock });
    const started = Date.now();
    const err = await Promise.race([
      caught(c.getManifest(parseReference(`${registry.host}/models/m:v1`))),
      new Promise((resolve) => setTimeout(() => resolve("still sleeping after 5 s"), 5_000).unref()),
    ]);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe("RateLimited");
    expect((err as RegistryError).retryAfterSeconds).toBe(300);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(registry.requests).toHaveLength(1);
  });

  it("keeps the total of backoff waits within maxRetryWaitMs", async () => {
    const registry = await start();
    registry.intercept = (_req, res) => {
      res.writeHead(503, { "content-type": "application/json" }).end("{}");
      return true;
    };
    const sleeps: number[] = [];
    const clock = { now: () => Date.now(), sleep: async (ms: number) => void sleeps.push(ms) };
    const c = client({ plainHttp: true, clock, retryBaseDelayMs: 600, maxAttempts: 10 });
    const err = await caught(c.getManifest(parseReference(`${registry.host}/models/m:v1`)));
    expect((err as RegistryError).code).toBe("ServerError");
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2_000);
    expect(registry.requests.length).toBeLessThan(10);
  });
});

describe("artifact cache memory against a hostile registry", () => {
  let registry: HostileRegistry;
  beforeAll(async () => {
    registry = await startHostileRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });
  const anonymous = { store: { lookup: () => undefined }, identity: "" };

  it("refuses a config far beyond any real model's, unread, naming its digest, size and limit", async () => {
    const huge = Buffer.from(
      JSON.stringify({
        descriptor: { name: "huge", createdAt: "2026-01-01T00:00:00Z" },
        config: { format: "safetensors" },
        modelfs: { type: "layers", diffIds: [] },
        padding: "x".repeat(2 * 1024 * 1024),
      }),
    );
    const artifact = await buildModelPackArtifact(files, { config: huge.toString("utf8") });
    registry.publish("models/huge", "v1", artifact);
    const cache = new ArtifactCache({ clock: systemClock, client: { plainHttp: true } });
    try {
      const inspection = await cache.inspect(parseReference(`${registry.host}/models/huge:v1`), anonymous, 0);
      expect(inspection.valid).toBe(false);
      const error = inspection.errors.find((e) => e.code === "ConfigTooLarge");
      expect(error?.message).toContain(sha256(huge));
      expect(error?.message).toContain(`${huge.length} bytes`);
      expect(error?.message).toContain(`${1024 * 1024}-byte limit`);
      expect(registry.requests.some((r) => r.path.endsWith(sha256(huge)))).toBe(false);
    } finally {
      await cache.close();
    }
  });

  it("keeps compact inspections within its byte budget, however many large artifacts tenants reference", async () => {
    const maxBytes = 16 * 1024;
    const cache = new ArtifactCache({ clock: systemClock, client: { plainHttp: true }, maxBytes });
    try {
      for (let i = 0; i < 30; i++) {
        const artifact = await buildModelPackArtifact(files, {
          name: `model-${i}`,
          // A large but legal config (900 KiB of extra fields) and large manifest annotations.
          config: JSON.stringify({
            descriptor: { name: `model-${i}`, createdAt: "2026-01-01T00:00:00Z" },
            config: { format: "safetensors" },
            modelfs: { type: "layers", diffIds: [] },
            extra: "y".repeat(900 * 1024),
          }),
          editManifest: (m) => {
            m.annotations = { "org.example.padding": "z".repeat(200 * 1024) };
          },
        });
        registry.publish(`models/big-${i}`, "v1", artifact);
        const inspection = await cache.inspect(
          parseReference(`${registry.host}/models/big-${i}:v1`),
          anonymous,
          60_000,
        );
        expect(inspection.configJson).toBeUndefined();
        expect(inspection.config).toBeUndefined();
        expect(inspection.manifest?.annotations).toBeUndefined();
        expect(inspection.summary?.layers).toBe(2);
        expect(cache.size.bytes).toBeLessThanOrEqual(maxBytes);
        expect(cache.size.clientCacheBytes).toBeLessThanOrEqual(16 * 1024 * 1024);
      }
      expect(cache.size.entries).toBeGreaterThan(0);
      expect(cache.size.entries).toBeLessThan(30);
    } finally {
      await cache.close();
    }
  });
});
