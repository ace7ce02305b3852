/**
 * Fault injection: hostile artifacts pushed to a real registry on loopback and pulled with the real
 * puller and CLI (issue 12, section 4). Each case failed on the puller before these fixes.
 */
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  realpath,
  rm,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { PassThrough, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createZstdCompress } from "node:zlib";
import { pack } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { RegistryClient } from "../../src/oci/client.js";
import { parseReference } from "../../src/oci/reference.js";
import { PullError } from "../../src/puller/errors.js";
import { pull } from "../../src/puller/puller.js";
import { buildModelPackArtifact, pushArtifact, sha256, type ArtifactFile } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

type TarEntry = {
  name: string;
  type?: "file" | "directory" | "symlink";
  content?: string | Buffer;
  linkname?: string;
};

async function tarBlob(entries: readonly TarEntry[]): Promise<Buffer> {
  const archive = pack();
  for (const e of entries) {
    archive.entry(
      {
        name: e.name,
        type: e.type ?? "file",
        mode: e.type === "directory" ? 0o755 : 0o644,
        ...(e.linkname !== undefined && { linkname: e.linkname }),
      },
      e.content ?? "",
    );
  }
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A tar+zstd blob of one file of `size` zero bytes, streamed (never held in memory whole). */
async function zstdBomb(name: string, size: number): Promise<Buffer> {
  const archive = pack();
  const chunk = Buffer.alloc(1024 * 1024);
  const entry = archive.entry({ name, size, mode: 0o644 }) as unknown as Writable;
  const out: Buffer[] = [];
  const compressing = pipeline(archive, createZstdCompress(), async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  for (let left = size; left > 0; left -= chunk.length) {
    if (!entry.write(left >= chunk.length ? chunk : chunk.subarray(0, left)))
      await new Promise<void>((r) => entry.once("drain", () => r()));
  }
  entry.end();
  archive.finalize();
  await compressing;
  return Buffer.concat(out);
}

function tarLayer(blob: Buffer, encoding: "tar" | "tar+zstd" = "tar", filepath = "code") {
  return {
    descriptor: {
      mediaType: `application/vnd.cncf.model.code.v1.${encoding}`,
      digest: sha256(blob),
      size: blob.length,
      annotations: { "org.cncf.model.filepath": filepath },
    },
    blob,
  };
}

/** Every path under `dir` with its kind and content (files), link target (symlinks): a snapshot. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const names = await readdir(dir, { recursive: true }).catch(() => undefined);
  if (names === undefined) return { "(missing)": "" };
  for (const name of names.map(String).sort()) {
    const path = join(dir, name);
    const stat = await lstat(path);
    out[name] = stat.isSymbolicLink()
      ? `-> ${await readlink(path)}`
      : stat.isDirectory()
        ? "dir"
        : sha256(await readFile(path));
  }
  return out;
}

/** Every symlink under `dir` whose real path is outside `dir`. */
async function escapingLinks(dir: string): Promise<string[]> {
  const root = await realpath(dir);
  const names = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  const out: string[] = [];
  for (const name of names.map(String)) {
    const path = join(dir, name);
    if (!(await lstat(path)).isSymbolicLink()) continue;
    const real = await realpath(path).catch(() => undefined);
    if (real !== undefined && relative(root, real).startsWith("..")) out.push(`${name} -> ${real}`);
  }
  return out;
}

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

describe("faults: the puller against hostile artifacts", () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  let work: string;
  let n = 0;
  const newDest = async (): Promise<string> => join(await mkdtemp(join(work, "pull-")), "model");
  const publish = async (
    files: ArtifactFile[],
    extraLayers: NonNullable<Parameters<typeof buildModelPackArtifact>[1]>["extraLayers"] = [],
  ) => {
    const artifact = await buildModelPackArtifact(files, { extraLayers });
    const repo = `hostile/m${n++}`;
    await pushArtifact(registry, repo, "v1", artifact);
    return {
      artifact,
      ref: `${registry.host}/${repo}:v1`,
      reference: parseReference(`${registry.host}/${repo}:v1`),
    };
  };
  const failure = async (p: Promise<unknown>): Promise<PullError> => {
    const err = await p.then(
      () => new Error("the pull succeeded"),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PullError);
    return err as PullError;
  };

  beforeAll(async () => {
    registry = await startRegistry({ kind: "distribution" });
    client = new RegistryClient({ plainHttp: [registry.host], retryBaseDelayMs: 10 });
    work = await mkdtemp(join(tmpdir(), "mpo-faults-puller-"));
  });
  afterAll(async () => {
    await client?.close();
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  describe("symlink chains", () => {
    const chain: TarEntry[] = [
      { name: "a/b/c/d/e/f/g/h/", type: "directory" },
      { name: "a/b/c/d/e/f/g/h/up", type: "symlink", linkname: "../../../../../../../.." },
      {
        name: "tokenizer.json",
        type: "symlink",
        // Lexically inside (9 components up, 9 back); really /etc/passwd, since "up" is the root.
        linkname: `a/b/c/d/e/f/g/h/up/${"../".repeat(9)}etc/passwd`,
      },
    ];

    it("refuses a link that leaves through an earlier link of the same layer, naming layer, entry and why", async () => {
      const { reference } = await publish(
        [{ path: "config.json", content: "{}" }],
        [tarLayer(await tarBlob(chain))],
      );
      const dest = await newDest();
      const err = await failure(pull({ client, reference, dest }));
      expect(err.code).toBe("UnsafePath");
      expect(err.message).toContain("layer 1");
      expect(err.message).toContain('"tokenizer.json"');
      expect(err.message).toContain('"a/b/c/d/e/f/g/h/up"');
      expect(err.message).toContain("outside the destination");
      expect(await snapshot(dirname(dest))).toEqual({});
    });

    it("refuses the chain split across two layers", async () => {
      const [first, ...rest] = chain;
      const { reference } = await publish(
        [{ path: "config.json", content: "{}" }],
        [tarLayer(await tarBlob([first!, rest[0]!])), tarLayer(await tarBlob([rest[1]!]), "tar", "more")],
      );
      const dest = await newDest();
      for (const concurrency of [1, 4]) {
        const err = await failure(pull({ client, reference, dest, concurrency }));
        expect(err.code).toBe("UnsafePath");
        expect(err.message).toContain('"tokenizer.json"');
        expect(await escapingLinks(dirname(dest))).toEqual([]);
      }
    });

    it("refuses the chain split across two pulls into one folder (the older link is checked again)", async () => {
      const dest = await newDest();
      const inner = await publish(
        [{ path: "config.json", content: "{}" }],
        [tarLayer(await tarBlob([chain[2]!]))],
      );
      await pull({ client, reference: inner.reference, dest }); // dangling inside: allowed
      const before = await snapshot(dest);
      const outer = await publish(
        [{ path: "README.md", content: "x" }],
        [tarLayer(await tarBlob([chain[0]!, chain[1]!]), "tar", "up")],
      );
      const err = await failure(pull({ client, reference: outer.reference, dest }));
      expect(err.code).toBe("UnsafePath");
      expect(err.message).toContain("tokenizer.json");
      expect(await escapingLinks(dest)).toEqual([]);
      expect(await snapshot(dest)).toEqual(before);
    });

    it("accepts links that stay inside through other links", async () => {
      const { reference } = await publish(
        [{ path: "weights/model.safetensors", content: "w" }],
        [
          tarLayer(
            await tarBlob([
              { name: "x/y/", type: "directory" },
              { name: "x/y/top", type: "symlink", linkname: "../.." },
              { name: "model", type: "symlink", linkname: "x/y/top/weights/model.safetensors" },
            ]),
          ),
        ],
      );
      const dest = await newDest();
      await pull({ client, reference, dest });
      expect(await readFile(join(dest, "model"), "utf8")).toBe("w");
    });
  });

  describe("decompression bombs and size limits", () => {
    it("stops a tar+zstd layer that expands far beyond its compressed size, by default", async () => {
      const bomb = await zstdBomb("weights.bin", 256 * 1024 * 1024);
      expect(bomb.length).toBeLessThan(64 * 1024);
      const { reference } = await publish(
        [{ path: "config.json", content: "{}" }],
        [tarLayer(bomb, "tar+zstd")],
      );
      const dest = await newDest();
      const err = await failure(pull({ client, reference, dest }));
      expect(err.code).toBe("LimitExceeded");
      expect(err.message).toContain("layer 1");
      expect(err.message).toContain("--max-expansion-ratio");
      expect(await snapshot(dirname(dest))).toEqual({});
    });

    it("stops a layer with more entries than the default limit", async () => {
      const entries: TarEntry[] = [];
      for (let i = 0; i <= 100_000; i++) entries.push({ name: `d${i}/`, type: "directory" });
      const { reference } = await publish(
        [{ path: "config.json", content: "{}" }],
        [tarLayer(await tarBlob(entries))],
      );
      const dest = await newDest();
      const err = await failure(pull({ client, reference, dest }));
      expect(err.code).toBe("LimitExceeded");
      expect(err.message).toContain("100000 entries");
      expect(err.message).toContain("--max-entries");
      expect(await snapshot(dirname(dest))).toEqual({});
    }, 60_000);

    it("pull --max-bytes caps what a pull writes, raw and extracted, and names the flag", async () => {
      const raw = await publish([
        { path: "config.json", content: "{}" },
        { path: "model.safetensors", content: Buffer.alloc(2 * 1024 * 1024, 1) },
      ]);
      const dest = await newDest();
      const refused = await cli(["pull", raw.ref, "--dest", dest, "--plain-http", "--max-bytes", "1Mi"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("--max-bytes");
      expect(refused.stderr).toContain("1048576 bytes (1.0 MiB)");
      expect(await snapshot(dirname(dest))).toEqual({});

      const extracted = await publish(
        [{ path: "config.json", content: "{}" }],
        [tarLayer(await zstdBomb("w.bin", 3_000_000), "tar+zstd")],
      );
      const bomb = await cli(["pull", extracted.ref, "--dest", dest, "--plain-http", "--max-bytes", "2M"]);
      expect(bomb.code).toBe(1);
      expect(bomb.stderr).toContain("--max-bytes");
      expect(await snapshot(dirname(dest))).toEqual({});

      const fits = await cli(["pull", raw.ref, "--dest", dest, "--plain-http", "--max-bytes", "3Mi"]);
      expect(fits.code).toBe(0);
    });

    it("pull rejects a malformed --max-bytes before connecting", async () => {
      const r = await cli(["pull", "example.invalid/m:v1", "--dest", await newDest(), "--max-bytes", "ten"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("--max-bytes");
    });
  });

  it("accepts `tar -C dir .` layers (entries ./ and ./weights/w.bin)", async () => {
    const blob = await tarBlob([
      { name: "./", type: "directory" },
      { name: "./weights/", type: "directory" },
      { name: "./weights/w.bin", content: "weights" },
      { name: ".", type: "directory" },
    ]);
    const { reference } = await publish(
      [{ path: "config.json", content: "{}" }],
      [tarLayer(blob, "tar", ".")],
    );
    const dest = await newDest();
    await pull({ client, reference, dest });
    expect(await readFile(join(dest, "weights/w.bin"), "utf8")).toBe("weights");
  });

  describe("duplicates, concurrency and failures", () => {
    it("decides a path held by two layers the same way at every concurrency and on a second pull", async () => {
      const { reference } = await publish(
        [{ path: "tokenizer.json", content: "first" }],
        [tarLayer(await tarBlob([{ name: "tokenizer.json", content: "second" }]))],
      );
      for (const concurrency of [1, 2, 4, 4, 4]) {
        const dest = await newDest();
        const err = await failure(pull({ client, reference, dest, concurrency }));
        expect(err.code).toBe("Conflict");
        expect(err.message).toContain('"tokenizer.json"');
        expect(err.message).toContain("layer 0");
        expect(err.message).toContain("layer 1");
        expect(await snapshot(dirname(dest))).toEqual({});
      }
      // Layer 0 already in place (by an earlier artifact): still refused, not "skipped wins".
      const dest = await newDest();
      const zero = await publish([{ path: "tokenizer.json", content: "first" }]);
      await pull({ client, reference: zero.reference, dest });
      const err = await failure(pull({ client, reference, dest }));
      expect(err.code).toBe("Conflict");
      expect(await readFile(join(dest, "tokenizer.json"), "utf8")).toBe("first");
    });

    it("accepts the same file twice with the same content", async () => {
      const { reference } = await publish(
        [{ path: "tokenizer.json", content: "same" }],
        [tarLayer(await tarBlob([{ name: "tokenizer.json", content: "same" }]))],
      );
      const dest = await newDest();
      await pull({ client, reference, dest, concurrency: 4 });
      expect(await readFile(join(dest, "tokenizer.json"), "utf8")).toBe("same");
    });

    it("runs concurrent pulls into one folder one after the other (unique staging, a lock)", async () => {
      const { reference } = await publish([
        { path: "config.json", content: "{}" },
        { path: "model.safetensors", content: Buffer.alloc(4 * 1024 * 1024, 7) },
        { path: "docs/README.md", content: "# hi\n", encoding: "tar+gzip" },
      ]);
      const dest = await newDest();
      const results = await Promise.allSettled([1, 2, 3, 4].map(() => pull({ client, reference, dest })));
      expect(results.map((r) => (r.status === "rejected" ? String(r.reason) : "ok"))).toEqual([
        "ok",
        "ok",
        "ok",
        "ok",
      ]);
      expect((await readFile(join(dest, "model.safetensors"))).equals(Buffer.alloc(4 * 1024 * 1024, 7))).toBe(
        true,
      );
      expect((await readdir(dest)).filter((f) => f.startsWith(".modelpack-partial"))).toEqual([]);
      expect((await readdir(dirname(dest))).sort()).toEqual(["model"]);
    });

    it("gives up waiting for a held lock after the bound, naming the lock file", async () => {
      const { reference } = await publish([{ path: "config.json", content: "{}" }]);
      const dest = await newDest();
      const lock = join(dirname(dest), ".model.modelpack-lock");
      await writeFile(
        lock,
        JSON.stringify({ token: "other", pid: 1, hostname: "elsewhere", startedAt: "now" }),
      );
      const err = await failure(pull({ client, reference, dest, lockTimeoutMs: 500 }));
      expect(err.message).toContain(lock);
      expect(await lstat(dest).catch(() => undefined)).toBeUndefined();
      // A lock nobody refreshes for longer than the stale limit is taken over.
      const old = new Date(Date.now() - 120_000);
      await utimes(lock, old, old);
      await pull({ client, reference, dest, lockTimeoutMs: 500 });
      expect(await readFile(join(dest, "config.json"), "utf8")).toBe("{}");
      expect(await lstat(lock).catch(() => undefined)).toBeUndefined();
    });

    it("leaves the destination exactly as it was when one layer is refused (repeated)", async () => {
      const good = await publish([
        { path: "config.json", content: '{"v":1}' },
        { path: "model.safetensors", content: Buffer.alloc(1024 * 1024, 1) },
      ]);
      const dest = await newDest();
      await pull({ client, reference: good.reference, dest });
      await mkdir(join(dest, "user-notes"));
      await writeFile(join(dest, "user-notes", "keep.txt"), "mine");
      const before = await snapshot(dest);
      const bad = await publish(
        [
          { path: "config.json", content: '{"v":2}' },
          { path: "model.safetensors", content: Buffer.alloc(1024 * 1024, 2) },
          { path: "extra-1.safetensors", content: Buffer.alloc(512 * 1024, 3) },
          { path: "extra-2.bin", content: Buffer.alloc(256 * 1024, 4) },
          { path: "docs/README.md", content: "# v2\n", encoding: "tar" },
        ],
        [tarLayer(await tarBlob([{ name: "evil", type: "symlink", linkname: "/etc/passwd" }]))],
      );
      for (let run = 0; run < 8; run++) {
        const err = await failure(pull({ client, reference: bad.reference, dest, concurrency: 4 }));
        expect(err.code).toBe("UnsafePath");
        expect(await snapshot(dest)).toEqual(before);
        expect((await readdir(dirname(dest))).sort()).toEqual(["model"]);
      }
    });

    it("leaves a destination that did not exist absent after a failed pull", async () => {
      const bad = await publish(
        [{ path: "model.safetensors", content: Buffer.alloc(64 * 1024, 2) }],
        [tarLayer(await tarBlob([{ name: "evil", type: "symlink", linkname: "../../x" }]))],
      );
      const dest = await newDest();
      await failure(pull({ client, reference: bad.reference, dest, concurrency: 4 }));
      expect(await snapshot(dirname(dest))).toEqual({});
    });
  });
});
