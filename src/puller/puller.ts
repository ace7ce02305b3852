import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdir, readFile, rename, rm, rmdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
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
import type { Descriptor, FetchedManifest, RegistryClient } from "../oci/client.js";
import { BlobWriteError } from "../oci/blob-writer.js";
import { DigestMismatchError, RegistryError } from "../oci/errors.js";
import { discardPartial, DownloadGroup } from "../oci/ranged-download.js";
import { pinnedReference, type ImageReference } from "../oci/reference.js";
import { systemClock, type Clock } from "../runtime/clock.js";
import { exponentialDelayMs } from "../runtime/rate-limiter.js";
import { PullError } from "./errors.js";
import { destinationPath, safeRelativePath } from "./paths.js";
import { ByteBudget, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_EXPANSION_RATIO } from "./limits.js";
import { lockDestination } from "./lock.js";
import {
  createStagingDir,
  PARTIAL_BLOBS_DIR,
  placeEntries,
  removeStaleStaging,
  scanDestination,
  type StagedEntry,
} from "./staging.js";
import { planPlacement } from "./tree.js";
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
  | { readonly type: "layer-done"; readonly digest: string; readonly files: number }
  | { readonly type: "lock-wait"; readonly holder: string };

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
  /**
   * The most connections one raw layer downloads over, in ranged parts; the count grows from 1
   * only while more connections make it faster. Default DEFAULT_CONNECTIONS.
   */
  readonly connections?: number;
  /** Attempts per layer for retryable failures (resets, truncation, 5xx). Default 3. */
  readonly layerAttempts?: number;
  /**
   * Wait before a layer's second attempt, doubled before each later one (up to 10 s), so a
   * registry that cut a download off gets a moment instead of an immediate new request.
   * Default 500 ms.
   */
  readonly layerRetryDelayMs?: number;
  /** Sleeps between layer attempts. Default the system clock. */
  readonly clock?: Clock;
  /** Bytes the pull may write in all (`pull --max-bytes`); default: no cap. */
  readonly maxBytes?: number;
  /** Uncompressed / compressed bytes per archive layer. Default DEFAULT_MAX_EXPANSION_RATIO. */
  readonly maxExpansionRatio?: number;
  /** Entries per archive layer. Default DEFAULT_MAX_ENTRIES. */
  readonly maxEntries?: number;
  /** How long to wait for another pull into the same destination. Default DEFAULT_LOCK_TIMEOUT_MS. */
  readonly lockTimeoutMs?: number;
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

/** `connections` when none is given. */
export const DEFAULT_CONNECTIONS = 8;
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

/** The outcome of one layer before anything is placed. */
type LayerOutcome = {
  readonly plan: LayerPlan;
  readonly skipped: boolean;
  readonly entries: readonly StagedEntry[];
};

/**
 * Pulls a ModelPack artifact into `dest`, all or nothing:
 * 1. under a lock beside `dest` (one pull per destination at a time), every layer is downloaded
 *    concurrently, verified against its digest and staged in a private folder inside `dest`
 *    (or found already in place and verified, then skipped), within the size and entry limits;
 * 2. the layers' entries are merged in manifest order over what `dest` holds (planPlacement):
 *    a path two layers fill differently, a write through a symlink, or a symlink of the
 *    resulting tree that resolves outside `dest` (followed component by component) refuses
 *    the pull, whatever the order the downloads finished in;
 * 3. only then are the entries renamed into place; if that fails midway it is undone.
 * Paths from annotations and tar headers never escape `dest`. Throws RegistryError
 * (registry/network) or PullError (the artifact cannot be placed safely, a limit, the lock);
 * after a failure `dest` is exactly as it was (removed again if the pull created it), except
 * after a network failure or a signal: then the raw layers' partial files stay in a hidden folder
 * (PARTIAL_BLOBS_DIR), and the next pull into `dest` continues them.
 */
export async function pull(options: PullOptions): Promise<PullResult> {
  const { client, reference, dest } = options;
  const { fetched, pinned, manifest } = await fetchManifest(options);
  await client.getBlob(reference, manifest.config, options.signal); // verified, so a corrupt artifact fails early
  const plans = planLayers(manifest, pinned);
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;

  await mkdir(dirname(dest), { recursive: true });
  const lock = await lockDestination(dest, {
    ...(options.lockTimeoutMs !== undefined && { timeoutMs: options.lockTimeoutMs }),
    ...(options.signal !== undefined && { signal: options.signal }),
    onWait: (holder) => options.onEvent?.({ type: "lock-wait", holder }),
  });
  const createdDest = (await lstat(dest).catch(() => undefined)) === undefined;
  let staging: string | undefined;
  const abort = new AbortController();
  const onOuterAbort = (): void => abort.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  let succeeded = false;
  let resumable = false;
  try {
    await mkdir(dest, { recursive: true });
    await removeStaleStaging(dest);
    staging = await createStagingDir(dest);
    const statePath = options.stateFile ?? join(dest, PULL_STATE_FILE);
    const previous = PullState.safeParse(JSON.parse(await readFile(statePath, "utf8").catch(() => "{}")));
    const progress = {
      bytesDone: 0,
      bytesTotal: plans.reduce((n, p) => n + p.descriptor.size, 0),
      layersDone: 0,
      layersTotal: plans.length,
    };
    const context: LayerContext = {
      options,
      pinned,
      stagingDir: staging,
      previous: previous.success ? previous.data : undefined,
      state: { layers: {} },
      progress,
      report: () => options.onProgress?.({ ...progress }),
      downloaded: { bytes: 0 },
      downloads: new DownloadGroup(),
      budget: new ByteBudget(options.maxBytes, "--max-bytes"),
      abort,
      maxEntries,
      maxExpansionRatio: options.maxExpansionRatio ?? DEFAULT_MAX_EXPANSION_RATIO,
    };

    // 1. Download, verify and stage every layer; nothing is placed yet.
    const outcomes = await stageLayers(context, plans);
    options.signal?.throwIfAborted();

    // 2. Decide, in manifest order, what goes where; refuse conflicts and escaping symlinks.
    outcomes.sort((a, b) => a.plan.index - b.plan.index);
    const existing = await scanDestination(dest, Math.max(maxEntries, 1_000_000));
    const toPlace = inArtifact(pinned, () =>
      planPlacement(
        existing,
        outcomes.map((o) => ({
          what: `layer ${o.plan.index} (${o.plan.descriptor.digest})`,
          entries: o.entries,
          place: !o.skipped,
        })),
      ),
    );

    // 3. Place everything (undone if any step fails), then record the archive layers.
    await lock.assertHeld();
    const backups = join(staging, "replaced");
    await mkdir(backups, { mode: 0o700 });
    const placement = await inArtifact(pinned, () =>
      placeEntries(dest, toPlace, backups, {
        ...(options.worldReadable === true && { worldReadable: true }),
      }),
    );
    try {
      if (plans.some((p) => p.kind === "archive")) await writeState(statePath, context.state);
    } catch (err) {
      await placement.rollback();
      throw err;
    }
    succeeded = true;
    return {
      pinnedReference: pinned,
      digest: fetched.digest,
      files: pulledFiles(outcomes),
      bytesDownloaded: context.downloaded.bytes,
    };
  } catch (err) {
    // What was downloaded stays for the next pull when the network or a signal stopped this one.
    resumable =
      options.signal?.aborted === true ||
      ((err instanceof RegistryError || err instanceof BlobWriteError) &&
        err.retryable &&
        !(err instanceof DigestMismatchError));
    throw err;
  } finally {
    options.signal?.removeEventListener("abort", onOuterAbort);
    if (staging !== undefined) await rm(staging, { recursive: true, force: true });
    if (!resumable) await rm(join(dest, PARTIAL_BLOBS_DIR), { recursive: true, force: true });
    if (!succeeded && createdDest) await rmdir(dest).catch(() => undefined);
    await lock.release();
  }
}

/** Fetches the manifest and refuses one that is not a valid ModelPack manifest (PullError InvalidArtifact). */
async function fetchManifest(
  options: PullOptions,
): Promise<{ fetched: FetchedManifest; pinned: string; manifest: OciManifest }> {
  const fetched = await options.client.getManifest(options.reference, options.signal);
  const pinned = pinnedReference(options.reference, fetched.digest);
  const parsed = OciManifest.safeParse(fetched.json);
  const validation = validateManifest(fetched.json);
  if (!parsed.success || validation.errors.length > 0) {
    const reasons = validation.errors.map((e) => `${e.path}: ${e.message}`).join("; ");
    throw new PullError(
      "InvalidArtifact",
      `${pinned} is not a valid ModelPack manifest: ${reasons || "unreadable manifest"}`,
    );
  }
  options.onEvent?.({ type: "manifest", digest: fetched.digest, warnings: validation.warnings });
  return { fetched, pinned, manifest: parsed.data };
}

/** What staging the layers of one pull shares: its options, limits, progress and state. */
interface LayerContext {
  readonly options: PullOptions;
  readonly pinned: string;
  readonly stagingDir: string;
  /** The state file of the previous pull into `dest`, when it could be read. */
  readonly previous: PullState | undefined;
  /** The archive layers of this pull, written once everything is placed. */
  readonly state: PullState;
  readonly progress: { -readonly [K in keyof PullProgress]: PullProgress[K] };
  readonly report: () => void;
  readonly downloaded: { bytes: number };
  /** The layers' downloads, judged together when they try more connections. */
  readonly downloads: DownloadGroup;
  readonly budget: ByteBudget;
  /** Aborted by the caller's signal or by the first failing layer. */
  readonly abort: AbortController;
  readonly maxEntries: number;
  readonly maxExpansionRatio: number;
}

const layerWhat = (context: LayerContext, plan: LayerPlan): string =>
  `${context.pinned}, layer ${plan.index} (${plan.descriptor.digest})`;

/**
 * Stages every layer, `concurrency` at a time; the first failure aborts the others and is thrown
 * (the others are mostly the abort it triggered).
 */
async function stageLayers(context: LayerContext, plans: readonly LayerPlan[]): Promise<LayerOutcome[]> {
  const { options, abort } = context;
  const outcomes: LayerOutcome[] = [];
  const queue = [...plans];
  const workers = Array.from(
    { length: Math.max(1, Math.min(options.concurrency ?? 4, plans.length)) },
    async () => {
      for (let plan = queue.shift(); plan !== undefined; plan = queue.shift()) {
        if (abort.signal.aborted) return;
        outcomes.push(await pullLayer(context, plan));
      }
    },
  );
  let firstFailure: { readonly error: unknown } | undefined;
  const results = await Promise.allSettled(
    workers.map((w) =>
      w.catch((err: unknown) => {
        firstFailure ??= { error: err };
        abort.abort(err);
        throw err;
      }),
    ),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed !== undefined) throw firstFailure !== undefined ? firstFailure.error : failed.reason;
  return outcomes;
}

/**
 * The entries of a layer already in `dest` and verified (a raw file by its digest, an archive
 * layer by the files the previous pull recorded), or undefined.
 */
async function alreadyThere(context: LayerContext, plan: LayerPlan): Promise<StagedEntry[] | undefined> {
  const dest = context.options.dest;
  if (plan.kind === "file") {
    const target = destinationPath(dest, plan.path);
    const there =
      (await isRegularFileOfSize(target, plan.descriptor.size)) &&
      (await sha256File(target)) === plan.descriptor.digest;
    return there ? [fileEntry(plan.path, "", plan.descriptor.size, plan.descriptor.digest)] : undefined;
  }
  const recorded = context.previous?.layers[plan.descriptor.digest];
  if (recorded === undefined) return undefined;
  for (const file of recorded.files) {
    const target = destinationPath(dest, file.path);
    if (!(await isRegularFileOfSize(target, file.size)) || (await sha256File(target)) !== file.sha256)
      return undefined;
  }
  context.state.layers[plan.descriptor.digest] = recorded;
  return recorded.files.map((f) => fileEntry(f.path, "", f.size, f.sha256));
}

/**
 * One layer: skipped when already there, else downloaded and staged, retrying registry hiccups
 * and stopped writer threads (`layerAttempts`, exponential delay); what a failed attempt counted
 * and staged is taken back first.
 */
async function pullLayer(context: LayerContext, plan: LayerPlan): Promise<LayerOutcome> {
  const { options, progress, report, budget, abort, stagingDir } = context;
  const digest = plan.descriptor.digest;
  const present = await alreadyThere(context, plan);
  if (present !== undefined) {
    progress.bytesDone += plan.descriptor.size;
    progress.layersDone++;
    options.onEvent?.({ type: "layer-skipped", digest, reason: "already present and verified" });
    report();
    return { plan, skipped: true, entries: present };
  }
  const attempts = Math.max(1, options.layerAttempts ?? 3);
  for (let attempt = 1; ; attempt++) {
    const counters = { counted: 0, resumed: 0, written: 0 };
    try {
      const entries = await stageLayer(context, plan, counters);
      context.downloaded.bytes += counters.counted;
      progress.layersDone++;
      options.onEvent?.({
        type: "layer-done",
        digest,
        files: entries.filter((e) => e.type === "file").length,
      });
      report();
      return { plan, skipped: false, entries };
    } catch (err) {
      progress.bytesDone -= counters.counted + counters.resumed;
      budget.release(counters.written);
      // A partial raw file stays for the next attempt (it resumes), unless its bytes were wrong.
      if (plan.kind === "file" && err instanceof DigestMismatchError)
        await discardPartial(partialPath(context, plan));
      await rm(join(stagingDir, `layer-${plan.index}`), { recursive: true, force: true });
      // A registry hiccup or a stopped writer thread; a full disk or a refused path is not retried.
      const retryable = (err instanceof RegistryError || err instanceof BlobWriteError) && err.retryable;
      if (!retryable || attempt >= attempts || abort.signal.aborted) throw err;
      options.onEvent?.({ type: "layer-retry", digest, attempt, error: err.message });
      const delayMs = exponentialDelayMs(attempt - 1, options.layerRetryDelayMs ?? 500, 10_000);
      await (options.clock ?? systemClock).sleep(delayMs, abort.signal);
    }
  }
}

/**
 * One attempt at one layer: a raw file downloaded (and verified) to `<index>.part`, or an archive
 * extracted into `layer-<index>/` within the entry and expansion limits. `counters` says what it
 * downloaded and took from the byte budget, so a failed attempt can be taken back.
 */
async function stageLayer(
  context: LayerContext,
  plan: LayerPlan,
  counters: { counted: number; resumed: number; written: number },
): Promise<StagedEntry[]> {
  const { options, progress, report, budget, abort, stagingDir } = context;
  const { client, reference } = options;
  const digest = plan.descriptor.digest;
  const write = (bytes: number): void => {
    budget.take(bytes, layerWhat(context, plan));
    counters.written += bytes;
  };
  const onBytes = (bytes: number): void => {
    counters.counted += bytes;
    progress.bytesDone += bytes;
    report();
  };
  if (plan.kind === "file") {
    write(plan.descriptor.size); // known before the first byte: refused before downloading
    const staged = partialPath(context, plan);
    await mkdir(dirname(staged), { recursive: true, mode: 0o700 });
    const size = await client.downloadBlob(reference, plan.descriptor, staged, {
      signal: abort.signal,
      onBytes,
      onResumed: (bytes) => {
        counters.resumed += bytes;
        progress.bytesDone += bytes;
        report();
      },
      connections: options.connections ?? DEFAULT_CONNECTIONS,
      group: context.downloads,
      resume: true,
    });
    return [
      {
        ...fileEntry(plan.path, staged, size, digest),
        mode: plan.mode ?? 0o644,
        ...(plan.mtime !== undefined && { mtime: plan.mtime }),
      },
    ];
  }
  const layerStaging = join(stagingDir, `layer-${plan.index}`);
  await mkdir(layerStaging, { mode: 0o700 });
  // Loaded here, before the stream opens: tar-stream and zlib cost start-up time that
  // a pull of raw layers (the common case, and the one image volumes mount) never needs.
  const { stageTarLayer } = await import("./tar.js");
  const stream: Readable = await client.openBlob(reference, plan.descriptor, abort.signal);
  // A "data" listener starts the flow: the consumer must be attached in this same tick.
  stream.on("data", (chunk: Buffer) => onBytes(chunk.byteLength));
  const entries = await stageTarLayer(stream, plan.encoding, layerStaging, layerWhat(context, plan), {
    compressedSize: plan.descriptor.size,
    maxExpansionRatio: context.maxExpansionRatio,
    maxEntries: context.maxEntries,
    onFileBytes: write,
  });
  context.state.layers[digest] = {
    files: entries.flatMap((e) =>
      e.type === "file" ? [{ path: e.path, size: e.size, sha256: e.sha256 }] : [],
    ),
  };
  return entries;
}

/**
 * Where a raw layer downloads: in the destination's partial-blobs folder, named by layer and
 * digest, so a later pull of the same artifact finds it.
 */
function partialPath(context: LayerContext, plan: LayerPlan): string {
  return join(
    context.options.dest,
    PARTIAL_BLOBS_DIR,
    `${plan.index}-${plan.descriptor.digest.replace(":", "-")}`,
  );
}

/** Writes the pull state atomically (a temporary file renamed over it). */
async function writeState(statePath: string, state: PullState): Promise<void> {
  const tmp = `${statePath}.tmp`;
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, statePath);
}

/** The files of a pull, sorted by path. */
function pulledFiles(outcomes: readonly LayerOutcome[]): PulledFile[] {
  const files: PulledFile[] = outcomes.flatMap((o) =>
    o.entries.flatMap((e) =>
      e.type === "file"
        ? [{ path: e.path, size: e.size, layer: o.plan.descriptor.digest, skipped: o.skipped }]
        : [],
    ),
  );
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return files;
}

/** Runs `step`; a PullError it throws (or rejects with) gets the artifact's name in front. */
function inArtifact<T>(pinned: string, step: () => T): T {
  const named = (err: unknown): never => {
    throw err instanceof PullError
      ? new PullError(err.code, `${pinned}: ${err.message}`, { cause: err })
      : err;
  };
  try {
    const result = step();
    return (result instanceof Promise ? result.catch(named) : result) as T;
  } catch (err) {
    return named(err);
  }
}

function fileEntry(
  path: string,
  staged: string,
  size: number,
  sha256: string,
): Extract<StagedEntry, { type: "file" }> {
  return { type: "file", path, staged, mode: 0o644, size, sha256 };
}
