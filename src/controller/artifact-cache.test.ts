import { describe, expect, it } from "vitest";
import type { ArtifactInspection } from "../artifact/inspect.js";
import { mountability, summarizeModel, type OciManifest } from "../modelpack/index.js";
import type { FetchedManifest } from "../oci/client.js";
import { anonymousCredentials } from "../oci/credentials.js";
import { parseReference } from "../oci/reference.js";
import { FakeClock } from "../runtime/clock.js";
import {
  ArtifactCache,
  compactInspection,
  inspectionBytes,
  type CachedRegistryClient,
  type LookupCredentials,
} from "./artifact-cache.js";

const D = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json";
const MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json";
const layer = (mediaType: string, annotations?: Record<string, string>): OciManifest["layers"][number] => ({
  mediaType,
  digest: D(3),
  size: 100,
  ...(annotations !== undefined && {
    annotations: {
      ...annotations,
      "org.cncf.model.file.metadata+json": JSON.stringify({ name: "x", padding: "p".repeat(4096) }),
      "org.example.noise": "n".repeat(4096),
    },
  }),
});

const manifests: [string, OciManifest][] = [
  [
    "raw layers named by title and filepath",
    {
      schemaVersion: 2,
      artifactType: "application/vnd.cncf.model.manifest.v1+json",
      config: { mediaType: MODEL_CONFIG, digest: D(1), size: 10 },
      layers: [
        layer("application/vnd.cncf.model.weight.v1.raw", {
          "org.opencontainers.image.title": "w.bin",
          "org.cncf.model.filepath": "w.bin",
        }),
      ],
    },
  ],
  [
    "legacy filepath only (CRI-O 1.33.x)",
    {
      schemaVersion: 2,
      artifactType: "application/vnd.cnai.model.manifest.v1+json",
      config: { mediaType: MODEL_CONFIG, digest: D(1), size: 10 },
      layers: [layer("application/vnd.cnai.model.weight.v1.raw", { "org.cnai.model.filepath": "w.bin" })],
    },
  ],
  [
    "an unnamed and an archive layer",
    {
      schemaVersion: 2,
      artifactType: "application/vnd.cncf.model.manifest.v1+json",
      config: { mediaType: MODEL_CONFIG, digest: D(1), size: 10 },
      layers: [
        layer("application/vnd.cncf.model.weight.v1.raw"),
        layer("application/vnd.cncf.model.weight.v1.tar", {}),
      ],
    },
  ],
  [
    "image-shaped",
    {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: IMAGE_CONFIG, digest: D(1), size: 10, annotations: { big: "b".repeat(4096) } },
      layers: [layer("application/vnd.oci.image.layer.v1.tar")],
      annotations: { "org.example.padding": "z".repeat(100_000) },
      subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: D(2), size: 5 },
    },
  ],
];

describe("compactInspection", () => {
  it.each(manifests)("keeps what status and admission read: %s", (_name, manifest) => {
    const full: ArtifactInspection = {
      reference: "r.example/m:v1",
      pinnedReference: `r.example/m@${D(9)}`,
      digest: D(9),
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      ...(manifest.artifactType !== undefined && { artifactType: manifest.artifactType }),
      manifest,
      configJson: { padding: "c".repeat(200_000) },
      summary: summarizeModel(manifest),
      valid: false,
      errors: [{ code: "E", path: "config", message: "bad" }],
      warnings: [{ code: "W", path: "", message: "meh" }],
      lint: [],
      legacy: { specVersion: "v0.0.1", message: "old" },
    };
    const compact = compactInspection(full);
    expect(mountability(compact.manifest!)).toEqual(mountability(manifest));
    expect(compact.manifest?.config.mediaType).toBe(manifest.config.mediaType);
    const { manifest: _m, configJson: _c, ...kept } = full;
    expect(compact).toMatchObject(kept);
    expect(compact.configJson).toBeUndefined();
    expect(compact.manifest?.annotations).toBeUndefined();
    expect(compact.manifest?.subject).toBeUndefined();
    expect(inspectionBytes(compact)).toBeLessThan(inspectionBytes(full) / 10);
  });

  it("leaves an inspection without a manifest as it is, minus the config", () => {
    const bare: ArtifactInspection = {
      reference: "r.example/m:v1",
      pinnedReference: `r.example/m@${D(9)}`,
      digest: D(9),
      mediaType: "text/plain",
      valid: false,
      errors: [],
      warnings: [],
      lint: [],
    };
    expect(compactInspection({ ...bare, configJson: "x" })).toEqual(bare);
  });
});

/** A registry in memory: one artifact for every reference, counting what each client is asked. */
function fakeRegistry(): {
  create: (options: { cacheScope?: string }) => CachedRegistryClient;
  calls: { manifests: number; blobs: number };
  closed: string[];
} {
  const calls = { manifests: 0, blobs: 0 };
  const closed: string[] = [];
  const manifest: OciManifest = {
    schemaVersion: 2,
    artifactType: "application/vnd.cncf.model.manifest.v1+json",
    config: { mediaType: MODEL_CONFIG, digest: D(1), size: 2 },
    layers: [layer("application/vnd.cncf.model.weight.v1.raw", { "org.opencontainers.image.title": "w" })],
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const create = (options: { cacheScope?: string }): CachedRegistryClient => ({
    getManifest: async (ref): Promise<FetchedManifest> => {
      calls.manifests++;
      await Promise.resolve();
      return {
        registry: ref.registry,
        repository: ref.repository,
        digest: D(7),
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        bytes,
        json: manifest,
      };
    },
    getBlob: async () => {
      calls.blobs++;
      return Promise.resolve(Buffer.from("{}"));
    },
    close: async () => {
      closed.push(options.cacheScope ?? "");
      return Promise.resolve();
    },
  });
  return { create, calls, closed };
}

const anonymous: LookupCredentials = { store: anonymousCredentials, identity: "" };
const as = (identity: string): LookupCredentials => ({ ...anonymous, identity });

describe("ArtifactCache over a fake registry", () => {
  it("shares one in-flight inspection, keeps a tag for maxAgeMs and a digest for ever", async () => {
    const registry = fakeRegistry();
    const clock = new FakeClock(1_000);
    const cache = new ArtifactCache({ clock, client: {}, createClient: registry.create });
    const tag = parseReference("registry.test/models/a:v1");
    const [a, b] = await Promise.all([
      cache.inspect(tag, anonymous, 60_000),
      cache.inspect(tag, anonymous, 60_000),
    ]);
    expect(a.digest).toBe(D(7));
    expect(b).toBe(a);
    expect(registry.calls).toEqual({ manifests: 1, blobs: 1 });
    expect(a.config).toBeUndefined(); // compact
    clock.advance(59_999);
    await cache.inspect(tag, anonymous, 60_000);
    expect(registry.calls.manifests).toBe(1);
    clock.advance(1);
    expect(cache.cached(tag, anonymous, 60_000)).toBeUndefined();
    await cache.inspect(tag, anonymous, 60_000);
    expect(registry.calls.manifests).toBe(2);
    const pinned = parseReference(`registry.test/models/a@${D(7)}`);
    await cache.inspect(pinned, anonymous, 0);
    clock.advance(1e9);
    await cache.inspect(pinned, anonymous, 0);
    expect(registry.calls.manifests).toBe(3);
  });

  it("keeps one client per credential identity, closing the least recently used past maxClients", async () => {
    const registry = fakeRegistry();
    const cache = new ArtifactCache({
      clock: new FakeClock(),
      client: {},
      createClient: registry.create,
      maxClients: 2,
    });
    const ref = parseReference("registry.test/models/a:v1");
    for (const identity of ["x", "y", "x", "z"]) await cache.inspect(ref, as(identity), 0);
    expect(registry.calls.manifests).toBe(4); // different credentials never share an entry
    expect(registry.closed).toEqual(["y"]);
    await cache.close();
    expect(registry.closed.sort()).toEqual(["x", "y", "z"]);
  });
});
