/**
 * The image `npm run image` builds without Docker (scripts/image), held against what the
 * Dockerfile declares so the two cannot drift: its config against the runtime stage's ENTRYPOINT,
 * CMD, ENV, USER, WORKDIR, EXPOSE and LABELs; its base layer against what the `rootfs` stage's own
 * RUN script writes on this machine (paths, types, modes, owners, link targets); its /app against
 * the `build` stage (tsc output without tests, package.json, exactly the production packages).
 * Then: two builds give one digest, `npm run image -- --push` pushes it to a real registry on
 * loopback, the registry serves it back verified, and (as root) the pushed image's ENTRYPOINT runs
 * chrooted in its extracted layers as UID 65532.
 */
import {
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../src/oci/client.js";
import { parseReference } from "../../src/oci/reference.js";
import { buildImage, CONFIG_MEDIA_TYPE, type BuiltImage } from "../../scripts/image/image.js";
import { LAYER_MEDIA_TYPE } from "../../scripts/image/layer.js";
import { productionPackages } from "../../scripts/image/production-packages.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import {
  dockerfileStages,
  extractLayers,
  layerEntries,
  rootfsScript,
  type Instruction,
  type LayerEntry,
} from "./image-support.js";
import { NODE, ok, read, ROOT, run } from "./support.js";

const UID = 65532;
const isRoot = process.getuid?.() === 0;
const pkg = JSON.parse(read(join(ROOT, "package.json"))) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** The runtime stage's instructions with `keyword`, the last one first. */
const runtime = dockerfileStages().at(-1) ?? [];
const last = (keyword: string): string =>
  runtime.filter((i: Instruction) => i.keyword === keyword).at(-1)?.args ?? "";

/** A file tree on disk as layer entries (what `tar` would record), relative to `root`. */
function treeOnDisk(root: string): LayerEntry[] {
  const out: LayerEntry[] = [];
  const walk = (path: string) => {
    const info = lstatSync(path);
    const type = info.isSymbolicLink() ? "symlink" : info.isDirectory() ? "directory" : "file";
    if (path !== root)
      out.push({
        path: relative(root, path),
        type,
        mode: info.mode & 0o7777,
        uid: info.uid,
        gid: info.gid,
        size: type === "file" ? info.size : 0,
        ...(type === "symlink" && { linkname: readlinkSync(path) }),
        mtime: 0,
      });
    if (type === "directory") for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(root);
  return out;
}

/** Entries as comparable lines: `path type mode uid:gid size -> target`. */
const lines = (entries: readonly LayerEntry[], owners = true): string[] =>
  entries
    .map(
      (e) =>
        `${e.path} ${e.type} ${e.mode.toString(8)}${owners ? ` ${e.uid}:${e.gid}` : ""} ${e.size}${e.linkname !== undefined ? ` -> ${e.linkname}` : ""}`,
    )
    .sort();

describe("npm run image: the Dockerfile's runtime stage without Docker", () => {
  let work: string;
  let image: BuiltImage;
  let layers: LayerEntry[][];
  let coldMs = 0;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "mpo-image-build-"));
    const started = performance.now();
    image = await buildImage({ root: ROOT, log: (line) => console.log(line) });
    coldMs = performance.now() - started;
    layers = await Promise.all(image.layers.map((layer) => layerEntries(layer.path)));
  }, 600_000);

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it("has the config the runtime stage declares: ENTRYPOINT, CMD, ENV, USER, WORKDIR, EXPOSE, LABELs", () => {
    const config = JSON.parse(image.config.toString()) as {
      architecture: string;
      os: string;
      config: {
        User: string;
        Env: string[];
        Entrypoint: string[];
        Cmd: string[];
        WorkingDir: string;
        ExposedPorts: Record<string, object>;
        Labels: Record<string, string>;
      };
      rootfs: { type: string; diff_ids: string[] };
    };
    expect(config.config.Entrypoint).toEqual(JSON.parse(last("ENTRYPOINT")));
    expect(config.config.Cmd).toEqual(JSON.parse(last("CMD")));
    expect(config.config.User).toBe(last("USER"));
    expect(config.config.WorkingDir).toBe(last("WORKDIR"));
    const env = runtime.filter((i) => i.keyword === "ENV").flatMap((i) => i.args.split(/\s+/));
    expect(config.config.Env).toEqual(env);
    expect(Object.keys(config.config.ExposedPorts).sort()).toEqual(
      last("EXPOSE")
        .split(/\s+/)
        .map((p) => (p.includes("/") ? p : `${p}/tcp`))
        .sort(),
    );
    // LABELs with the build ARGs the builder fills in: VERSION from package.json, REVISION, CREATED.
    const args: Record<string, string> = {
      VERSION: pkg.version,
      REVISION: image.facts.revision,
      CREATED: image.facts.created,
    };
    const labels = Object.fromEntries(
      [
        ...runtime
          .filter((i) => i.keyword === "LABEL")
          .map((i) => i.args)
          .join(" ")
          .matchAll(/([\w.-]+)="([^"]*)"/g),
      ].map(([, key = "", value = ""]) => [
        key,
        value.replace(/\$\{(\w+)\}/g, (_, name: string) => args[name] ?? ""),
      ]),
    );
    expect(Object.keys(labels).length).toBeGreaterThanOrEqual(7);
    expect(config.config.Labels).toEqual(labels);
    if (statSync(join(ROOT, ".git"), { throwIfNoEntry: false }) !== undefined)
      expect(image.facts.revision).toMatch(/^[0-9a-f]{40}$/);
    expect(config.os).toBe("linux");
    expect(config.architecture).toBe(
      { x64: "amd64", arm64: "arm64" }[process.arch as string] ?? process.arch,
    );
    expect(config.rootfs).toEqual({ type: "layers", diff_ids: image.layers.map((l) => l.diffId) });
    const manifest = JSON.parse(image.manifest.toString()) as {
      config: { mediaType: string; digest: string };
      layers: { mediaType: string }[];
    };
    expect(manifest.config).toMatchObject({ mediaType: CONFIG_MEDIA_TYPE, digest: image.configDigest });
    expect(manifest.layers.map((l) => l.mediaType)).toEqual(image.layers.map(() => LAYER_MEDIA_TYPE));
  });

  it("has the base layer the rootfs stage's RUN script writes: node, its libraries, /etc, /home/nonroot, /tmp", async () => {
    const rootfs = join(work, "rootfs-by-dockerfile");
    await ok("sh", ["-c", rootfsScript(rootfs, realpathSync(NODE), isRoot)]);
    const fromDockerfile = treeOnDisk(rootfs);
    // Owners only as root (the script's chown), in the image 0:0 except /home/nonroot.
    expect(lines(layers[0] ?? [], isRoot)).toEqual(lines(fromDockerfile, isRoot));
    const base = new Map((layers[0] ?? []).map((e) => [e.path, e]));
    expect(base.get("home/nonroot")).toMatchObject({ uid: UID, gid: UID, type: "directory" });
    expect(base.get("tmp")).toMatchObject({ mode: 0o1777, uid: 0 });
    expect(base.get("usr/local/bin/node")?.size).toBe(statSync(NODE).size);
    for (const shell of ["bin/sh", "bin/bash", "usr/bin/sh", "bin/busybox"])
      expect(base.has(shell), shell).toBe(false);
  });

  it("has /app as the build stage leaves it: dist without tests, package.json, production node_modules only", () => {
    const app = (layers[1] ?? []).concat(layers[2] ?? []).filter((e) => e.path.startsWith("app/"));
    for (const entry of app) {
      expect(`${entry.path} ${entry.uid}:${entry.gid}`).toBe(`${entry.path} 0:0`);
      expect(entry.mode & 0o022, entry.path).toBe(0);
    }
    const paths = new Set(app.map((e) => e.path));
    expect([...paths].filter((p) => p.split("/").length === 2).sort()).toEqual([
      "app/dist",
      "app/node_modules",
      "app/package.json",
    ]);
    expect([...paths].filter((p) => p.startsWith("app/dist/") && p.split("/").length === 3)).toEqual([
      "app/dist/src",
    ]);
    expect([...paths].filter((p) => /\.test\./.test(p) && p.startsWith("app/dist/"))).toEqual([]);
    // Every module of src/ compiled (tsconfig.build.json), and nothing else.
    const sources = (function list(dir: string): string[] {
      return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
        d.isDirectory() ? list(join(dir, d.name)) : [relative(ROOT, join(dir, d.name))],
      );
    })(join(ROOT, "src")).filter((p) => p.endsWith(".ts") && !p.endsWith(".test.ts"));
    for (const source of sources)
      expect(paths.has(`app/dist/${source.replace(/\.ts$/, ".js")}`), source).toBe(true);
    expect(app.filter((e) => e.path.startsWith("app/dist/") && e.path.endsWith(".js")).length).toBe(
      sources.length,
    );
    // node_modules: exactly the packages `npm prune --omit=dev` keeps.
    const packages = [...paths]
      .filter((p) => p.startsWith("app/node_modules/"))
      .map((p) => p.split("/").slice(2))
      .map((parts) => (parts[0]?.startsWith("@") === true ? parts.slice(0, 2).join("/") : (parts[0] ?? "")))
      .filter((name, n, all) => all.indexOf(name) === n && !/^@[^/]+$/.test(name));
    expect(packages.sort()).toEqual(productionPackages(read(join(ROOT, "package-lock.json"))));
    for (const dependency of Object.keys(pkg.dependencies)) expect(packages).toContain(dependency);
    for (const dev of ["typescript", "vitest", "tsx", "eslint", "node", "prettier"])
      expect(packages).not.toContain(dev);
    expect(app.find((e) => e.path === "app/package.json")?.size).toBe(
      statSync(join(ROOT, "package.json")).size,
    );
  });

  it("uses one mtime and no user names, so the tree alone decides the digest", () => {
    for (const entry of layers.flat()) expect(entry.mtime, entry.path).toBe(Date.parse(image.facts.created));
  });

  describe("built again and pushed with npm run image -- --push", () => {
    let registry: TestRegistry;
    beforeAll(async () => {
      registry = await startRegistry({ kind: "distribution" });
    });
    afterAll(async () => {
      await registry?.stop();
    });

    it("gives the same digest, pushes it and reads it back from the registry", async () => {
      // Back to back (the checkout may be edited while the suite runs): one digest, layer for layer.
      const first = await buildImage({ root: ROOT });
      const started = performance.now();
      const again = await buildImage({ root: ROOT });
      const warmMs = performance.now() - started;
      expect(again.digest).toBe(first.digest);
      expect(again.layers).toEqual(first.layers);

      const reference = `${registry.host}/modelpack/operator:test`;
      const pushStarted = performance.now();
      const pushed = await run(
        join(ROOT, "node_modules", ".bin", "tsx"),
        [
          "scripts/image/main.ts",
          "--push",
          reference,
          "--plain-http",
          "--output",
          "json",
          "--oci-layout",
          join(work, "layout"),
        ],
        {
          env: { ...process.env, PATH: `${join(ROOT, "node_modules", ".bin")}:${process.env.PATH ?? ""}` },
          timeoutMs: 300_000,
        },
      );
      const pushMs = performance.now() - pushStarted;
      expect(pushed.code, pushed.stderr).toBe(0);
      const result = JSON.parse(pushed.stdout) as {
        digest: string;
        reference: string;
        uploaded: string[];
        size: number;
      };
      expect(result.reference).toBe(`${registry.host}/modelpack/operator@${result.digest}`);
      expect(result.uploaded.length).toBe(image.layers.length + 1);
      console.log(
        `image: cold-or-cached build ${(coldMs / 1000).toFixed(1)} s, warm build ${(warmMs / 1000).toFixed(1)} s, ` +
          `warm build + push (npm run image) ${(pushMs / 1000).toFixed(1)} s, ${result.size} bytes compressed`,
      );
      expect(pushMs).toBeLessThan(30_000);

      // The OCI layout holds the same manifest.
      const index = JSON.parse(readFileSync(join(work, "layout", "index.json"), "utf8")) as {
        manifests: { digest: string; annotations: Record<string, string> }[];
      };
      expect(index.manifests[0]).toMatchObject({
        digest: result.digest,
        annotations: { "org.opencontainers.image.ref.name": "test" },
      });

      // The registry serves what the layout holds (the same CLI run wrote both), verified by the client.
      const blob = (digest: string) =>
        readFileSync(join(work, "layout", "blobs", "sha256", digest.slice("sha256:".length)));
      const layout = JSON.parse(blob(result.digest).toString()) as {
        config: { mediaType: string; digest: string; size: number };
        layers: { mediaType: string; digest: string; size: number }[];
      };
      expect(layout.layers.map((l) => l.mediaType)).toEqual(image.layers.map(() => LAYER_MEDIA_TYPE));
      const client = new RegistryClient({ plainHttp: [registry.host] });
      try {
        const ref = parseReference(reference);
        const manifest = await client.getManifest(ref);
        expect(manifest.digest).toBe(result.digest);
        expect(Buffer.from(manifest.bytes).equals(blob(result.digest))).toBe(true);
        const config = Buffer.from(await client.getBlob(ref, layout.config));
        expect(config.equals(blob(layout.config.digest))).toBe(true);
        expect(JSON.parse(config.toString())).toMatchObject({
          config: { Labels: { "org.opencontainers.image.version": pkg.version } },
        });
        const blobs: string[] = [];
        for (const layer of layout.layers) {
          const path = join(work, layer.digest.slice("sha256:".length));
          await client.downloadBlob(ref, layer, path);
          blobs.push(path);
        }
        if (!isRoot)
          return console.warn("image-build: not root: the pushed image's entrypoint is not run chrooted");
        const rootfs = join(work, "rootfs-from-registry");
        await ok("mkdir", ["-p", rootfs]);
        await extractLayers(blobs, rootfs);
        expect(statSync(join(rootfs, "home", "nonroot")).uid).toBe(UID);
        const entrypoint = JSON.parse(last("ENTRYPOINT")) as string[];
        const version = await run(
          "chroot",
          [
            `--userspec=${UID}:${UID}`,
            rootfs,
            ...entrypoint.map((a) => (a === "node" ? "/usr/local/bin/node" : a)),
            "--version",
          ],
          {
            // The image's ENV; PATH also reaches chroot on the host (the image has only /usr/local/bin).
            env: {
              PATH: "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              HOME: "/home/nonroot",
              NODE_ENV: "production",
            },
            cwd: "/",
          },
        );
        expect(version, version.stderr).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
      } finally {
        await client.close();
      }
    });
  });
});
