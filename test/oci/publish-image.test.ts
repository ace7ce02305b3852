import { PassThrough, Readable } from "node:stream";
import { gunzipSync, zstdDecompressSync } from "node:zlib";
import { extract } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { RegistryClient } from "../../src/oci/client.js";
import { buildModelPackArtifact, pushArtifact, sha256, type ArtifactFile } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

/** Runs the CLI in-process and captures what it prints. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  stderr.on("data", (c: Buffer) => (err += c.toString()));
  const code = await main(args, { stdout, stderr, env: { HOME: "/nonexistent" } });
  return { code, stdout: out, stderr: err };
}

interface PublishJson {
  digest: string;
  reference: string;
  subject: string;
  platforms: string[];
  findable: { via: "api" | "tag"; tag?: string };
  layers: { path: string; source: string; digest: string; size: number; mediaType: string; action: string }[];
  reused: number;
  uploaded: number;
  uploadedBytes: number;
  pushedManifests: number;
}

const json = <T>(text: string): T => JSON.parse(text) as T;

async function untar(bytes: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const reader = extract();
  Readable.from([bytes]).pipe(reader);
  for await (const entry of reader) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (entry.header.type === "file") files.set(entry.header.name, Buffer.concat(chunks));
  }
  return files;
}

/** What a runtime unpacking the variant's `platform` image would see: every file, in layer order. */
async function unpackVariant(
  client: RegistryClient,
  registry: TestRegistry,
  repository: string,
  indexDigest: string,
  platform = "amd64",
): Promise<{ files: Map<string, Buffer>; index: Record<string, unknown> }> {
  const at = (digest: string) => ({ registry: registry.host, repository, digest });
  const index = (await client.getManifestDocument(at(indexDigest))).json as {
    manifests: { digest: string; platform: { architecture: string } }[];
  };
  const entry = index.manifests.find((m) => m.platform.architecture === platform);
  if (entry === undefined) throw new Error(`no ${platform} image`);
  const manifest = (await client.getManifestDocument(at(entry.digest))).json as {
    config: { mediaType: string; digest: string; size: number };
    layers: { mediaType: string; digest: string; size: number }[];
  };
  const config = JSON.parse(
    Buffer.from(await client.getBlob(at(entry.digest), manifest.config)).toString(),
  ) as {
    rootfs: { diff_ids: string[] };
  };
  const files = new Map<string, Buffer>();
  for (const [i, layer] of manifest.layers.entries()) {
    const chunks: Buffer[] = [];
    for await (const chunk of await client.openBlob(at(layer.digest), layer)) chunks.push(chunk as Buffer);
    const blob = Buffer.concat(chunks);
    const tar = layer.mediaType.endsWith("+gzip")
      ? gunzipSync(blob)
      : layer.mediaType.endsWith("+zstd")
        ? zstdDecompressSync(blob)
        : blob;
    expect(config.rootfs.diff_ids[i]).toBe(sha256(tar));
    for (const [path, content] of await untar(tar)) files.set(path, content);
  }
  return { files, index: index as unknown as Record<string, unknown> };
}

const weights = (n: number, seed: number): Buffer => {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
};

const MIXED: ArtifactFile[] = [
  { path: "weights/model.safetensors", content: weights(300_000, 1), encoding: "raw" },
  { path: "config.json", content: '{"hidden_size":8}', encoding: "tar" },
  { path: "tokenizer.json", content: '{"tokens":[1,2,3]}', encoding: "tar+gzip" },
  { path: "docs/README.md", content: "# tiny\n", encoding: "tar+zstd" },
  { path: "weights/extra.bin", content: weights(1025, 7), encoding: "raw", mode: 0o600 },
  // Over 8 MiB: hashed on a worker thread while it is copied.
  { path: "weights/large.safetensors", content: weights(9 * 1024 * 1024 + 17, 3), encoding: "raw" },
];

for (const kind of ["distribution", "olareg"] as const) {
  describe(`publish-image against ${kind} (${kind === "olareg" ? "referrers API" : "no referrers API: the sha256-<hex> tag"})`, () => {
    let registry: TestRegistry;
    let client: RegistryClient;
    beforeAll(async () => {
      registry = await startRegistry({ kind });
      client = new RegistryClient({ plainHttp: true });
    }, 300_000);
    afterAll(async () => {
      await client?.close();
      await registry?.stop();
    });

    const publish = (reference: string, ...flags: string[]) =>
      cli(["publish-image", reference, "--plain-http", "-o", "json", ...flags]);

    for (const encoding of ["raw", "tar", "tar+gzip", "tar+zstd"] as const) {
      it(`a ${encoding} artifact: its file at its path, byte-identical, in an image per platform; ${encoding === "raw" ? "the file wrapped and uploaded" : "the blob reused, nothing uploaded"}`, async () => {
        const content = weights(70_000, encoding.length);
        const artifact = await buildModelPackArtifact([
          { path: "weights/model.safetensors", content, encoding },
        ]);
        const repository = `models/${encoding.replace("+", "-")}`;
        const digest = await pushArtifact(registry, repository, "v1", artifact);
        const run = await publish(`${registry.host}/${repository}:v1`);
        expect(run.code, run.stderr).toBe(0);
        const out = json<PublishJson>(run.stdout);
        expect(out.subject).toBe(digest);
        expect(out.platforms).toEqual(["linux/amd64", "linux/arm64"]);
        expect(out.layers.map((l) => l.action)).toEqual([encoding === "raw" ? "uploaded" : "reused"]);
        const source = (artifact.manifest.layers as { digest: string }[])[0]?.digest;
        if (encoding === "raw") expect(out.layers[0]?.digest).not.toBe(source);
        else expect(out.layers[0]?.digest).toBe(source);
        const { files, index } = await unpackVariant(client, registry, repository, out.digest);
        expect([...files.keys()]).toEqual(["weights/model.safetensors"]);
        expect(files.get("weights/model.safetensors")?.equals(content)).toBe(true);
        expect(index.subject).toMatchObject({
          digest,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
        });
        expect(index.artifactType).toBe("application/vnd.modelpack-operator.image-variant.v1+json");
      });
    }

    it("a mixed artifact: every file at its ModelPack path, byte-identical; the index records each layer's source digest; a second run uploads nothing", async () => {
      const artifact = await buildModelPackArtifact(MIXED);
      const repository = "models/mixed";
      const digest = await pushArtifact(registry, repository, "v1", artifact);
      const first = await publish(`${registry.host}/${repository}:v1`, "--tag", "v1-image");
      expect(first.code, first.stderr).toBe(0);
      const out = json<PublishJson>(first.stdout);
      expect(out.layers.map((l) => [l.path, l.action])).toEqual([
        ["weights/model.safetensors", "uploaded"],
        ["config.json", "reused"],
        ["tokenizer.json", "reused"],
        ["docs/README.md", "reused"],
        ["weights/extra.bin", "uploaded"],
        ["weights/large.safetensors", "uploaded"],
      ]);
      const sources = (artifact.manifest.layers as { digest: string }[]).map((l) => l.digest);
      expect(out.layers.map((l) => l.source)).toEqual(sources);
      expect(out.layers.slice(1, 4).map((l) => l.digest)).toEqual(sources.slice(1, 4));
      expect(out.layers.map((l) => l.mediaType)).toEqual([
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar",
      ]);
      expect(out.findable.via).toBe(kind === "olareg" ? "api" : "tag");
      for (const arch of ["amd64", "arm64"]) {
        const { files, index } = await unpackVariant(client, registry, repository, out.digest, arch);
        expect(new Map([...files].map(([p, c]) => [p, sha256(c)]))).toEqual(
          new Map(MIXED.map((f) => [f.path, sha256(f.content)])),
        );
        const records = JSON.parse(
          (index.annotations as Record<string, string>)["dev.modelpack.image-variant.layers"] ?? "[]",
        ) as { path: string; source: string; digest: string }[];
        expect(records.map((r) => r.source)).toEqual(sources);
        expect(records.map((r) => r.path)).toEqual(MIXED.map((f) => f.path));
      }
      // The tag names the index; the referrers (API or fallback tag) list it under the artifact.
      expect((await client.resolve({ registry: registry.host, repository, tag: "v1-image" })).digest).toBe(
        out.digest,
      );
      const referrers = await client.getReferrers({ registry: registry.host, repository }, digest);
      expect(referrers.via).toBe(kind === "olareg" ? "api" : "tag");
      expect(referrers.manifests.map((m) => m.digest)).toContain(out.digest);

      const again = await publish(`${registry.host}/${repository}:v1`, "--tag", "v1-image");
      expect(again.code, again.stderr).toBe(0);
      const second = json<PublishJson>(again.stdout);
      expect(second.digest).toBe(out.digest);
      expect(second.uploaded).toBe(0);
      expect(second.uploadedBytes).toBe(0);
      expect(second.pushedManifests).toBe(0);
      expect(second.layers.map((l) => l.action)).toEqual([
        "present",
        "reused",
        "reused",
        "reused",
        "present",
        "present",
      ]);

      const forced = json<PublishJson>(
        (await publish(`${registry.host}/${repository}:v1`, "--force")).stdout,
      );
      expect(forced.digest).toBe(out.digest); // rebuilt from the artifact: the same bytes

      const inspected = await cli([
        "inspect",
        `${registry.host}/${repository}:v1`,
        "--plain-http",
        "-o",
        "json",
      ]);
      expect(inspected.code, inspected.stderr).toBe(0);
      expect(
        json<{ imageVariant: { digest: string; matches: boolean } }>(inspected.stdout).imageVariant,
      ).toMatchObject({
        digest: out.digest,
        matches: true,
      });
      const text = await cli(["inspect", `${registry.host}/${repository}:v1`, "--plain-http"]);
      expect(text.stdout).toContain(
        `Image variant: ${registry.host}/${repository}@${out.digest} (matches the artifact`,
      );
    });

    it("a tar-only artifact: no layer blob uploaded (only the tiny image configs)", async () => {
      const artifact = await buildModelPackArtifact([
        { path: "a.safetensors", content: weights(5000, 3), encoding: "tar" },
        { path: "config.json", content: "{}", encoding: "tar" },
      ]);
      await pushArtifact(registry, "models/tars", "v1", artifact);
      const out = json<PublishJson>((await publish(`${registry.host}/models/tars:v1`)).stdout);
      expect(out.uploaded).toBe(0);
      expect(out.layers.every((l) => l.action === "reused")).toBe(true);
      expect(out.uploadedBytes).toBeLessThan(1024);
    });

    it("a variant that does not match (another file, another source digest, a tampered layer) is reported, never trusted; --force publishes a good one", async () => {
      const good = await buildModelPackArtifact([{ path: "model.safetensors", content: weights(4000, 9) }]);
      const other = await buildModelPackArtifact([{ path: "model.safetensors", content: weights(4000, 10) }]);
      const repository = "models/tampered";
      const digest = await pushArtifact(registry, repository, "v1", good);
      await pushArtifact(registry, repository, "other", other);
      // Publish the other artifact's variant, then graft it onto this artifact: subject rewritten.
      const otherVariant = json<PublishJson>((await publish(`${registry.host}/${repository}:other`)).stdout);
      const repo = { registry: registry.host, repository };
      const forged = (await client.getManifestDocument({ ...repo, digest: otherVariant.digest }))
        .json as Record<string, unknown>;
      forged.subject = {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest,
        size: good.manifestBytes.byteLength,
      };
      const forgedBytes = Buffer.from(JSON.stringify(forged));
      const pusher = new RegistryClient({ plainHttp: true });
      const forgedDigest = await pusher.pushManifest(
        { ...repo, digest: sha256(forgedBytes) },
        "application/vnd.oci.image.index.v1+json",
        forgedBytes,
      );
      if (kind === "distribution") {
        const tag = {
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.index.v1+json",
          manifests: [
            {
              mediaType: "application/vnd.oci.image.index.v1+json",
              digest: forgedDigest,
              size: forgedBytes.byteLength,
              artifactType: "application/vnd.modelpack-operator.image-variant.v1+json",
            },
          ],
        };
        await pusher.pushManifest(
          { ...repo, tag: `sha256-${digest.slice(7)}` },
          "application/vnd.oci.image.index.v1+json",
          Buffer.from(JSON.stringify(tag)),
        );
      }
      await pusher.close();
      const inspected = await cli([
        "inspect",
        `${registry.host}/${repository}:v1`,
        "--plain-http",
        "-o",
        "json",
      ]);
      const variant = json<{ imageVariant: { digest: string; matches: boolean; problems: string[] } }>(
        inspected.stdout,
      ).imageVariant;
      expect(variant.digest).toBe(forgedDigest);
      expect(variant.matches).toBe(false);
      expect(variant.problems.join("; ")).toMatch(/comes from sha256:[0-9a-f]{64}, not the artifact's layer/);
      const text = await cli(["inspect", `${registry.host}/${repository}:v1`, "--plain-http"]);
      expect(text.stdout).toContain("does NOT match the artifact (the operator ignores it)");

      // publish-image does not build on it: it publishes a matching variant beside it.
      const fixed = await publish(`${registry.host}/${repository}:v1`);
      expect(fixed.code, fixed.stderr).toBe(0);
      const published = json<PublishJson>(fixed.stdout);
      expect(published.layers[0]?.action).toBe("uploaded");
      const after = json<{ imageVariant: { digest: string; matches: boolean } }>(
        (await cli(["inspect", `${registry.host}/${repository}:v1`, "--plain-http", "-o", "json"])).stdout,
      ).imageVariant;
      expect(after).toMatchObject({ digest: published.digest, matches: true });
    });

    it("exit 1 for an artifact that is not ModelPack; 2 for a bad --platform", async () => {
      const artifact = await buildModelPackArtifact([{ path: "m.bin", content: "x" }], {
        editManifest: (m) => {
          delete m.artifactType;
          (m.config as Record<string, unknown>).mediaType = "application/vnd.example.config.v1+json";
        },
      });
      await pushArtifact(registry, "models/notmodel", "v1", artifact);
      const run = await publish(`${registry.host}/models/notmodel:v1`);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain("is not a valid ModelPack artifact");
      const bad = await publish(`${registry.host}/models/notmodel:v1`, "--platform", "linux");
      expect(bad.code).toBe(2);
    });
  });
}
