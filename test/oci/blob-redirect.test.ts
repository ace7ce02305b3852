/**
 * Registries that keep blobs in object storage answer blob GETs with a redirect to it, usually a
 * signed URL on another host. A real registry (Basic auth) sits behind a proxy that redirects
 * every blob GET to a stand-in store on another origin: pulls follow the redirects on both paths
 * (the direct socket path for raw layers, the general client for the config and archive layers),
 * credentials go to the registry only, and the bytes are verified wherever they came from.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient, type Descriptor } from "../../src/oci/client.js";
import { parseDockerConfig } from "../../src/oci/credentials.js";
import { DigestMismatchError } from "../../src/oci/errors.js";
import { parseReference } from "../../src/oci/reference.js";
import { pull } from "../../src/puller/puller.js";
import { startBlobStore, type BlobStore } from "../support/blob-store.js";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy.js";
import { buildModelPackArtifact, pushArtifact, type BuiltArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

const weights = Buffer.alloc(9 * 1024 * 1024 + 5);
for (let i = 0; i < weights.length; i += 4096) weights.writeUInt32LE(i, i);
const files = [
  { path: "config.json", content: '{"model_type":"tiny"}' },
  { path: "model.safetensors", content: weights },
  { path: "code/run.py", content: "print('hi')\n", encoding: "tar" as const },
];
const isBlobGet = (method: string, path: string): boolean =>
  method === "GET" && /\/blobs\/sha256:/.test(path);

describe("blob downloads that registries redirect to object storage", () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let store: BlobStore;
  let artifact: BuiltArtifact;
  let client: RegistryClient;
  const dirs: string[] = [];
  const reference = () => parseReference(`${proxy.host}/models/redirected:v1`);
  const weightsLayer = (): Descriptor => {
    const layers = artifact.manifest.layers as Descriptor[];
    const layer = layers.find((l) => l.size === weights.length);
    if (layer === undefined) throw new Error("no weights layer");
    return layer;
  };
  const newDir = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), "mpo-redirect-"));
    dirs.push(d);
    return join(d, "model");
  };

  beforeAll(async () => {
    registry = await startRegistry({ kind: "distribution", auth: "basic" });
    artifact = await buildModelPackArtifact(files);
    await pushArtifact(registry, "models/redirected", "v1", artifact);
    proxy = await startFaultProxy(registry.url);
    store = await startBlobStore(artifact.blobs);
    const auth = Buffer.from(`${registry.username}:${registry.password}`).toString("base64");
    client = new RegistryClient({
      plainHttp: [proxy.host],
      credentials: parseDockerConfig(
        JSON.stringify({ auths: { [proxy.host]: { auth } } }),
        "test config.json",
      ),
      retryBaseDelayMs: 10,
    });
  });
  afterEach(() => {
    proxy.rules.length = 0;
    proxy.requests.length = 0;
    proxy.authorized.length = 0;
    store.requests.length = 0;
    store.corrupt = false;
  });
  afterAll(async () => {
    await client?.close();
    await store?.stop();
    await proxy?.stop();
    await registry?.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("pulls through redirects to another origin, sending credentials to the registry only", async () => {
    proxy.rules.push({
      match: isBlobGet,
      fault: { kind: "redirect", to: (path) => `${store.url}${path}?X-Amz-Signature=signed` },
    });
    const dest = await newDir();
    await pull({ client, reference: reference(), dest });
    expect((await readFile(join(dest, "model.safetensors"))).equals(weights)).toBe(true);
    expect(await readFile(join(dest, "code/run.py"), "utf8")).toBe("print('hi')\n");
    // Every blob (config, raw, archive) came from the store, none with the registry's credentials.
    expect(new Set(store.requests.map((r) => r.path.split("?")[0]?.split("/").pop()))).toEqual(
      new Set(artifact.blobs.keys()),
    );
    expect(store.requests.filter((r) => r.authorization !== undefined)).toEqual([]);
    // The registry itself was asked with them, once per blob: the raw layer's redirect was followed
    // by the direct path itself, not handed to the general client for a second request.
    const blobAsks = proxy.requests.flatMap((r, i) =>
      isBlobGet(...(r.split(" ") as [string, string])) ? [proxy.authorized[i]] : [],
    );
    expect(blobAsks.length).toBe(artifact.blobs.size);
    expect(blobAsks.every((a) => a === true)).toBe(true);
  });

  it("keeps the credentials on a redirect to the registry's own origin", async () => {
    // The redirect target is the registry again (through the proxy), which still demands them.
    proxy.rules.push({
      match: (m, p) => isBlobGet(m, p) && !p.includes("?"),
      fault: { kind: "redirect", to: (path) => `${path}?moved=1` },
    });
    const path = join(await newDir(), "..", "weights");
    expect(await client.downloadBlob(reference(), weightsLayer(), path)).toBe(weights.length);
    expect((await readFile(path)).equals(weights)).toBe(true);
    // Both hops carried them: the redirected request was not refused and retried another way.
    const hops = proxy.requests.flatMap((r, i) =>
      r.includes("/blobs/") ? [[r.includes("?moved=1"), proxy.authorized[i]]] : [],
    );
    expect(hops).toEqual([
      [false, true],
      [true, true],
    ]);
  });

  it("refuses bytes from storage that do not match the digest, leaving nothing behind", async () => {
    proxy.rules.push({ match: isBlobGet, fault: { kind: "redirect", to: (path) => `${store.url}${path}` } });
    store.corrupt = true;
    const dest = await newDir();
    const err = await pull({ client, reference: reference(), dest }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect(await readdir(dest).catch(() => [])).toEqual([]);
  });

  it("stops following after five redirects", async () => {
    proxy.rules.push({ match: isBlobGet, fault: { kind: "redirect", to: (path) => path } });
    const err = await client
      .downloadBlob(reference(), weightsLayer(), join(await newDir(), "..", "loop"))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "InvalidResponse",
      message: expect.stringMatching(/more than 5 redirects/),
    });
  });
});
