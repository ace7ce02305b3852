import { mkdtemp, readdir, readFile, rm, stat, lstat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pack } from "tar-stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../src/oci/client.js";
import { parseDockerConfig } from "../../src/oci/credentials.js";
import { DigestMismatchError } from "../../src/oci/errors.js";
import { parseReference } from "../../src/oci/reference.js";
import { PullError } from "../../src/puller/errors.js";
import { pull, PULL_STATE_FILE } from "../../src/puller/puller.js";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy.js";
import { buildModelPackArtifact, pushArtifact, sha256, type ArtifactFile } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

type TarEntry = {
  name: string;
  type?: "file" | "directory" | "symlink" | "character-device" | "link";
  content?: string;
  linkname?: string;
  mode?: number;
};

async function tarBlob(entries: TarEntry[]): Promise<Buffer> {
  const archive = pack();
  for (const e of entries) {
    archive.entry(
      {
        name: e.name,
        type: e.type ?? "file",
        mode: e.mode ?? 0o644,
        ...(e.linkname !== undefined && { linkname: e.linkname }),
        ...(e.type === "character-device" && { devmajor: 1, devminor: 3 }),
      },
      e.content ?? "",
    );
  }
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function tarLayer(blob: Buffer) {
  return {
    descriptor: {
      mediaType: "application/vnd.cncf.model.code.v1.tar",
      digest: sha256(blob),
      size: blob.length,
      annotations: { "org.cncf.model.filepath": "code" },
    },
    blob,
  };
}

/** Every path under `dir`, relative, sorted (to prove nothing partial is left behind). */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.map(String).sort();
}

describe("pull into a folder", () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  const dirs: string[] = [];
  const newDir = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), "mpo-pull-"));
    dirs.push(d);
    return join(d, "model");
  };
  let n = 0;
  const publish = async (
    files: ArtifactFile[],
    options: Parameters<typeof buildModelPackArtifact>[1] = {},
  ) => {
    const artifact = await buildModelPackArtifact(files, options);
    const repo = `models/m${n++}`;
    await pushArtifact(registry, repo, "v1", artifact);
    return { artifact, reference: parseReference(`${registry.host}/${repo}:v1`) };
  };

  beforeAll(async () => {
    registry = await startRegistry({ kind: "distribution" });
    client = new RegistryClient({ plainHttp: [registry.host], retryBaseDelayMs: 10 });
  });
  afterAll(async () => {
    await client?.close();
    await registry?.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("writes raw layers at their paths with their modes, byte-identical, and skips them on a second pull", async () => {
    const weights = Buffer.alloc(3 * 1024 * 1024 + 17, 0xab);
    const { artifact, reference } = await publish([
      { path: "config.json", content: '{"a":1}' },
      { path: "model.safetensors", content: weights },
      { path: "scripts/run.sh", content: "#!/bin/sh\necho hi\n", mode: 0o755 },
    ]);
    const dest = await newDir();
    const first = await pull({ client, reference, dest });
    expect(first.digest).toBe(artifact.manifestDigest);
    expect(first.files.map((f) => [f.path, f.skipped])).toEqual([
      ["config.json", false],
      ["model.safetensors", false],
      ["scripts/run.sh", false],
    ]);
    expect((await readFile(join(dest, "model.safetensors"))).equals(weights)).toBe(true);
    expect(((await stat(join(dest, "scripts/run.sh"))).mode & 0o777).toString(8)).toBe("755");
    expect(((await stat(join(dest, "config.json"))).mode & 0o777).toString(8)).toBe("644");
    expect(await tree(dest)).toEqual(["config.json", "model.safetensors", "scripts", "scripts/run.sh"]);

    const second = await pull({ client, reference, dest });
    expect(second.files.every((f) => f.skipped)).toBe(true);
    expect(second.bytesDownloaded).toBe(0);
  });

  it("extracts tar, tar+gzip and tar+zstd layers and skips them on a second pull", async () => {
    const { reference } = await publish([
      { path: "docs/README.md", content: "# readme\n", encoding: "tar" },
      { path: "tokenizer.json", content: '{"t":1}', encoding: "tar+gzip" },
      { path: "weights/model.safetensors", content: Buffer.alloc(100_000, 3), encoding: "tar+zstd" },
    ]);
    const dest = await newDir();
    await pull({ client, reference, dest });
    expect(await readFile(join(dest, "docs/README.md"), "utf8")).toBe("# readme\n");
    expect(await readFile(join(dest, "tokenizer.json"), "utf8")).toBe('{"t":1}');
    expect((await readFile(join(dest, "weights/model.safetensors"))).equals(Buffer.alloc(100_000, 3))).toBe(
      true,
    );
    expect(await tree(dest)).toContain(PULL_STATE_FILE);
    const second = await pull({ client, reference, dest });
    expect(second.files.every((f) => f.skipped)).toBe(true);
  });

  it("keeps its state file where told and, with worldReadable, lets every user read what it placed", async () => {
    const { reference } = await publish([
      { path: "secret-mode.bin", content: "weights", mode: 0o600 },
      { path: "docs/README.md", content: "# readme\n", encoding: "tar", mode: 0o600 },
    ]);
    const dest = await newDir();
    const stateFile = join(dest, "..", "state.json");
    await pull({ client, reference, dest, stateFile, worldReadable: true });
    expect(await tree(dest)).not.toContain(PULL_STATE_FILE);
    expect(JSON.parse(await readFile(stateFile, "utf8"))).toHaveProperty("layers");
    for (const file of ["secret-mode.bin", "docs/README.md"])
      expect((await stat(join(dest, file))).mode & 0o777).toBe(0o644);
    const second = await pull({ client, reference, dest, stateFile, worldReadable: true });
    expect(second.files.every((f) => f.skipped)).toBe(true);
  });

  it("re-downloads a file that was changed on disk", async () => {
    const { reference } = await publish([{ path: "model.safetensors", content: Buffer.alloc(1000, 1) }]);
    const dest = await newDir();
    await pull({ client, reference, dest });
    await rm(join(dest, "model.safetensors"));
    await import("node:fs/promises").then((fs) =>
      fs.writeFile(join(dest, "model.safetensors"), Buffer.alloc(1000, 2)),
    );
    const again = await pull({ client, reference, dest });
    expect(again.files[0]?.skipped).toBe(false);
    expect((await readFile(join(dest, "model.safetensors"))).equals(Buffer.alloc(1000, 1))).toBe(true);
  });

  it("understands PAX headers (long names)", async () => {
    const longName = `${"deep/".repeat(30)}weights.bin`;
    const blob = await tarBlob([{ name: longName, content: "pax" }]);
    const { reference } = await publish([{ path: "config.json", content: "{}" }], {
      extraLayers: [tarLayer(blob)],
    });
    const dest = await newDir();
    await pull({ client, reference, dest });
    expect(await readFile(join(dest, longName), "utf8")).toBe("pax");
  });

  it.each([
    ["an absolute path in the filepath annotation", [{ path: "/etc/evil", content: "x" }]],
    ["a .. path in the filepath annotation", [{ path: "../evil", content: "x" }]],
    ["a nested .. path in the filepath annotation", [{ path: "a/../../evil", content: "x" }]],
  ])("refuses %s and writes nothing", async (_name, files) => {
    const { reference } = await publish(files);
    const dest = await newDir();
    const err = await pull({ client, reference, dest }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PullError);
    expect((err as PullError).code).toBe("UnsafePath");
    expect(await tree(join(dest, ".."))).not.toContain("evil");
  });

  it.each<[string, TarEntry[], string]>([
    ["a .. entry", [{ name: "../evil", content: "x" }], "UnsafePath"],
    ["an absolute entry", [{ name: "/tmp/evil", content: "x" }], "UnsafePath"],
    ["a symlink out of the destination", [{ name: "link", type: "symlink", linkname: "/etc" }], "UnsafePath"],
    [
      "a relative symlink escaping upwards",
      [{ name: "link", type: "symlink", linkname: "../../.." }],
      "UnsafePath",
    ],
    [
      "a write through a symlink placed by the layer",
      [
        { name: "link", type: "symlink", linkname: "." },
        { name: "link/evil", content: "x" },
      ],
      "UnsafePath",
    ],
    ["a device file", [{ name: "null", type: "character-device" }], "UnsupportedEntry"],
    [
      "a hard link",
      [
        { name: "a", content: "x" },
        { name: "b", type: "link", linkname: "a" },
      ],
      "UnsupportedEntry",
    ],
  ])("refuses a tar layer with %s and leaves no partial file", async (_name, entries, code) => {
    const blob = await tarBlob(entries);
    const { reference } = await publish([{ path: "config.json", content: "{}" }], {
      extraLayers: [tarLayer(blob)],
    });
    const dest = await newDir();
    const err = await pull({ client, reference, dest, concurrency: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PullError);
    expect((err as PullError).code).toBe(code);
    const left = await tree(dest);
    expect(left.filter((p) => p.includes(".modelpack-partial") || p.endsWith(".part"))).toEqual([]);
    expect(left.filter((p) => p.includes("evil"))).toEqual([]);
    expect(await lstat(join(dest, "..", "evil")).catch(() => undefined)).toBeUndefined();
  });

  it("refuses a layer type it cannot place", async () => {
    const blob = Buffer.from("opaque");
    const { reference } = await publish([{ path: "config.json", content: "{}" }], {
      extraLayers: [
        {
          descriptor: { mediaType: "application/octet-stream", digest: sha256(blob), size: blob.length },
          blob,
        },
      ],
    });
    const err = await pull({ client, reference, dest: await newDir() }).catch((e: unknown) => e);
    expect((err as PullError).code).toBe("UnsupportedLayer");
  });

  it("refuses an artifact that is not a ModelPack manifest", async () => {
    const { reference } = await publish([{ path: "a.bin", content: "x" }], {
      editManifest: (m) => void (m.artifactType = "application/vnd.example.other+json"),
    });
    const err = await pull({ client, reference, dest: await newDir() }).catch((e: unknown) => e);
    expect((err as PullError).code).toBe("InvalidArtifact");
  });

  describe("with a misbehaving registry", () => {
    let proxy: FaultProxy;
    let proxied: RegistryClient;
    beforeAll(async () => {
      proxy = await startFaultProxy(registry.url);
      proxied = new RegistryClient({ plainHttp: true, retryBaseDelayMs: 10 });
    });
    afterEach(() => {
      proxy.rules.length = 0;
    });
    afterAll(async () => {
      await proxied?.close();
      await proxy?.stop();
    });

    it("fails on a blob whose bytes do not match its digest and leaves no partial file", async () => {
      const { artifact } = await publish([
        { path: "model.safetensors", content: Buffer.alloc(200_000, 9) },
        { path: "README.md", content: "ok" },
      ]);
      const repo = `models/m${n - 1}`;
      const weights = (artifact.manifest.layers as { digest: string }[])[0]!.digest;
      proxy.rules.push({ match: (_m, p) => p.endsWith(weights), fault: { kind: "corrupt" } });
      const dest = await newDir();
      const err = await pull({
        client: proxied,
        reference: parseReference(`${proxy.host}/${repo}:v1`),
        dest,
        concurrency: 1,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DigestMismatchError);
      const left = await tree(dest);
      expect(left).not.toContain("model.safetensors");
      expect(left.filter((p) => p.includes(".modelpack-partial"))).toEqual([]);
    });

    it("continues a layer whose download was cut off from where it stopped", async () => {
      const { artifact } = await publish([{ path: "model.safetensors", content: Buffer.alloc(300_000, 5) }]);
      const repo = `models/m${n - 1}`;
      const weights = (artifact.manifest.layers as { digest: string }[])[0]!.digest;
      proxy.rules.push({ match: (_m, p) => p.endsWith(weights), fault: { kind: "truncate" }, times: 1 });
      proxy.requests.length = 0;
      const dest = await newDir();
      const result = await pull({
        client: proxied,
        reference: parseReference(`${proxy.host}/${repo}:v1`),
        dest,
      });
      expect((await readFile(join(dest, "model.safetensors"))).equals(Buffer.alloc(300_000, 5))).toBe(true);
      // Two requests for the blob, and no byte twice: the second asked for the rest only.
      expect(proxy.requests.filter((r) => r.endsWith(weights))).toHaveLength(2);
      expect(result.bytesDownloaded).toBe(300_000);
    });
  });
});

describe("pull over TLS and with Bearer tokens (the direct socket path and its fallbacks)", () => {
  it.each([
    ["TLS with a custom CA", { kind: "distribution", tls: true }],
    ["Bearer token auth", { kind: "distribution", auth: "token" }],
    ["Basic auth on olareg", { kind: "olareg", auth: "basic" }],
  ] as const)("%s", async (_name, options) => {
    const registry = await startRegistry(options);
    const dir = await mkdtemp(join(tmpdir(), "mpo-pull-tls-"));
    try {
      const weights = Buffer.alloc(5 * 1024 * 1024 + 3, 0x42);
      const artifact = await buildModelPackArtifact([
        { path: "model.safetensors", content: weights },
        { path: "README.md", content: "hi" },
      ]);
      await pushArtifact(registry, "models/secure", "v1", artifact);
      const auth = Buffer.from(`${registry.username}:${registry.password}`).toString("base64");
      const client = new RegistryClient({
        ...(registry.caPem !== undefined ? { caPem: registry.caPem } : { plainHttp: [registry.host] }),
        ...(options.kind === "olareg" || "auth" in options
          ? {
              credentials: parseDockerConfig(
                JSON.stringify({ auths: { [registry.host]: { auth } } }),
                "test",
              ),
            }
          : {}),
      });
      const result = await pull({
        client,
        reference: parseReference(`${registry.host}/models/secure:v1`),
        dest: join(dir, "model"),
      });
      await client.close();
      expect(result.files.map((f) => f.path)).toEqual(["README.md", "model.safetensors"]);
      expect((await readFile(join(dir, "model", "model.safetensors"))).equals(weights)).toBe(true);
    } finally {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
