/**
 * The registry client: the `RegistryClient` façade over its parts, each in its own module —
 * data types (registry-types.ts), content and tag caches (content-cache.ts), registry policy
 * (registry-policy.ts), answers and their errors (registry-response.ts), manifest digests and
 * index choice (manifests.ts), bearer tokens (token.ts, auth.ts) and the HTTP transport
 * (http.ts, blob-download.ts). This file keeps what ties them together: requests with
 * authentication and retries, in-flight sharing, and the public operations.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { systemClock, type Clock } from "../runtime/clock.js";
import { exponentialFailureRateLimiter } from "../runtime/rate-limiter.js";
import { parseChallenges, pullScope, pushScope, TokenCache, type Challenge } from "./auth.js";
import { openBlob as openRawBlob, STOP, type BlobResponse } from "./blob-download.js";
import type { ByteRange } from "./byte-ranges.js";
import { downloadRanged, type DownloadGroup } from "./ranged-download.js";
import { WRITE_SLICE_BYTES } from "./blob-writer.js";
import { ContentCache, setBounded } from "./content-cache.js";
import { anonymousCredentials, type Credential, type CredentialStore } from "./credentials.js";
import { DigestVerifier, sha256Digest, verifyBytes } from "./digest.js";
import { DigestMismatchError, RegistryError } from "./errors.js";
import {
  classifyNetworkError,
  HttpTransport,
  type HttpResponse,
  type HttpTransportOptions,
  type RequestBody,
} from "./http.js";
import { createDualHasher } from "./dual-hasher.js";
import { chooseFromIndex, manifestDigest, onlyManifest, toManifest } from "./manifests.js";
import { isIndexMediaType, MANIFEST_ACCEPT, OCI_INDEX } from "./media-types.js";
import { MAX_REFERRERS_BYTES, parseReferrers, referrersTag, type Referrers } from "./referrers.js";
import { checkAllowed, checkRealm, registryBaseUrl } from "./registry-policy.js";
import { readCapped, responseFailure, RETRYABLE_STATUS } from "./registry-response.js";
import type {
  Descriptor,
  FetchedManifest,
  IndexSelector,
  RegistryRequestEvent,
  ResolvedReference,
} from "./registry-types.js";
import { requestToken } from "./token.js";
import { manifestSelector, type ImageReference } from "./reference.js";

export { ContentCache } from "./content-cache.js";
export { parseRetryAfter } from "./registry-response.js";
export type { Referrers } from "./referrers.js";
export type {
  Descriptor,
  FetchedManifest,
  IndexSelector,
  RegistryRequestEvent,
  ResolvedReference,
} from "./registry-types.js";

/** One logical request of `#send`. */
interface SendRequest {
  readonly registry: string;
  readonly repository?: string;
  readonly operation: RegistryRequestEvent["operation"];
  readonly method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH";
  /** A path on the registry, or an absolute URL (an upload's Location). */
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: RequestBody;
  /** The token scope; default the repository's pull scope. */
  readonly scope?: string;
  readonly signal?: AbortSignal | undefined;
  /** Sent once, never retried (a PATCH that failed midway has left bytes in the upload). */
  readonly once?: boolean;
}

export interface RegistryClientOptions extends HttpTransportOptions {
  readonly credentials?: CredentialStore;
  /** Registries (host[:port]) spoken to over plain HTTP; true means every registry. */
  readonly plainHttp?: boolean | readonly string[];
  /** When set, only these registries may be used (admin policy). */
  readonly allowedRegistries?: readonly string[];
  /**
   * Attempts per request for retryable failures (429, 5xx, resets, timeouts, bodies cut short).
   * Default 4.
   */
  readonly maxAttempts?: number;
  /** First retry delay, doubled each time up to `retryMaxDelayMs`. Defaults 200 ms and 10 s. */
  readonly retryBaseDelayMs?: number;
  readonly retryMaxDelayMs?: number;
  /**
   * The most one request sleeps between its attempts, in total (backoff and Retry-After).
   * Default 2 s. A wait that would go past it is not slept: the last failure is thrown at once
   * (RateLimited or ServerError, with `retryAfterSeconds` when the registry sent Retry-After),
   * so a caller with other work (the controller) requeues instead of holding a worker. A CLI
   * pull, which has nothing else to do, passes a longer wait.
   */
  readonly maxRetryWaitMs?: number;
  /** Size caps. Defaults: manifests 4 MiB (distribution's own limit), other small blobs 8 MiB. */
  readonly maxManifestBytes?: number;
  readonly maxSmallBlobBytes?: number;
  /** How long a resolved tag is trusted without asking the registry again. Default 0. */
  readonly tagCacheTtlMs?: number;
  /**
   * Total bytes of manifests and small blobs kept, by registry, repository and digest. Default
   * 64 MiB; ignored when `contentCache` is given.
   */
  readonly contentCacheBytes?: number;
  /**
   * A content cache shared with other clients (one byte budget for all); `cacheScope` keeps
   * each client's entries apart (clients with different credentials must not see each other's).
   */
  readonly contentCache?: ContentCache;
  readonly cacheScope?: string;
  /** Tags (registry/repository:tag) remembered for `tagCacheTtlMs`. Default 10,000. */
  readonly maxTagEntries?: number;
  readonly selectFromIndex?: IndexSelector;
  readonly userAgent?: string;
  readonly clock?: Clock;
  readonly onRequest?: (event: RegistryRequestEvent) => void;
}

/** The default of `maxRetryWaitMs`: short enough for a reconcile to hold its worker. */
export const DEFAULT_MAX_RETRY_WAIT_MS = 2_000;
/** Registries whose auth scheme is remembered. */
const MAX_SCHEMES = 1_000;

/**
 * A client for the OCI distribution API, small and spec-exact. Every manifest and blob it hands
 * out has been verified against its digest (and size); `Docker-Content-Digest` is checked too.
 * It retries 429/5xx/connection failures with exponential backoff (honouring Retry-After),
 * answers Basic and Bearer challenges, caches content by digest and tags for `tagCacheTtlMs`,
 * and shares one in-flight request between identical concurrent calls.
 * Failures are RegistryError with a code callers can branch on. Call `close` when done.
 */
export class RegistryClient {
  readonly #http: HttpTransport;
  readonly #options: RegistryClientOptions;
  readonly #clock: Clock;
  readonly #credentials: CredentialStore;
  readonly #tokens: TokenCache;
  /** Which scheme each registry asked for, so later requests authenticate up front. */
  readonly #schemes = new Map<string, Challenge>();
  readonly #content: ContentCache;
  readonly #scope: string;
  readonly #tags = new Map<string, { digest: string; expiresAt: number }>();
  readonly #inflight = new Map<string, Promise<unknown>>();
  /** Registries that answered 404 to the referrers API, until when they are asked by tag instead. */
  readonly #noReferrersApi = new Map<string, number>();

  constructor(options: RegistryClientOptions = {}) {
    this.#options = options;
    this.#http = new HttpTransport(options);
    this.#clock = options.clock ?? systemClock;
    this.#credentials = options.credentials ?? anonymousCredentials;
    this.#tokens = new TokenCache(() => this.#clock.now());
    this.#content = options.contentCache ?? new ContentCache(options.contentCacheBytes ?? 64 * 1024 * 1024);
    this.#scope = options.cacheScope ?? "";
  }

  /** The cache key of verified content: whose, from where, which digest. */
  #contentKey(ref: ImageReference, digest: string): string {
    return `${this.#scope} ${ref.registry}/${ref.repository}@${digest}`;
  }

  /** Checks that the registry speaks the distribution API (`GET /v2/`), authenticating if asked. */
  async ping(registry: string, signal?: AbortSignal): Promise<void> {
    await this.#send({ registry, operation: "ping", method: "GET", path: "/v2/", signal }, async (res) => {
      await res.discard();
      if (res.status !== 200)
        throw await this.#failure(res, registry, "ping", `registry ${registry} (GET /v2/)`);
    });
    this.#emit({ registry, operation: "ping", result: "ok", status: 200 });
  }

  /**
   * Resolves a reference to a digest. A digest reference is returned as is, without I/O (it is
   * immutable). A tag is asked with HEAD (falling back to GET when the registry gives no digest).
   */
  async resolve(ref: ImageReference, signal?: AbortSignal): Promise<ResolvedReference> {
    if (ref.digest !== undefined) return { digest: ref.digest };
    const key = `${ref.registry}/${ref.repository}:${ref.tag ?? "latest"}`;
    const cached = this.#tags.get(key);
    if (cached !== undefined && cached.expiresAt > this.#clock.now()) return { digest: cached.digest };
    return this.#shared(`resolve ${key}`, async () => {
      const what = `manifest ${key}`;
      const head = await this.#send(
        {
          registry: ref.registry,
          repository: ref.repository,
          operation: "resolve",
          method: "HEAD",
          path: `/v2/${ref.repository}/manifests/${manifestSelector(ref)}`,
          headers: { accept: MANIFEST_ACCEPT },
          signal,
        },
        async (res) => {
          await res.discard();
          if (res.status !== 200) throw await this.#failure(res, ref.registry, "resolve", what);
          return {
            digest: res.header("docker-content-digest"),
            size: Number(res.header("content-length")),
            mediaType: res.header("content-type"),
          };
        },
      );
      this.#emit({ registry: ref.registry, operation: "resolve", result: "ok", status: 200 });
      const { digest, size, mediaType } = head;
      if (digest === undefined) {
        const manifest = await this.getManifest(ref, signal);
        return {
          digest: manifest.index?.digest ?? manifest.digest,
          mediaType: manifest.mediaType,
          size: manifest.bytes.byteLength,
        };
      }
      this.#rememberTag(key, digest);
      return {
        digest,
        ...(mediaType !== undefined && { mediaType }),
        ...(Number.isFinite(size) && { size }),
      };
    });
  }

  /**
   * Fetches and verifies the manifest a reference names. An index is followed to the manifest
   * chosen by `selectFromIndex` (default: its only manifest). A known tag costs one HEAD; a
   * digest already fetched from the same repository costs nothing. (A HEAD's digest only ever
   * selects content cached from that same registry and repository.)
   */
  async getManifest(ref: ImageReference, signal?: AbortSignal): Promise<FetchedManifest> {
    const name = `${ref.registry}/${ref.repository}`;
    if (ref.digest === undefined) {
      const key = `${name}:${ref.tag ?? "latest"}`;
      if (this.#tags.has(key)) {
        const { digest } = await this.resolve(ref, signal);
        if (this.#content.get(this.#contentKey(ref, digest)) !== undefined)
          return this.getManifest({ ...ref, digest }, signal);
      }
    }
    return this.#shared(`manifest ${name}@${manifestSelector(ref)}`, async () => {
      const top = await this.#fetchManifest(ref, signal);
      if (!isIndexMediaType(top.mediaType)) return top;
      const chosen = chooseFromIndex(name, top, this.#options.selectFromIndex ?? onlyManifest);
      const child = await this.#fetchManifest(
        { registry: ref.registry, repository: ref.repository, digest: chosen.digest },
        signal,
      );
      if (isIndexMediaType(child.mediaType)) {
        throw new RegistryError(
          "InvalidResponse",
          `${name}@${chosen.digest} is a nested index; reference a manifest by digest`,
        );
      }
      return { ...child, index: { digest: top.digest, mediaType: top.mediaType } };
    });
  }

  /**
   * Fetches and verifies the manifest or index a reference names as it is: an index is not
   * followed (getManifest follows it). Cached like getManifest.
   */
  async getManifestDocument(ref: ImageReference, signal?: AbortSignal): Promise<FetchedManifest> {
    const name = `${ref.registry}/${ref.repository}`;
    return this.#shared(`document ${name}@${manifestSelector(ref)}`, () => this.#fetchManifest(ref, signal));
  }

  /**
   * Fetches a small blob (a config) fully into memory, verified, capped at `maxSmallBlobBytes`,
   * and cached by registry, repository and digest. A body cut short is retried.
   */
  async getBlob(ref: ImageReference, descriptor: Descriptor, signal?: AbortSignal): Promise<Uint8Array> {
    const cap = this.#options.maxSmallBlobBytes ?? 8 * 1024 * 1024;
    const what = `blob ${ref.registry}/${ref.repository}@${descriptor.digest}`;
    if (descriptor.size > cap) {
      throw new RegistryError(
        "TooLarge",
        `${what} declares ${descriptor.size} bytes, over the ${cap}-byte limit for configs`,
      );
    }
    const key = this.#contentKey(ref, descriptor.digest);
    const cached = this.#content.get(key);
    if (cached !== undefined) return cached;
    return this.#shared(`blob ${key}`, async () => {
      const bytes = await this.#send(this.#blobRequest(ref, descriptor, signal), async (res) => {
        if (res.status !== 200) throw await this.#failure(res, ref.registry, "blob", what);
        await this.#checkBlobResponse(res, ref, descriptor);
        const body = await readCapped(res, Math.min(cap, descriptor.size), what);
        if (body.byteLength !== descriptor.size) {
          throw new RegistryError(
            "InvalidResponse",
            `${what}: received ${body.byteLength} bytes, descriptor declares ${descriptor.size}`,
            { retryable: true },
          );
        }
        verifyBytes(body, descriptor.digest, what);
        return body;
      });
      this.#emit({ registry: ref.registry, operation: "blob", result: "ok", status: 200 });
      this.#content.set(key, bytes);
      return bytes;
    });
  }

  /**
   * Opens a blob as a stream. The stream errors (with DigestMismatchError or a size error)
   * instead of ending if the bytes do not match the descriptor, so a consumer that waits for
   * the end before trusting the data never trusts bad data.
   */
  async openBlob(ref: ImageReference, descriptor: Descriptor, signal?: AbortSignal): Promise<Readable> {
    const what = `blob ${ref.registry}/${ref.repository}@${descriptor.digest}`;
    const verifier = new DigestVerifier(descriptor.digest, descriptor.size, what);
    const res = await this.#getBlobResponse(ref, descriptor, signal);
    const verifying = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        try {
          verifier.update(chunk);
          callback(null, chunk);
        } catch (err) {
          callback(err as Error);
        }
      },
      flush(callback) {
        try {
          verifier.verify();
          callback();
        } catch (err) {
          callback(err as Error);
        }
      },
    });
    // A connection cut mid-body is a retryable registry failure, not a bare socket error.
    res.body.on("error", (err) => verifying.destroy(classifyNetworkError(err, res.url)));
    verifying.on("close", () => {
      if (!res.body.readableEnded) res.body.destroy();
    });
    return res.body.pipe(verifying);
  }

  /**
   * Like `openBlob`, for large blobs read once from start to end (publish-image copies them):
   * the body comes on the direct socket path (blob-download.ts, no HTTP client) in 1 MiB chunks,
   * verified as it goes; the stream errors instead of ending when the bytes do not match. An
   * answer that is not the blob (a challenge, an error) goes through `openBlob`, which
   * authenticates or explains it.
   */
  async streamBlob(ref: ImageReference, descriptor: Descriptor, signal?: AbortSignal): Promise<Readable> {
    const what = `blob ${ref.registry}/${ref.repository}@${descriptor.digest}`;
    const verifier = new DigestVerifier(descriptor.digest, descriptor.size, what);
    const direct = await this.#streamBody(ref, descriptor, signal, {
      inspect: (chunk) => void verifier.update(chunk),
      finish: () => verifier.verify(),
    });
    return direct ?? this.openBlob(ref, descriptor, signal);
  }

  /**
   * The blob between `prefix` and `suffix` (a file as a tar layer), streamed like `streamBlob`,
   * with `digest`: the digest of everything the stream gives, once it ended, after the blob was
   * verified (else it rejects with DigestMismatchError or a size error). Both hashes run on a
   * worker thread (dual-hasher.ts), so this thread only moves bytes.
   */
  async streamBlobFramed(
    ref: ImageReference,
    descriptor: Descriptor,
    frame: { readonly prefix: Buffer; readonly suffix: Buffer },
    signal?: AbortSignal,
  ): Promise<{ stream: Readable; digest: Promise<string> }> {
    const what = `blob ${ref.registry}/${ref.repository}@${descriptor.digest}`;
    const hasher = createDualHasher();
    let resolve: (digest: string) => void = () => undefined;
    let reject: (err: Error) => void = () => undefined;
    const digest = new Promise<string>((res, rej) => ((resolve = res), (reject = rej)));
    digest.catch(() => undefined); // the caller may never ask (its upload failed first)
    let bytes = 0;
    hasher.layerOnly(frame.prefix);
    const direct = await this.#streamBody(ref, descriptor, signal, {
      prefix: frame.prefix,
      suffix: frame.suffix,
      inspect: (chunk) => {
        bytes += chunk.byteLength;
        if (bytes > descriptor.size)
          throw new RegistryError(
            "InvalidResponse",
            `${what}: more than the ${descriptor.size} bytes declared`,
          );
        return hasher.source(chunk);
      },
      finish: async () => {
        hasher.layerOnly(frame.suffix);
        const got = await hasher.digests();
        if (bytes !== descriptor.size)
          throw new RegistryError(
            "InvalidResponse",
            `${what}: ${bytes} bytes, not the ${descriptor.size} declared`,
          );
        if (got.source !== descriptor.digest)
          throw new DigestMismatchError(what, descriptor.digest, got.source);
        resolve(got.layer);
      },
      fail: (err) => {
        hasher.dispose();
        reject(err);
      },
    });
    if (direct !== undefined) return { stream: direct, digest };
    hasher.dispose();
    // Not the blob on the direct path: the general one (it authenticates or explains), hashed here.
    const layer = createHash("sha256").update(frame.prefix);
    const source = await this.openBlob(ref, descriptor, signal);
    const framed = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        layer.update(chunk);
        callback(null, chunk);
      },
      flush(callback) {
        layer.update(frame.suffix);
        this.push(frame.suffix);
        resolve(`sha256:${layer.digest("hex")}`);
        callback();
      },
    });
    framed.push(frame.prefix);
    source.once("error", (err) => {
      reject(err);
      framed.destroy(err);
    });
    return { stream: source.pipe(framed), digest };
  }

  /**
   * A blob's body on the direct socket path, in 1 MiB chunks after `prefix` and before `suffix`,
   * each socket read handed to `inspect` first (it may return a promise to pause reading, or
   * throw to fail the stream); `finish` runs before the stream ends (throws: the stream errors).
   * Undefined when the answer is not the blob (the caller uses the general path).
   */
  async #streamBody(
    ref: ImageReference,
    descriptor: Descriptor,
    signal: AbortSignal | undefined,
    handlers: {
      prefix?: Buffer;
      suffix?: Buffer;
      inspect(chunk: Buffer): Promise<void> | undefined;
      finish(): Promise<void> | void;
      fail?(err: Error): void;
    },
  ): Promise<Readable | undefined> {
    this.#checkAllowed(ref.registry);
    if (!this.#schemes.has(ref.registry) && this.#credentials.lookup(ref.registry) !== undefined)
      await this.ping(ref.registry, signal).catch(() => undefined);
    const url = new URL(`/v2/${ref.repository}/blobs/${descriptor.digest}`, this.#baseUrl(ref.registry));
    const abort = new AbortController();
    const res = await this.#openBlobRange(
      ref,
      url,
      undefined,
      signal === undefined ? abort.signal : AbortSignal.any([signal, abort.signal]),
    );
    if (res.status !== 200) {
      await res.discard();
      return undefined;
    }
    const CHUNK = 1024 * 1024;
    let resume: (() => void) | undefined;
    let stopped = false;
    const out = new Readable({
      highWaterMark: 4 * CHUNK,
      read() {
        resume?.();
        resume = undefined;
      },
      destroy(err, callback) {
        stopped = true;
        resume?.();
        if (!out.readableEnded) abort.abort();
        if (err !== null) handlers.fail?.(err);
        callback(err);
      },
    });
    if (handlers.prefix !== undefined && handlers.prefix.byteLength > 0) out.push(handlers.prefix);
    let pending = Buffer.allocUnsafe(CHUNK);
    let filled = 0;
    let full = false;
    const push = (): void => {
      full = !out.push(pending.subarray(0, filled)) || full;
      pending = Buffer.allocUnsafe(CHUNK);
      filled = 0;
    };
    const fail = (err: unknown): void =>
      void out.destroy(err instanceof Error ? err : new Error(String(err)));
    res
      .consume((chunk) => {
        if (stopped) return STOP;
        const inspected = handlers.inspect(chunk);
        for (let offset = 0; offset < chunk.byteLength;) {
          const n = chunk.copy(pending, filled, offset);
          filled += n;
          offset += n;
          if (filled === CHUNK) push();
        }
        const backpressure = full ? new Promise<void>((resolve) => (resume = resolve)) : undefined;
        full = false;
        if (inspected === undefined) return backpressure;
        return backpressure === undefined
          ? inspected
          : Promise.all([inspected, backpressure]).then(() => undefined);
      })
      .then(async () => {
        if (stopped) return;
        if (filled > 0) push();
        await handlers.finish();
        if (handlers.suffix !== undefined && handlers.suffix.byteLength > 0) out.push(handlers.suffix);
        out.push(null);
        this.#emit({ registry: ref.registry, operation: "blob", result: "ok", status: 200 });
      })
      .catch(fail);
    return out;
  }

  /**
   * The manifests whose subject is `digest` in the reference's repository: `GET
   * /v2/<name>/referrers/<digest>`, or, where the registry has no referrers API (404), the index
   * under the fallback tag `sha256-<hex>` (none there: no referrers). Not cached (referrers
   * change); answers are read up to 1 MiB. A registry found without the API is remembered for
   * `tagCacheTtlMs` (at least a minute) and asked for the tag directly. Throws RegistryError.
   */
  async getReferrers(ref: ImageReference, digest: string, signal?: AbortSignal): Promise<Referrers> {
    const name = `${ref.registry}/${ref.repository}`;
    const fetchIndex = (path: string, what: string, via: Referrers["via"]): Promise<Referrers | undefined> =>
      this.#send(
        {
          registry: ref.registry,
          repository: ref.repository,
          operation: "manifest",
          method: "GET",
          path,
          headers: { accept: OCI_INDEX },
          signal,
        },
        async (res) => {
          if (res.status === 404) return void (await res.discard());
          if (res.status !== 200) throw await this.#failure(res, ref.registry, "manifest", what);
          const bytes = await readCapped(res, MAX_REFERRERS_BYTES, what);
          this.#emit({ registry: ref.registry, operation: "manifest", result: "ok", status: 200 });
          return { manifests: parseReferrers(bytes, what), via };
        },
      );
    const viaTag = async (): Promise<Referrers> =>
      (await fetchIndex(
        `/v2/${ref.repository}/manifests/${referrersTag(digest)}`,
        `referrers tag ${name}:${referrersTag(digest)}`,
        "tag",
      )) ?? { manifests: [], via: "tag" };
    const noApiUntil = this.#noReferrersApi.get(ref.registry);
    if (noApiUntil !== undefined && noApiUntil > this.#clock.now()) return viaTag();
    const answer = await fetchIndex(
      `/v2/${ref.repository}/referrers/${digest}`,
      `referrers of ${name}@${digest}`,
      "api",
    );
    if (answer !== undefined) return answer;
    setBounded(
      this.#noReferrersApi,
      ref.registry,
      this.#clock.now() + Math.max(60_000, this.#options.tagCacheTtlMs ?? 0),
      1_000,
    );
    return viaTag();
  }

  async close(): Promise<void> {
    await this.#http.close();
  }

  /** Whether the repository holds the blob (HEAD), asked with push access (see pushBlob). */
  async hasBlob(ref: ImageReference, digest: string, signal?: AbortSignal): Promise<boolean> {
    const what = `blob ${ref.registry}/${ref.repository}@${digest}`;
    return this.#send(
      this.#pushRequest(ref, "HEAD", `/v2/${ref.repository}/blobs/${digest}`, signal),
      async (res) => {
        await res.discard();
        if (res.status === 200) return true;
        if (res.status === 404) return false;
        throw await this.#failure(res, ref.registry, "push", what);
      },
    );
  }

  /**
   * Uploads a blob to the reference's repository unless it is there already (monolithic upload:
   * POST, then one PUT with the digest); resolves true when it uploaded. `body` is the bytes or
   * opens a fresh stream of them (called again when a PUT is retried). The registry checks the
   * digest; a 201 whose Docker-Content-Digest differs is refused. Throws RegistryError.
   */
  async pushBlob(
    ref: ImageReference,
    descriptor: Descriptor,
    body: Uint8Array | (() => Readable),
    signal?: AbortSignal,
  ): Promise<boolean> {
    if (await this.hasBlob(ref, descriptor.digest, signal)) return false;
    const what = `blob upload ${ref.registry}/${ref.repository}@${descriptor.digest}`;
    const location = await this.#send(
      this.#pushRequest(ref, "POST", `/v2/${ref.repository}/blobs/uploads/`, signal),
      async (res) => {
        await res.discard();
        const location = res.header("location");
        if (res.status !== 202 || location === undefined)
          throw await this.#failure(res, ref.registry, "push", what);
        return new URL(location, res.url);
      },
    );
    location.searchParams.set("digest", descriptor.digest);
    await this.#send(
      {
        ...this.#pushRequest(ref, "PUT", location.href, signal),
        headers: { "content-type": "application/octet-stream", "content-length": String(descriptor.size) },
        body,
      },
      async (res) => {
        await res.discard();
        if (res.status !== 201) throw await this.#failure(res, ref.registry, "push", what);
        const digest = res.header("docker-content-digest");
        if (digest !== undefined && digest !== descriptor.digest)
          throw new RegistryError(
            "DigestMismatch",
            `${what}: the registry stored ${digest}; check any proxy in between`,
          );
      },
    );
    this.#emit({ registry: ref.registry, operation: "push", result: "ok", status: 201 });
    return true;
  }

  /**
   * Uploads a blob whose digest is learnt only by reading it: POST, one streamed PATCH (hashed
   * as it is sent), then a PUT with the digest to commit it, so nothing is read twice or held in
   * memory. `open` gives the bytes and is called again for each attempt; `size`, when known, is
   * sent as Content-Length. An error of the source stream (e.g. a DigestMismatchError of the blob
   * it copies) is thrown as it is and nothing is committed; a registry or network failure starts
   * a new upload, up to `maxAttempts` times. Throws RegistryError.
   */
  async uploadBlob(
    ref: ImageReference,
    open: () => Readable | { readonly stream: Readable; readonly digest: Promise<string> },
    options: { size?: number; signal?: AbortSignal } = {},
  ): Promise<{ digest: string; size: number }> {
    const what = `blob upload ${ref.registry}/${ref.repository}`;
    const attempts = Math.max(1, this.#options.maxAttempts ?? 4);
    for (let attempt = 1; ; attempt++) {
      let sourceError: unknown;
      const hash = createHash("sha256");
      let size = 0;
      let hashed: Promise<string> | undefined;
      const body = (): Readable => {
        const opened = open();
        if (!(opened instanceof Readable)) {
          // Hashed by its source (streamBlobFramed): nothing to do here but pass it on.
          hashed = opened.digest;
          size = options.size ?? 0;
          opened.stream.once("error", (err) => (sourceError = err));
          return opened.stream;
        }
        const source = opened;
        const hashing = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            hash.update(chunk);
            size += chunk.byteLength;
            callback(null, chunk);
          },
        });
        source.once("error", (err) => {
          sourceError = err;
          hashing.destroy(err);
        });
        return source.pipe(hashing);
      };
      try {
        const location = await this.#send(
          this.#pushRequest(ref, "POST", `/v2/${ref.repository}/blobs/uploads/`, options.signal),
          async (res) => {
            await res.discard();
            const location = res.header("location");
            if (res.status !== 202 || location === undefined)
              throw await this.#failure(res, ref.registry, "push", what);
            return new URL(location, res.url);
          },
        );
        const committed = await this.#send(
          {
            ...this.#pushRequest(ref, "PATCH", location.href, options.signal),
            headers: {
              "content-type": "application/octet-stream",
              ...(options.size !== undefined && { "content-length": String(options.size) }),
            },
            body,
            once: true,
          },
          async (res) => {
            await res.discard();
            const next = res.header("location");
            if (res.status !== 202 || next === undefined)
              throw await this.#failure(res, ref.registry, "push", what);
            return new URL(next, res.url);
          },
        );
        if (sourceError !== undefined) throw sourceError;
        let digest: string;
        try {
          digest = hashed === undefined ? `sha256:${hash.digest("hex")}` : await hashed;
        } catch (err) {
          sourceError = err;
          throw err;
        }
        committed.searchParams.set("digest", digest);
        await this.#send(
          {
            ...this.#pushRequest(ref, "PUT", committed.href, options.signal),
            headers: { "content-length": "0" },
            once: true,
          },
          async (res) => {
            await res.discard();
            if (res.status !== 201) throw await this.#failure(res, ref.registry, "push", `${what}@${digest}`);
            const stored = res.header("docker-content-digest");
            if (stored !== undefined && stored !== digest)
              throw new RegistryError(
                "DigestMismatch",
                `${what}: the registry stored ${stored}, we sent ${digest}; check any proxy in between`,
              );
          },
        );
        this.#emit({ registry: ref.registry, operation: "push", result: "ok", status: 201 });
        return { digest, size };
      } catch (err) {
        if (sourceError !== undefined) throw sourceError;
        if (
          !(err instanceof RegistryError) ||
          !err.retryable ||
          attempt >= attempts ||
          options.signal?.aborted
        )
          throw err;
      }
    }
  }

  /**
   * PUTs a manifest under the reference's tag (or digest) and returns its digest. Its blobs must
   * be in the repository already. A registry that answers with another digest is refused.
   */
  async pushManifest(
    ref: ImageReference,
    mediaType: string,
    bytes: Uint8Array,
    signal?: AbortSignal,
  ): Promise<string> {
    const digest = sha256Digest(bytes);
    const what = `manifest ${ref.registry}/${ref.repository}:${manifestSelector(ref)}`;
    await this.#send(
      {
        ...this.#pushRequest(ref, "PUT", `/v2/${ref.repository}/manifests/${manifestSelector(ref)}`, signal),
        headers: { "content-type": mediaType, "content-length": String(bytes.byteLength) },
        body: bytes,
      },
      async (res) => {
        await res.discard();
        if (res.status !== 201) throw await this.#failure(res, ref.registry, "push", what);
        const stored = res.header("docker-content-digest");
        if (stored !== undefined && stored !== digest)
          throw new RegistryError(
            "DigestMismatch",
            `${what}: the registry stored ${stored}, we sent ${digest}`,
          );
      },
    );
    this.#emit({ registry: ref.registry, operation: "push", result: "ok", status: 201 });
    return digest;
  }

  #pushRequest(
    ref: ImageReference,
    method: SendRequest["method"],
    path: string,
    signal: AbortSignal | undefined,
  ): SendRequest {
    return {
      registry: ref.registry,
      repository: ref.repository,
      operation: "push",
      method,
      path,
      scope: pushScope(ref.repository),
      signal,
    };
  }

  /**
   * Downloads a blob into a file (mode 0600), verified against the descriptor's size and digest;
   * resolves with the byte count. Large blobs come in ranged parts over up to `connections`
   * connections at once (ranged-download.ts: the count adapts to what pays and what the registry
   * allows); with `resume`, a partial file left by an earlier attempt (recorded beside it) is
   * continued. An answer that is not the blob (a challenge, a 404) goes through the general
   * request path, which authenticates or explains the failure. Throws RegistryError,
   * DigestMismatchError or BlobWriteError; after a failure the partial file stays (for a resume),
   * the caller removes it when it gives up (`discardPartial`).
   */
  async downloadBlob(
    ref: ImageReference,
    descriptor: Descriptor,
    path: string,
    options: {
      signal?: AbortSignal;
      onBytes?: (bytes: number) => void;
      onResumed?: (bytes: number) => void;
      connections?: number;
      resume?: boolean;
      /** See RangedDownloadOptions.cpuShare. */
      cpuShare?: () => number;
      /** See RangedDownloadOptions.group. */
      group?: DownloadGroup;
    } = {},
  ): Promise<number> {
    const what = `blob ${ref.registry}/${ref.repository}@${descriptor.digest}`;
    const onBytes = options.onBytes ?? (() => undefined);
    this.#checkAllowed(ref.registry);
    // Learn the registry's auth scheme first, so every part carries its credentials.
    if (!this.#schemes.has(ref.registry) && this.#credentials.lookup(ref.registry) !== undefined)
      await this.ping(ref.registry, options.signal).catch(() => undefined);
    const url = new URL(`/v2/${ref.repository}/blobs/${descriptor.digest}`, this.#baseUrl(ref.registry));
    {
      const result = await downloadRanged({
        path,
        digest: descriptor.digest,
        size: descriptor.size,
        what,
        open: (range, signal) => this.#openBlobRange(ref, url, range, signal),
        maxConnections: options.connections ?? 1,
        resume: options.resume === true,
        onBytes,
        clock: this.#clock,
        ...(options.onResumed !== undefined && { onResumed: options.onResumed }),
        ...(options.cpuShare !== undefined && { cpuShare: options.cpuShare }),
        ...(options.group !== undefined && { group: options.group }),
        ...(options.signal !== undefined && { signal: options.signal }),
      });
      if (result.kind === "done") {
        this.#emit({ registry: ref.registry, operation: "blob", result: "ok", status: 200 });
        return descriptor.size;
      }
    }
    const stream = await this.openBlob(ref, descriptor, options.signal);
    stream.on("data", (chunk: Buffer) => onBytes(chunk.byteLength));
    // Small writes, as on the fast path (see blob-writer.ts for why large write calls cost more).
    const file = createWriteStream(path, { mode: 0o600, highWaterMark: WRITE_SLICE_BYTES });
    await pipeline(stream, file);
    return file.bytesWritten;
  }

  /**
   * One GET of a blob (or of `range` of it) on the direct socket path (blob-download.ts), with
   * the credentials the registry asked for; a 401 after a token expired gets one new token.
   * Redirects are followed (never with the credentials to another origin). The answer is the
   * caller's to read.
   */
  async #openBlobRange(
    ref: ImageReference,
    url: URL,
    range: ByteRange | undefined,
    signal: AbortSignal,
  ): Promise<BlobResponse> {
    const scope = pullScope(ref.repository);
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.#authorization(ref.registry, scope, signal);
      const res = await openRawBlob(
        {
          url,
          headers: {
            "user-agent": this.#options.userAgent ?? "modelpack-operator",
            ...(authorization !== undefined && { authorization }),
          },
          ...(this.#options.caPem !== undefined && { caPem: this.#options.caPem }),
          ...(this.#options.insecureSkipTlsVerify !== undefined && {
            insecureSkipTlsVerify: this.#options.insecureSkipTlsVerify,
          }),
          idleTimeoutMs: this.#options.bodyTimeoutMs ?? 60_000,
          signal,
        },
        range,
      );
      if (res.status !== 401 || authorization === undefined || attempt > 0) return res;
      await res.discard();
      this.#tokens.delete(ref.registry, scope);
    }
  }

  async #getBlobResponse(
    ref: ImageReference,
    descriptor: Descriptor,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    const what = `blob ${ref.registry}/${ref.repository}@${descriptor.digest}`;
    const res = await this.#send(this.#blobRequest(ref, descriptor, signal), async (res) => {
      if (res.status !== 200) throw await this.#failure(res, ref.registry, "blob", what);
      await this.#checkBlobResponse(res, ref, descriptor);
      return res;
    });
    this.#emit({ registry: ref.registry, operation: "blob", result: "ok", status: res.status });
    return res;
  }

  #blobRequest(ref: ImageReference, descriptor: Descriptor, signal: AbortSignal | undefined): SendRequest {
    return {
      registry: ref.registry,
      repository: ref.repository,
      operation: "blob",
      method: "GET",
      path: `/v2/${ref.repository}/blobs/${descriptor.digest}`,
      signal,
    };
  }

  /** Refuses a 200 whose announced length is not the descriptor's (the body is discarded). */
  async #checkBlobResponse(res: HttpResponse, ref: ImageReference, descriptor: Descriptor): Promise<void> {
    const length = res.header("content-length");
    if (res.status === 200 && length !== undefined && Number(length) !== descriptor.size) {
      await res.discard();
      throw new RegistryError(
        "InvalidResponse",
        `blob ${ref.registry}/${ref.repository}@${descriptor.digest}: registry announces ${length} bytes, descriptor declares ${descriptor.size}`,
      );
    }
  }

  async #fetchManifest(ref: ImageReference, signal?: AbortSignal): Promise<FetchedManifest> {
    const name = `${ref.registry}/${ref.repository}`;
    if (ref.digest !== undefined) {
      const cached = this.#content.get(this.#contentKey(ref, ref.digest));
      if (cached !== undefined) return toManifest(ref, ref.digest, cached, undefined);
    }
    const what = `manifest ${name}${ref.digest !== undefined ? "@" + ref.digest : ":" + (ref.tag ?? "latest")}`;
    const { bytes, digest, contentType } = await this.#send(
      {
        registry: ref.registry,
        repository: ref.repository,
        operation: "manifest",
        method: "GET",
        path: `/v2/${ref.repository}/manifests/${manifestSelector(ref)}`,
        headers: { accept: MANIFEST_ACCEPT },
        signal,
      },
      async (res) => {
        if (res.status !== 200) throw await this.#failure(res, ref.registry, "manifest", what);
        const bytes = await readCapped(res, this.#options.maxManifestBytes ?? 4 * 1024 * 1024, what);
        const digest = manifestDigest(ref, bytes, res.header("docker-content-digest"), what);
        return { bytes, digest, contentType: res.header("content-type") };
      },
    );
    this.#emit({ registry: ref.registry, operation: "manifest", result: "ok", status: 200 });
    this.#content.set(this.#contentKey(ref, digest), bytes);
    if (ref.digest === undefined) this.#rememberTag(`${name}:${ref.tag ?? "latest"}`, digest);
    return toManifest(ref, digest, bytes, contentType);
  }

  #rememberTag(key: string, digest: string): void {
    setBounded(
      this.#tags,
      key,
      { digest, expiresAt: this.#clock.now() + (this.#options.tagCacheTtlMs ?? 0) },
      this.#options.maxTagEntries ?? 10_000,
    );
  }

  /** Runs `work` once for concurrent callers with the same key. */
  #shared<T>(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.#inflight.get(key);
    if (running !== undefined) return running as Promise<T>;
    const promise = work().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, promise);
    return promise;
  }

  #emit(event: RegistryRequestEvent): void {
    this.#options.onRequest?.(event);
  }

  #baseUrl(registry: string): string {
    return registryBaseUrl(this.#options, registry);
  }

  #checkAllowed(registry: string): void {
    checkAllowed(this.#options, registry);
  }

  /** Builds a RegistryError from a non-success response (the body is read for the registry's own words). */
  async #failure(
    res: HttpResponse,
    registry: string,
    operation: RegistryRequestEvent["operation"],
    what: string,
  ): Promise<RegistryError> {
    const error = await responseFailure(res, what, this.#clock.now());
    this.#emit({ registry, operation, result: error.code, status: res.status });
    return error;
  }

  /**
   * Sends one logical request and hands each answer that is not a 401, 429 or 5xx to `handle`
   * (which reads and checks it), authenticating (one challenge per attempt) and retrying
   * retryable failures, including those `handle` meets reading a body (a reset or a body cut
   * short after the headers). Waits between attempts stay within `maxRetryWaitMs` in total; a
   * longer wait is left to the caller (the failure is thrown with its `retryAfterSeconds`).
   */
  async #send<T>(req: SendRequest, handle: (res: HttpResponse) => Promise<T>): Promise<T> {
    this.#checkAllowed(req.registry);
    const base = new URL(this.#baseUrl(req.registry));
    const url = new URL(req.path, base);
    // Credentials are for the registry: a Location on another origin never receives them.
    const sameOrigin = url.origin === base.origin;
    const scope = req.scope ?? (req.repository !== undefined ? pullScope(req.repository) : "");
    const maxAttempts = req.once === true ? 1 : Math.max(1, this.#options.maxAttempts ?? 4);
    const maxWaitMs = Math.max(0, this.#options.maxRetryWaitMs ?? DEFAULT_MAX_RETRY_WAIT_MS);
    const backoff = exponentialFailureRateLimiter<string>(
      this.#options.retryBaseDelayMs ?? 200,
      this.#options.retryMaxDelayMs ?? 10_000,
    );
    let waitedMs = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        let authorization = await this.#authorization(req.registry, scope, req.signal);
        for (let challenged = false; ; challenged = true) {
          const headers: Record<string, string> = {
            "user-agent": this.#options.userAgent ?? "modelpack-operator",
            ...req.headers,
          };
          if (authorization !== undefined && sameOrigin) headers.authorization = authorization;
          const res = await this.#http.send({
            method: req.method,
            url,
            headers,
            ...(req.body !== undefined && { body: req.body }),
            ...(req.signal !== undefined && { signal: req.signal }),
          });
          if (res.status === 401 && !challenged) {
            const challenge = parseChallenges(res.header("www-authenticate") ?? "").find(
              (c) => c.scheme === "bearer" || c.scheme === "basic",
            );
            await res.discard();
            if (challenge === undefined)
              throw await this.#failure(res, req.registry, req.operation, `${req.method} ${url.pathname}`);
            setBounded(this.#schemes, req.registry, challenge, MAX_SCHEMES);
            this.#tokens.delete(req.registry, scope);
            authorization = await this.#authorization(
              req.registry,
              challenge.params.scope ?? scope,
              req.signal,
            );
            if (authorization === undefined) {
              throw this.#unauthorized(
                req.registry,
                `${req.method} ${url.pathname}`,
                "the registry requires authentication and no credentials are configured for it",
              );
            }
            continue;
          }
          if (res.status === 401) {
            await res.discard();
            throw this.#unauthorized(
              req.registry,
              `${req.method} ${url.pathname}`,
              "the registry rejected the configured credentials",
            );
          }
          if (RETRYABLE_STATUS.has(res.status))
            throw await this.#failure(res, req.registry, req.operation, `${req.method} ${url.pathname}`);
          return await handle(res);
        }
      } catch (err) {
        if (
          !(err instanceof RegistryError) ||
          !err.retryable ||
          attempt >= maxAttempts ||
          req.signal?.aborted
        )
          throw err;
        const delay =
          err.retryAfterSeconds !== undefined ? err.retryAfterSeconds * 1000 : backoff.when(req.path);
        // Not slept here: the caller requeues (the controller) after `retryAfterSeconds`.
        if (waitedMs + delay > maxWaitMs) throw err;
        waitedMs += delay;
        await this.#clock.sleep(delay, req.signal);
      }
    }
  }

  #unauthorized(registry: string, what: string, cause: string): RegistryError {
    const credential = this.#credentials.lookup(registry);
    const details = [
      ...(credential?.kind === "basic" ? [`user "${credential.username}"`] : []),
      ...(credential?.source !== undefined ? [`from ${credential.source}`] : []),
    ];
    const who = details.length > 0 ? ` (${details.join(", ")})` : "";
    const fix = credential?.source?.startsWith("pull secret ")
      ? `check that Secret's credentials for ${registry}`
      : `check the pull secret or Docker config for ${registry}`;
    this.#emit({ registry, operation: "token", result: "Unauthorized" });
    return new RegistryError("Unauthorized", `${what} on ${registry}: ${cause}${who}; ${fix}`, {
      status: 401,
    });
  }

  /** The Authorization header for a registry and scope, once the registry has challenged us (fetches a token when needed). */
  async #authorization(registry: string, scope: string, signal?: AbortSignal): Promise<string | undefined> {
    const challenge = this.#schemes.get(registry);
    if (challenge === undefined) return undefined;
    const credential = this.#credentials.lookup(registry);
    if (credential?.kind === "helper") {
      throw new RegistryError(
        "UnsupportedCredentials",
        `${credential.source} sends ${registry} to the credential helper ${credential.helper}, which modelpack-operator cannot run; ` +
          `log in with a file-based credential store (docker login with "credsStore" removed) or use a dockerconfigjson pull secret`,
      );
    }
    if (challenge.scheme === "basic") {
      if (credential?.kind !== "basic") return undefined;
      return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString("base64")}`;
    }
    if (credential?.kind === "registryToken") return `Bearer ${credential.token}`;
    const cached = this.#tokens.get(registry, scope);
    if (cached !== undefined) return `Bearer ${cached}`;
    const token = await this.#shared(`token ${registry} ${scope}`, () =>
      this.#fetchToken(registry, challenge, scope, credential, signal),
    );
    return `Bearer ${token}`;
  }

  /** Asks the challenge's realm for a bearer token and keeps it for its lifetime (token.ts). */
  async #fetchToken(
    registry: string,
    challenge: Challenge,
    scope: string,
    credential: Credential | undefined,
    signal?: AbortSignal,
  ): Promise<string> {
    const issued = await requestToken(
      {
        http: this.#http,
        userAgent: this.#options.userAgent ?? "modelpack-operator",
        checkRealm: (r, url) => checkRealm(this.#options, r, url),
        unauthorized: (r, what, cause) => this.#unauthorized(r, what, cause),
        failure: (res, what) => this.#failure(res, registry, "token", what),
      },
      registry,
      challenge,
      scope,
      credential,
      signal,
    );
    this.#tokens.set(registry, scope, issued.token, issued.expiresInSeconds);
    this.#emit({ registry, operation: "token", result: "ok", status: issued.status });
    return issued.token;
  }
}
