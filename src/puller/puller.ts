import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import {
  layerFilePath,
  OciManifest,
  parseFileMetadata,
  parseLayerMediaType,
  validateManifest,
  type Issue,
} from "../modelpack/index.js";
import type { Descriptor, RegistryClient } from "../oci/client.js";
import { BlobWriteError } from "../oci/blob-writer.js";
import { RegistryError } from "../oci/errors.js";
import { pinnedReference, type ImageReference } from "../oci/reference.js";
import { PullError } from "./errors.js";
import { destinationPath, safeRelativePath } from "./paths.js";
import { createStagingDir, placeEntries, type StagedEntry } from "./staging.js";
import type { TarEncoding } from "./tar.js";

export interface PullProgress {
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly layersDone: number;
  readonly layersTotal: number;
}

export type PullEvent =
  | { readonly type: "manifest"; readonly digest: string; readonly warnings: readonly Issue[] }
  | { readonly type: "layer-skipped"; readonly digest: string; readonly reason: string }
  | {
      readonly type: "layer-retry";
      readonly digest: string;
      readonly attempt: number;
      readonly error: string;
    }
  | { readonly type: "layer-done"; readonly digest: string; readonly files: number };

export interface PullOptions {
  readonly client: RegistryClient;
  readonly reference: ImageReference;
  /** The folder that receives the model's files; created if missing. */
  readonly dest: string;
  /**
   * Where extracted archive layers are recorded (see PULL_STATE_FILE). Default inside `dest`;
   * the init container keeps it beside the model folder, out of the pod's view.
   */
  readonly stateFile?: string;
  /**
   * Add read permission for everyone to every file (and read and search to every folder), on
   * top of the modes from the artifact: the pod's containers may run as another user than the
   * puller. Default false: modes exactly as the artifact says.
   */
  readonly worldReadable?: boolean;
  /** Layers downloaded at once. Default 4. */
  readonly concurrency?: number;
  /** Attempts per layer for retryable failures (resets, truncation, 5xx). Default 3. */
  readonly layerAttempts?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: PullProgress) => void;
  readonly onEvent?: (event: PullEvent) => void;
}

export interface PulledFile {
  readonly path: string;
  readonly size: number;
  readonly layer: string;
  /** True when the file was already there with the right content. */
  readonly skipped: boolean;
}

export interface PullResult {
  /** `registry/repository@digest` of the manifest pulled. */
  readonly pinnedReference: string;
  readonly digest: string;
  readonly files: readonly PulledFile[];
  readonly bytesDownloaded: number;
}

/**
 * Where extracted tar layers are recorded, so a second pull can verify and skip them. Raw-only
 * artifacts (the common case) never get this file, so the folder matches an image volume exactly.
 */
export const PULL_STATE_FILE = ".modelpack-pull.json";
const PullState = z.object({
  layers: z.record(
    z.string(),
    z.object({ files: z.array(z.object({ path: z.string(), size: z.number(), sha256: z.string() })) }),
  ),
});
type PullState = z.infer<typeof PullState>;

/** A raw layer is one file at a known path; an archive layer's paths are known once extracted. */
type LayerPlan = { readonly index: number; readonly descriptor: Descriptor } & (
  | { readonly kind: "file"; readonly path: string; readonly mode?: number; readonly mtime?: Date }
  | { readonly kind: "archive"; readonly encoding: TarEncoding }
);

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), hash);
  return `sha256:${hash.digest("hex")}`;
}

async function isRegularFileOfSize(path: string, size: number): Promise<boolean> {
  const stat = await lstat(path).catch(() => undefined);
  return stat !== undefined && stat.isFile() && stat.size === size;
}

function planLayers(manifest: OciManifest, what: string): LayerPlan[] {
  return manifest.layers.map((descriptor, index) => {
    const layerWhat = `${what}, layer ${index} (${descriptor.digest})`;
    const parsed = parseLayerMediaType(descriptor.mediaType);
    if (parsed === undefined) {
      throw new PullError(
        "UnsupportedLayer",
        `${layerWhat} has media type "${descriptor.mediaType}", which is not a ModelPack layer type; the puller cannot place its content`,
      );
    }
    if (parsed.encoding !== "raw") return { index, descriptor, kind: "archive", encoding: parsed.encoding };
    const rawPath = layerFilePath(descriptor);
    if (rawPath === undefined) {
      throw new PullError(
        "InvalidArtifact",
        `${layerWhat} is a raw file layer without a file name (org.cncf.model.filepath or org.opencontainers.image.title); re-package the model with a file path annotation`,
      );
    }
    const path = safeRelativePath(rawPath, layerWhat);
    const metadata = parseFileMetadata(descriptor.annotations);
    return {
      index,
      descriptor,
      kind: "file",
      path,
      ...(metadata?.mode !== undefined && { mode: metadata.mode }),
      ...(metadata?.mtime !== undefined && { mtime: new Date(metadata.mtime) }),
    };
  });
}

/**
 * Pulls a ModelPack artifact into `dest`. Every byte is verified against the manifest's digests
 * before it appears at its final path (staged under a private name, then renamed); paths from
 * annotations and tar headers never escape `dest`. Layers run concurrently; retryable failures
 * restart the layer. A second pull into the same folder verifies what is there and skips it.
 * Throws RegistryError (registry/network) or PullError (artifact cannot be placed safely); on
 * failure no partial file is left behind (already placed, verified files stay).
 */
export async function pull(options: PullOptions): Promise<PullResult> {
  const { client, reference, dest } = options;
  const manifestFetched = await client.getManifest(reference, options.signal);
  const pinned = pinnedReference(reference, manifestFetched.digest);
  const parsed = OciManifest.safeParse(manifestFetched.json);
  const validation = validateManifest(manifestFetched.json);
  if (!parsed.success || validation.errors.length > 0) {
    const reasons = validation.errors.map((e) => `${e.path}: ${e.message}`).join("; ");
    throw new PullError(
      "InvalidArtifact",
      `${pinned} is not a valid ModelPack manifest: ${reasons || "unreadable manifest"}`,
    );
  }
  options.onEvent?.({ type: "manifest", digest: manifestFetched.digest, warnings: validation.warnings });
  const manifest = parsed.data;
  await client.getBlob(reference, manifest.config, options.signal); // verified, so a corrupt artifact fails early
  const plans = planLayers(manifest, pinned);

  await mkdir(dest, { recursive: true });
  const statePath = options.stateFile ?? join(dest, PULL_STATE_FILE);
  const previous = PullState.safeParse(JSON.parse(await readFile(statePath, "utf8").catch(() => "{}")));
  const state: PullState = { layers: {} };
  const placedBy = new Map<string, number>();
  let placing: Promise<void> = Promise.resolve();
  const files: PulledFile[] = [];
  const progress = {
    bytesDone: 0,
    bytesTotal: plans.reduce((n, p) => n + p.descriptor.size, 0),
    layersDone: 0,
    layersTotal: plans.length,
  };
  const report = (): void => options.onProgress?.({ ...progress });
  let bytesDownloaded = 0;

  const abort = new AbortController();
  const onOuterAbort = (): void => abort.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const staging = await createStagingDir(dest);

  /** Places a verified layer's entries; serialised so "the higher layer index wins" holds. */
  const place = (plan: LayerPlan, entries: StagedEntry[]): Promise<void> => {
    const run = placing.then(async () => {
      const kept = entries.filter(
        (e) => e.type === "directory" || (placedBy.get(e.path) ?? -1) <= plan.index,
      );
      await placeEntries(dest, kept, `${pinned}, layer ${plan.index}`, {
        ...(options.worldReadable === true && { worldReadable: true }),
      });
      for (const e of kept) if (e.type !== "directory") placedBy.set(e.path, plan.index);
    });
    placing = run.catch(() => undefined);
    return run;
  };

  const alreadyThere = async (plan: LayerPlan): Promise<boolean> => {
    if (plan.kind === "file") {
      const target = destinationPath(dest, plan.path);
      return (
        (await isRegularFileOfSize(target, plan.descriptor.size)) &&
        (await sha256File(target)) === plan.descriptor.digest
      );
    }
    const recorded = previous.success ? previous.data.layers[plan.descriptor.digest] : undefined;
    if (recorded === undefined) return false;
    for (const file of recorded.files) {
      const target = destinationPath(dest, file.path);
      if (!(await isRegularFileOfSize(target, file.size)) || (await sha256File(target)) !== file.sha256)
        return false;
    }
    state.layers[plan.descriptor.digest] = recorded;
    return true;
  };

  const pullLayer = async (plan: LayerPlan): Promise<void> => {
    const digest = plan.descriptor.digest;
    if (await alreadyThere(plan)) {
      progress.bytesDone += plan.descriptor.size;
      progress.layersDone++;
      const recorded =
        plan.kind === "file"
          ? [{ path: plan.path, size: plan.descriptor.size }]
          : (state.layers[digest]?.files ?? []);
      for (const f of recorded) files.push({ path: f.path, size: f.size, layer: digest, skipped: true });
      options.onEvent?.({ type: "layer-skipped", digest, reason: "already present and verified" });
      report();
      return;
    }
    const attempts = Math.max(1, options.layerAttempts ?? 3);
    for (let attempt = 1; ; attempt++) {
      let counted = 0;
      try {
        const onBytes = (bytes: number): void => {
          counted += bytes;
          progress.bytesDone += bytes;
          report();
        };
        let entries: StagedEntry[];
        if (plan.kind === "file") {
          const staged = join(staging, `${plan.index}.part`);
          const size = await client.downloadBlob(reference, plan.descriptor, staged, {
            signal: abort.signal,
            onBytes,
          });
          entries = [
            {
              type: "file",
              path: plan.path,
              staged,
              mode: plan.mode ?? 0o644,
              ...(plan.mtime !== undefined && { mtime: plan.mtime }),
              size,
              sha256: digest,
            },
          ];
        } else {
          const layerStaging = join(staging, `layer-${plan.index}`);
          await mkdir(layerStaging, { mode: 0o700 });
          // Loaded here, before the stream opens: tar-stream and zlib cost ~8 ms of start-up that
          // a pull of raw layers (the common case, and the one image volumes mount) never needs.
          const { stageTarLayer } = await import("./tar.js");
          const stream: Readable = await client.openBlob(reference, plan.descriptor, abort.signal);
          // A "data" listener starts the flow: the consumer must be attached in this same tick.
          stream.on("data", (chunk: Buffer) => onBytes(chunk.byteLength));
          entries = await stageTarLayer(
            stream,
            plan.encoding,
            layerStaging,
            `${pinned}, layer ${plan.index}`,
          );
          state.layers[digest] = {
            files: entries.flatMap((e) =>
              e.type === "file" ? [{ path: e.path, size: e.size, sha256: e.sha256 }] : [],
            ),
          };
        }
        await place(plan, entries);
        bytesDownloaded += counted;
        progress.layersDone++;
        for (const e of entries)
          if (e.type === "file") files.push({ path: e.path, size: e.size, layer: digest, skipped: false });
        options.onEvent?.({
          type: "layer-done",
          digest,
          files: entries.filter((e) => e.type === "file").length,
        });
        report();
        return;
      } catch (err) {
        progress.bytesDone -= counted;
        await rm(join(staging, `${plan.index}.part`), { force: true });
        await rm(join(staging, `layer-${plan.index}`), { recursive: true, force: true });
        // A registry hiccup or a stopped writer thread; a full disk or a refused path is not retried.
        const retryable = (err instanceof RegistryError || err instanceof BlobWriteError) && err.retryable;
        if (!retryable || attempt >= attempts || abort.signal.aborted) throw err;
        options.onEvent?.({ type: "layer-retry", digest, attempt, error: err.message });
      }
    }
  };

  try {
    const queue = [...plans];
    const workers = Array.from(
      { length: Math.max(1, Math.min(options.concurrency ?? 4, plans.length)) },
      async () => {
        for (let plan = queue.shift(); plan !== undefined; plan = queue.shift()) {
          if (abort.signal.aborted) return;
          await pullLayer(plan);
        }
      },
    );
    const results = await Promise.allSettled(
      workers.map((w) =>
        w.catch((err: unknown) => {
          abort.abort(err);
          throw err;
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    if (plans.some((p) => p.kind === "archive")) {
      const tmp = `${statePath}.tmp`;
      await writeFile(tmp, JSON.stringify(state));
      await rename(tmp, statePath);
    }
  } finally {
    options.signal?.removeEventListener("abort", onOuterAbort);
    await rm(staging, { recursive: true, force: true });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { pinnedReference: pinned, digest: manifestFetched.digest, files, bytesDownloaded };
}
