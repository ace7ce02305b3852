import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Agent, request, type Dispatcher } from "undici";
import { pack } from "tar-stream";
import { gzipSync, zstdCompressSync } from "node:zlib";

/**
 * A test publisher: builds ModelPack artifacts the way modctl lays them out (one file per layer,
 * filepath + file metadata annotations, diffIds equal to the layer digests) and pushes them with
 * the plain distribution protocol (monolithic POST + PUT uploads, manifest PUT by tag).
 * Knobs let tests build broken or legacy artifacts on purpose.
 */
export type BlobSource = Buffer | { readonly path: string; readonly size: number; readonly digest: string };

export interface ArtifactFile {
  readonly path: string;
  readonly content: Buffer | string;
  /** Layer class; default from the file name. */
  readonly kind?: "weight" | "weight.config" | "doc" | "code" | "dataset";
  readonly encoding?: "raw" | "tar" | "tar+gzip" | "tar+zstd";
  readonly mode?: number;
  /** Extra or replacement layer annotations (undefined values delete a key). */
  readonly annotations?: Record<string, string | undefined>;
}

export interface BuiltArtifact {
  readonly manifest: Record<string, unknown>;
  readonly manifestBytes: Buffer;
  readonly manifestDigest: string;
  readonly configBytes: Buffer;
  readonly blobs: Map<string, BlobSource>;
}

export interface BuildOptions {
  readonly name?: string;
  readonly family?: string;
  /** Use the legacy vnd.cnai / org.cnai identifiers (what modctl v0.2.2 emits). */
  readonly legacy?: boolean;
  /** Replace the config document (e.g. a legacy `diff_ids` config). */
  readonly config?: Record<string, unknown> | string;
  /** Last-moment edits to the manifest object. */
  readonly editManifest?: (manifest: Record<string, unknown>) => void;
  /** Also set `org.opencontainers.image.title` (what oras and CRI-O name files by). Default true. */
  readonly titleAnnotation?: boolean;
  /** Pre-built layers (e.g. big files on disk for benchmarks), appended after `files`. */
  readonly extraLayers?: readonly { descriptor: Record<string, unknown>; blob: BlobSource }[];
}

export const sha256 = (bytes: Buffer | string): string =>
  `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

function kindOf(path: string): NonNullable<ArtifactFile["kind"]> {
  const base = path.split("/").at(-1) ?? path;
  if (/\.(safetensors|gguf|bin|pt|onnx)$/.test(base)) return "weight";
  if (/^(config|generation_config|tokenizer|tokenizer_config)\.json$/.test(base)) return "weight.config";
  if (/\.(py|sh)$/.test(base)) return "code";
  return "doc";
}

async function tarOf(path: string, content: Buffer, mode: number): Promise<Buffer> {
  const archive = pack();
  archive.entry(
    { name: path, size: content.length, mode, mtime: new Date(0), uid: 1000, gid: 1000 },
    content,
  );
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export async function buildModelPackArtifact(
  files: readonly ArtifactFile[],
  options: BuildOptions = {},
): Promise<BuiltArtifact> {
  const family = options.legacy === true ? "cnai" : "cncf";
  const blobs = new Map<string, BlobSource>();
  const layers: Record<string, unknown>[] = [];
  const diffIds: string[] = [];
  for (const file of files) {
    const content = Buffer.isBuffer(file.content) ? file.content : Buffer.from(file.content);
    const encoding = file.encoding ?? "raw";
    const mode = file.mode ?? 0o644;
    let blob = content;
    let diffId = sha256(content);
    if (encoding !== "raw") {
      const tar = await tarOf(file.path, content, mode);
      diffId = sha256(tar);
      blob = encoding === "tar" ? tar : encoding === "tar+gzip" ? gzipSync(tar) : zstdCompressSync(tar);
    }
    const digest = sha256(blob);
    blobs.set(digest, blob);
    diffIds.push(diffId);
    const annotations: Record<string, string> = {
      ...(options.titleAnnotation !== false && { "org.opencontainers.image.title": file.path }),
      [`org.${family}.model.filepath`]: file.path,
      [`org.${family}.model.file.metadata+json`]: JSON.stringify({
        name: file.path.split("/").at(-1),
        mode,
        uid: 1000,
        gid: 1000,
        size: content.length,
        mtime: "2026-01-01T00:00:00Z",
        typeflag: 0,
      }),
    };
    for (const [key, value] of Object.entries(file.annotations ?? {})) {
      if (value === undefined) delete annotations[key];
      else annotations[key] = value;
    }
    layers.push({
      mediaType: `application/vnd.${family}.model.${file.kind ?? kindOf(file.path)}.v1.${encoding}`,
      digest,
      size: blob.length,
      annotations,
    });
  }
  for (const extra of options.extraLayers ?? []) {
    layers.push(extra.descriptor);
    const digest = String(extra.descriptor.digest);
    blobs.set(digest, extra.blob);
    diffIds.push(digest);
  }
  const config =
    options.config ??
    ({
      descriptor: {
        name: options.name ?? "tiny-model",
        family: options.family ?? "tiny",
        createdAt: "2026-01-01T00:00:00Z",
      },
      config: { architecture: "transformer", format: "safetensors", paramSize: "1m", precision: "float16" },
      modelfs: { type: "layers", diffIds },
    } satisfies Record<string, unknown>);
  const configBytes = Buffer.from(typeof config === "string" ? config : JSON.stringify(config));
  blobs.set(sha256(configBytes), configBytes);
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: `application/vnd.${family}.model.manifest.v1+json`,
    config: {
      mediaType: `application/vnd.${family}.model.config.v1+json`,
      digest: sha256(configBytes),
      size: configBytes.length,
    },
    layers,
    annotations: { "org.opencontainers.image.created": "2026-01-01T00:00:00Z" },
  };
  options.editManifest?.(manifest);
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { manifest, manifestBytes, manifestDigest: sha256(manifestBytes), configBytes, blobs };
}

export interface PushTarget {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  readonly caPem?: string;
}

/** Pushes blobs, then the manifest under `tag`; returns the manifest digest. */
export async function pushArtifact(
  target: PushTarget,
  repository: string,
  tag: string,
  artifact: BuiltArtifact,
): Promise<string> {
  const dispatcher: Dispatcher = new Agent(
    target.caPem !== undefined ? { connect: { ca: target.caPem } } : {},
  );
  try {
    const authorization = await authorize(dispatcher, target, repository);
    const headers = (extra: Record<string, string>): Record<string, string> => ({
      ...extra,
      ...(authorization !== undefined && { authorization }),
    });
    for (const [digest, blob] of artifact.blobs) {
      const head = await request(`${target.url}/v2/${repository}/blobs/${digest}`, {
        dispatcher,
        method: "HEAD",
        headers: headers({}),
      });
      await head.body.dump();
      if (head.statusCode === 200) continue;
      const start = await request(`${target.url}/v2/${repository}/blobs/uploads/`, {
        dispatcher,
        method: "POST",
        headers: headers({}),
      });
      await start.body.dump();
      const location = start.headers.location;
      if (start.statusCode !== 202 || typeof location !== "string")
        throw new Error(`upload start for ${digest} failed: HTTP ${start.statusCode}`);
      const uploadUrl = new URL(location, target.url);
      uploadUrl.searchParams.set("digest", digest);
      const size = Buffer.isBuffer(blob) ? blob.length : blob.size;
      const put = await request(uploadUrl, {
        dispatcher,
        method: "PUT",
        headers: headers({ "content-type": "application/octet-stream", "content-length": String(size) }),
        body: Buffer.isBuffer(blob) ? blob : createReadStream(blob.path),
      });
      const text = await put.body.text();
      if (put.statusCode !== 201)
        throw new Error(`upload of ${digest} failed: HTTP ${put.statusCode} ${text}`);
    }
    const put = await request(`${target.url}/v2/${repository}/manifests/${tag}`, {
      dispatcher,
      method: "PUT",
      headers: headers({
        "content-type": String(artifact.manifest.mediaType ?? "application/vnd.oci.image.manifest.v1+json"),
      }),
      body: artifact.manifestBytes,
    });
    const text = await put.body.text();
    if (put.statusCode !== 201) throw new Error(`manifest push failed: HTTP ${put.statusCode} ${text}`);
    return artifact.manifestDigest;
  } finally {
    await dispatcher.close();
  }
}

/** Answers the registry's challenge for push access, if it makes one. */
async function authorize(
  dispatcher: Dispatcher,
  target: PushTarget,
  repository: string,
): Promise<string | undefined> {
  const ping = await request(`${target.url}/v2/`, { dispatcher });
  await ping.body.dump();
  if (ping.statusCode !== 401) return undefined;
  const basic =
    "Basic " + Buffer.from(`${target.username ?? ""}:${target.password ?? ""}`).toString("base64");
  const challenge = String(ping.headers["www-authenticate"] ?? "");
  if (/^basic/i.test(challenge)) return basic;
  const param = (name: string): string => new RegExp(`${name}="([^"]*)"`).exec(challenge)?.[1] ?? "";
  const tokenUrl = new URL(param("realm"));
  tokenUrl.searchParams.set("service", param("service"));
  tokenUrl.searchParams.set("scope", `repository:${repository}:pull,push`);
  const res = await request(tokenUrl, { dispatcher, headers: { authorization: basic } });
  const body = (await res.body.json()) as { token?: string };
  if (body.token === undefined) throw new Error(`token request failed: HTTP ${res.statusCode}`);
  return `Bearer ${body.token}`;
}

export interface ImageFile {
  /** Path inside the image, without a leading slash. */
  readonly path: string;
  readonly content: Buffer | string;
  readonly mode?: number;
}

/**
 * An ordinary single-layer OCI image (image config with `rootfs.diff_ids`, one uncompressed tar
 * layer), reproducible: fixed mtimes, root-owned entries in the given order. For the real node's
 * pause image, shell-less test containers and image volumes that every runtime can mount.
 */
export async function buildContainerImage(
  files: readonly ImageFile[],
  config: { entrypoint?: readonly string[]; cmd?: readonly string[]; env?: readonly string[] } = {},
): Promise<BuiltArtifact> {
  const archive = pack();
  const folders = new Set<string>();
  for (const file of files) {
    const parts = file.path.split("/").slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const folder = parts.slice(0, i).join("/");
      if (folders.has(folder)) continue;
      folders.add(folder);
      archive.entry({
        name: `${folder}/`,
        type: "directory",
        mode: 0o755,
        mtime: new Date(0),
        uid: 0,
        gid: 0,
      });
    }
    const content = Buffer.isBuffer(file.content) ? file.content : Buffer.from(file.content);
    archive.entry(
      { name: file.path, size: content.length, mode: file.mode ?? 0o644, mtime: new Date(0), uid: 0, gid: 0 },
      content,
    );
  }
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive as AsyncIterable<Buffer>) chunks.push(chunk);
  const layer = Buffer.concat(chunks);
  const imageConfig = {
    architecture: process.arch === "arm64" ? "arm64" : "amd64",
    os: "linux",
    config: {
      ...(config.entrypoint && { Entrypoint: config.entrypoint }),
      ...(config.cmd && { Cmd: config.cmd }),
      ...(config.env && { Env: config.env }),
    },
    rootfs: { type: "layers", diff_ids: [sha256(layer)] },
  };
  const configBytes = Buffer.from(JSON.stringify(imageConfig));
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: sha256(configBytes),
      size: configBytes.length,
    },
    layers: [
      { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(layer), size: layer.length },
    ],
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const blobs = new Map<string, BlobSource>([
    [sha256(layer), layer],
    [sha256(configBytes), configBytes],
  ]);
  return { manifest, manifestBytes, manifestDigest: sha256(manifestBytes), configBytes, blobs };
}
