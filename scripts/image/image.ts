/**
 * The operator image without Docker: the Dockerfile's `runtime` stage (see tree.ts and
 * runtime.ts) as an OCI image of three gzip layers — base (node, its libraries, /etc, /home,
 * /tmp), app/node_modules, app/dist + app/package.json — ordered by how rarely they change.
 * Reproducible: the same tree, version, revision and SOURCE_DATE_EPOCH give the same digest.
 * `writeOciLayout` writes it as an OCI image layout; `pushImage` pushes it with the project's
 * own registry client (src/oci).
 */
import { execFile } from "node:child_process";
import { createReadStream, existsSync, realpathSync } from "node:fs";
import { copyFile, link, mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { z } from "zod";
import { RegistryClient, type RegistryClientOptions } from "../../src/oci/client.js";
import { sha256Digest } from "../../src/oci/digest.js";
import { OCI_MANIFEST } from "../../src/oci/media-types.js";
import type { ImageReference } from "../../src/oci/reference.js";
import { imageCacheDir, prune } from "./cache.js";
import { compiledDist } from "./dist.js";
import { buildLayer, LAYER_MEDIA_TYPE, type Layer } from "./layer.js";
import { productionPackages } from "./production-packages.js";
import { createdTime, imageConfig, ociArchitecture, type BuildFacts } from "./runtime.js";
import { appTree, baseTree, dependenciesTree, type TreeEntry } from "./tree.js";

export const CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json";
/** Layer blobs kept in the cache (each build makes three; a few builds' worth). */
const KEEP_LAYERS = 12;

export interface BuildImageOptions {
  /** The repository checkout (package.json, package-lock.json, src/, node_modules/). */
  readonly root: string;
  /** Default: imageCacheDir(env). */
  readonly cacheDir?: string;
  /** SOURCE_DATE_EPOCH, MODELPACK_TOOLS_CACHE, XDG_CACHE_HOME. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** /etc/ssl to copy, as the Dockerfile does when the base has one. Default /etc/ssl if present. */
  readonly ssl?: string | null;
  /** The git commit for the revision label; default `git rev-parse HEAD` in `root`, else "unknown". */
  readonly revision?: string;
  readonly log?: (line: string) => void;
}

/** A built image: its blobs on disk or in memory, and the manifest that names them. */
export interface BuiltImage {
  readonly digest: string;
  readonly manifest: Buffer;
  readonly config: Buffer;
  readonly configDigest: string;
  readonly layers: readonly Layer[];
  /** The entries of each layer, in layer order (for tests and listings). */
  readonly trees: readonly (readonly TreeEntry[])[];
  readonly facts: BuildFacts;
}

const PackageJson = z.object({ version: z.string() });

/** The project's pinned Node binary (the devDependency `node`), checked to be Node 24 ELF. */
export async function projectNode(root: string): Promise<string> {
  const candidate = join(root, "node_modules", ".bin", "node");
  if (!existsSync(candidate))
    throw new Error(
      `${candidate} is missing: run npm ci (the image ships the devDependency \`node\`, Node 24)`,
    );
  const node = realpathSync(candidate);
  const handle = await open(node, "r");
  const magic = Buffer.alloc(4);
  await handle.read(magic, 0, 4, 0).finally(() => handle.close());
  if (!magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])))
    throw new Error(
      `${node} is not an ELF binary: run npm ci with install scripts allowed for the package \`node\``,
    );
  const { stdout } = await promisify(execFile)(node, ["--version"]);
  if (!stdout.startsWith("v24."))
    throw new Error(
      `${node} is Node ${stdout.trim()}, the image needs Node 24 (package.json devDependency \`node\`)`,
    );
  return node;
}

async function gitRevision(root: string): Promise<string> {
  return promisify(execFile)("git", ["rev-parse", "HEAD"], { cwd: root }).then(
    ({ stdout }) => stdout.trim(),
    () => "unknown",
  );
}

/**
 * Builds the image of the checkout at `options.root`: compiles (or takes the cached dist),
 * assembles the three layer trees and gzips the layers (cached by diff ID). Throws with what to
 * fix when a tool or input is missing.
 */
export async function buildImage(options: BuildImageOptions): Promise<BuiltImage> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => undefined);
  const root = options.root;
  const cacheDir = options.cacheDir ?? imageCacheDir(env);
  const created = createdTime(env.SOURCE_DATE_EPOCH);
  const mtime = new Date(created);
  const node = await projectNode(root);
  const pkg = PackageJson.parse(JSON.parse(await readFile(join(root, "package.json"), "utf8")));
  const facts: BuildFacts = {
    version: pkg.version,
    revision: options.revision ?? (await gitRevision(root)),
    created,
    architecture: ociArchitecture(process.arch),
    os: "linux",
  };
  const ssl =
    options.ssl === null ? undefined : (options.ssl ?? (existsSync("/etc/ssl") ? "/etc/ssl" : undefined));
  const [dist, packages] = await Promise.all([
    compiledDist(root, cacheDir, log),
    readFile(join(root, "package-lock.json"), "utf8").then(productionPackages),
  ]);
  const trees = [
    await baseTree(node, ssl),
    await dependenciesTree(join(root, "node_modules"), packages),
    await appTree(dist, join(root, "package.json")),
  ];
  const layers = await Promise.all(trees.map((tree) => buildLayer(tree, mtime, cacheDir)));
  await prune(join(cacheDir, "layers"), KEEP_LAYERS, (name) => name.replace(/\.(json|tar\.gz)$/, ""));
  const config = Buffer.from(
    JSON.stringify(
      imageConfig(
        facts,
        layers.map((l) => l.diffId),
      ),
    ),
  );
  const configDigest = sha256Digest(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: CONFIG_MEDIA_TYPE, digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: LAYER_MEDIA_TYPE, digest: l.digest, size: l.size })),
    }),
  );
  return { digest: sha256Digest(manifest), manifest, config, configDigest, layers, trees, facts };
}

/**
 * Writes the image as an OCI image layout in `dir` (oci-layout, index.json naming the manifest
 * with `tag` as org.opencontainers.image.ref.name, blobs/sha256/…); layer blobs are hard-linked
 * from the cache when they can be, else copied.
 */
export async function writeOciLayout(image: BuiltImage, dir: string, tag = "latest"): Promise<void> {
  const blobs = join(dir, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const blob = (digest: string) => join(blobs, digest.slice("sha256:".length));
  for (const layer of image.layers) {
    await rm(blob(layer.digest), { force: true });
    await link(layer.path, blob(layer.digest)).catch(() => copyFile(layer.path, blob(layer.digest)));
  }
  await writeFile(blob(image.configDigest), image.config);
  await writeFile(blob(image.digest), image.manifest);
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: image.digest,
          size: image.manifest.length,
          annotations: { "org.opencontainers.image.ref.name": tag },
        },
      ],
    }),
  );
}

/** What a push did: the manifest digest and, per blob, whether it was uploaded or already there. */
export interface PushResult {
  readonly digest: string;
  readonly blobs: readonly { readonly digest: string; readonly size: number; readonly uploaded: boolean }[];
}

/**
 * Pushes the image to `ref` (its tag, or its digest) with the project's registry client: layers
 * and config first (each skipped when the repository has it), then the manifest. Throws RegistryError.
 */
export async function pushImage(
  image: BuiltImage,
  ref: ImageReference,
  clientOptions: RegistryClientOptions,
): Promise<PushResult> {
  const client = new RegistryClient(clientOptions);
  try {
    const blobs = await Promise.all([
      ...image.layers.map(async (layer) => ({
        digest: layer.digest,
        size: layer.size,
        uploaded: await client.pushBlob(
          ref,
          { mediaType: LAYER_MEDIA_TYPE, digest: layer.digest, size: layer.size },
          () => createReadStream(layer.path),
        ),
      })),
      (async () => ({
        digest: image.configDigest,
        size: image.config.length,
        uploaded: await client.pushBlob(
          ref,
          { mediaType: CONFIG_MEDIA_TYPE, digest: image.configDigest, size: image.config.length },
          image.config,
        ),
      }))(),
    ]);
    const digest = await client.pushManifest(ref, OCI_MANIFEST, image.manifest);
    return { digest, blobs };
  } finally {
    await client.close();
  }
}
