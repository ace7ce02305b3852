import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectArtifact } from "../../src/artifact/inspect.js";
import { RegistryClient } from "../../src/oci/client.js";
import { parseReference } from "../../src/oci/reference.js";
import { pull } from "../../src/puller/puller.js";
import { ensureTools } from "../harness/tools.js";
import { buildModelPackArtifact, pushArtifact, sha256 } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

const run = promisify(execFile);

/** The model the reference clients package: a few files of each class, one in a subfolder. */
const SOURCES: Record<string, Buffer> = {
  "config.json": Buffer.from('{"model_type":"tiny","torch_dtype":"float16"}'),
  "model.safetensors": Buffer.alloc(2 * 1024 * 1024 + 5, 0x5a),
  "README.md": Buffer.from("# tiny model\n"),
  "scripts/infer.py": Buffer.from("print('hello')\n"),
};

async function writeSources(dir: string): Promise<void> {
  for (const [path, content] of Object.entries(SOURCES)) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

async function expectSameFiles(dir: string): Promise<void> {
  for (const [path, content] of Object.entries(SOURCES)) {
    expect((await readFile(join(dir, path))).equals(content), path).toBe(true);
  }
}

describe("interoperability with the reference clients (modctl, oras)", () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  let tools: { oras: string; modctl: string };
  let work: string;

  beforeAll(async () => {
    tools = await ensureTools(["oras", "modctl"]);
    registry = await startRegistry({ kind: "olareg" });
    client = new RegistryClient({ plainHttp: [registry.host] });
    work = await mkdtemp(join(tmpdir(), "mpo-interop-"));
  }, 30 * 60_000);
  afterAll(async () => {
    await client?.close();
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it("inspects and pulls an artifact built and pushed by modctl, byte-identical to the sources", async () => {
    const src = join(work, "modctl-src");
    await writeSources(src);
    await writeFile(
      join(src, "Modelfile"),
      [
        "NAME tiny",
        "ARCH transformer",
        "FAMILY tiny",
        "FORMAT safetensors",
        "PARAMSIZE 1m",
        "PRECISION float16",
        "CONFIG config.json",
        "MODEL model.safetensors",
        "DOC README.md",
        "CODE scripts/infer.py",
        "",
      ].join("\n"),
    );
    const target = `${registry.host}/models/by-modctl:v1`;
    await run(
      join(tools.modctl, "modctl"),
      [
        "--storage-dir",
        join(work, "modctl-store"),
        "--no-progress",
        "build",
        "--plain-http",
        "--output-remote",
        "-t",
        target,
        "-f",
        join(src, "Modelfile"),
        src,
      ],
      { cwd: src },
    );

    const inspection = await inspectArtifact(client, parseReference(target));
    expect(inspection.errors).toEqual([]);
    expect(inspection.valid).toBe(true);
    expect(inspection.summary).toMatchObject({
      name: "tiny",
      family: "tiny",
      architecture: "transformer",
      format: "safetensors",
      layers: 4,
      files: 4,
    });

    const dest = join(work, "pulled-from-modctl");
    const result = await pull({ client, reference: parseReference(target), dest });
    expect(result.files.map((f) => f.path)).toEqual(Object.keys(SOURCES).sort());
    await expectSameFiles(dest);
  });

  it("inspects and pulls a ModelPack artifact pushed by oras (files named by their title)", async () => {
    const src = join(work, "oras-src");
    await writeSources(src);
    const layers: [string, string][] = [
      ["config.json", "application/vnd.cncf.model.weight.config.v1.raw"],
      ["model.safetensors", "application/vnd.cncf.model.weight.v1.raw"],
      ["README.md", "application/vnd.cncf.model.doc.v1.raw"],
      ["scripts/infer.py", "application/vnd.cncf.model.code.v1.raw"],
    ];
    const config = {
      descriptor: { name: "tiny-oras" },
      config: { format: "safetensors" },
      modelfs: { type: "layers", diffIds: layers.map(([p]) => sha256(SOURCES[p]!)) },
    };
    await writeFile(join(src, "model-config.json"), JSON.stringify(config));
    const target = `${registry.host}/models/by-oras:v1`;
    await run(
      join(tools.oras, "oras"),
      [
        "push",
        "--plain-http",
        "--disable-path-validation",
        target,
        "--artifact-type",
        "application/vnd.cncf.model.manifest.v1+json",
        "--config",
        "model-config.json:application/vnd.cncf.model.config.v1+json",
        ...layers.map(([path, type]) => `${path}:${type}`),
      ],
      { cwd: src },
    );

    const inspection = await inspectArtifact(client, parseReference(target));
    expect(inspection.errors).toEqual([]);
    const dest = join(work, "pulled-from-oras");
    await pull({ client, reference: parseReference(target), dest });
    await expectSameFiles(dest);
  });

  it("publishes an artifact that oras and modctl pull back byte-identical", async () => {
    const artifact = await buildModelPackArtifact(
      Object.entries(SOURCES).map(([path, content]) => ({ path, content })),
    );
    const target = `${registry.host}/models/by-us:v1`;
    await pushArtifact(registry, "models/by-us", "v1", artifact);

    const byOras = join(work, "oras-pulled");
    await run(join(tools.oras, "oras"), ["pull", "--plain-http", target, "-o", byOras]);
    await expectSameFiles(byOras);

    const byModctl = join(work, "modctl-pulled");
    await run(join(tools.modctl, "modctl"), [
      "--storage-dir",
      join(work, "modctl-store2"),
      "--no-progress",
      "pull",
      "--plain-http",
      "--extract-dir",
      byModctl,
      "--extract-from-remote",
      target,
    ]);
    await expectSameFiles(byModctl);
  });
});
