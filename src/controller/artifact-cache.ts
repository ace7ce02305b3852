import { createHash } from "node:crypto";
import {
  DEFAULT_MAX_CONFIG_BYTES,
  inspectArtifact,
  type ArtifactInspection,
  type ArtifactRegistry,
} from "../artifact/inspect.js";
import {
  ANNOTATION_FILEPATH,
  ANNOTATION_TITLE,
  LEGACY_ANNOTATION_FILEPATH,
  type OciDescriptor,
} from "../modelpack/index.js";
import { ContentCache, RegistryClient, type RegistryClientOptions } from "../oci/client.js";
import type { CredentialStore } from "../oci/credentials.js";
import { formatReference, type ImageReference } from "../oci/reference.js";
import type { Clock } from "../runtime/clock.js";

/** Credentials for one lookup, with a stable identity (which secrets, at which versions). */
export interface LookupCredentials {
  readonly store: CredentialStore;
  /** Equal identities mean equal credentials, e.g. `ns/regcred@12345`; "" is anonymous. */
  readonly identity: string;
}

/** A registry client as the cache uses it: inspects through it, closes it once evicted. */
export interface CachedRegistryClient extends ArtifactRegistry {
  close(): Promise<void>;
}

/** Makes the registry client of one credential identity. Default: `new RegistryClient(options)`. */
export type RegistryClientFactory = (options: RegistryClientOptions) => CachedRegistryClient;

export interface ArtifactCacheOptions {
  /** Options for every registry client (TLS, plain-HTTP registries, allow-list, metrics hook). */
  readonly client: Omit<RegistryClientOptions, "credentials" | "clock" | "contentCache" | "cacheScope">;
  readonly clock: Clock;
  /** Entries kept; the least recently used go first. Default 1000. */
  readonly maxEntries?: number;
  /**
   * Approximate bytes of all kept entries (each counted at twice its JSON size); the least
   * recently used go first. Default 64 MiB.
   */
  readonly maxBytes?: number;
  /** An inspection larger than this is returned but not kept. Default 4 MiB. */
  readonly maxEntryBytes?: number;
  /** Registry clients kept (one per credential identity). Default 100. */
  readonly maxClients?: number;
  /**
   * Bytes of verified manifests and configs the registry clients keep, all clients together
   * (each client's entries apart from the others'). Default 16 MiB.
   */
  readonly clientCacheBytes?: number;
  /** Configs larger than this are refused unread (validation error ConfigTooLarge). Default 1 MiB. */
  readonly maxConfigBytes?: number;
  /** Makes the registry clients (tests pass a fake registry). Default `new RegistryClient(options)`. */
  readonly createClient?: RegistryClientFactory;
}

export const ARTIFACT_CACHE_DEFAULTS = {
  maxEntries: 1000,
  maxBytes: 64 * 1024 * 1024,
  maxEntryBytes: 4 * 1024 * 1024,
  maxClients: 100,
  clientCacheBytes: 16 * 1024 * 1024,
  maxConfigBytes: DEFAULT_MAX_CONFIG_BYTES,
} as const;

interface Entry {
  readonly inspection: ArtifactInspection;
  readonly fetchedAt: number;
  readonly bytes: number;
}

/** Layer annotations that decide mountability (lint.ts); the others are dropped from the cache. */
const NAME_ANNOTATIONS: readonly string[] = [
  ANNOTATION_TITLE,
  ANNOTATION_FILEPATH,
  LEGACY_ANNOTATION_FILEPATH,
];

/**
 * What the controller keeps of an inspection (pure): everything status and admission read
 * (reference, digests, summary, validation findings, legacy note) and a manifest reduced to what
 * `mountability` and the validation verdict read (media types, artifactType, the config
 * descriptor, each layer's media type, digest, size and name annotations). The config and its
 * raw JSON, the manifest's other annotations and its subject are dropped.
 */
export function compactInspection(inspection: ArtifactInspection): ArtifactInspection {
  const { config: _config, configJson: _configJson, manifest, ...rest } = inspection;
  if (manifest === undefined) return rest;
  const descriptor = (d: OciDescriptor): OciDescriptor => {
    const names = NAME_ANNOTATIONS.flatMap((k) => {
      const value = d.annotations?.[k];
      return value === undefined ? [] : [[k, value] as const];
    });
    return {
      mediaType: d.mediaType,
      digest: d.digest,
      size: d.size,
      ...(names.length > 0 && { annotations: Object.fromEntries(names) }),
    };
  };
  return {
    ...rest,
    manifest: {
      schemaVersion: manifest.schemaVersion,
      ...(manifest.mediaType !== undefined && { mediaType: manifest.mediaType }),
      ...(manifest.artifactType !== undefined && { artifactType: manifest.artifactType }),
      config: descriptor({ ...manifest.config, annotations: {} }),
      layers: manifest.layers.map(descriptor),
    },
  };
}

/** The approximate memory of a kept inspection: twice its JSON size (V8 objects and strings). */
export function inspectionBytes(inspection: ArtifactInspection): number {
  return 2 * Buffer.byteLength(JSON.stringify(inspection)) + 512;
}

/**
 * Shares registry round trips between ModelDeployments: identical references with identical
 * credentials are inspected once per `maxAgeMs` (the caller's refresh interval), concurrent
 * lookups share one in-flight inspection, and digest references are immutable so they are never
 * fetched twice. Failures are not cached: the caller's backoff decides when to try again.
 * Memory is bounded whatever tenants reference: entries are compact (`compactInspection`) and
 * kept within `maxBytes`, the registry clients share one `clientCacheBytes` content cache, and
 * configs over `maxConfigBytes` are refused unread.
 */
export class ArtifactCache {
  readonly #options: ArtifactCacheOptions;
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  readonly #inflight = new Map<string, Promise<Entry>>();
  readonly #clients = new Map<string, CachedRegistryClient>();
  readonly #content: ContentCache;

  constructor(options: ArtifactCacheOptions) {
    this.#options = options;
    this.#content = new ContentCache(options.clientCacheBytes ?? ARTIFACT_CACHE_DEFAULTS.clientCacheBytes);
  }

  /** Entries kept and their approximate bytes (for tests and metrics). */
  get size(): { readonly entries: number; readonly bytes: number; readonly clientCacheBytes: number } {
    return { entries: this.#entries.size, bytes: this.#bytes, clientCacheBytes: this.#content.bytes };
  }

  /**
   * The inspection of `ref` (compact: see `compactInspection`), at most `maxAgeMs` old for a tag
   * (digests never expire). Throws RegistryError for registry and network failures.
   */
  async inspect(
    ref: ImageReference,
    credentials: LookupCredentials,
    maxAgeMs: number,
    signal?: AbortSignal,
  ): Promise<ArtifactInspection> {
    const key = `${formatReference(ref)} ${credentials.identity}`;
    const fresh = this.cached(ref, credentials, maxAgeMs);
    if (fresh !== undefined) return fresh;
    let running = this.#inflight.get(key);
    if (running === undefined) {
      const client = this.#client(credentials);
      const maxConfigBytes = this.#options.maxConfigBytes ?? ARTIFACT_CACHE_DEFAULTS.maxConfigBytes;
      running = inspectArtifact(client, ref, signal, { maxConfigBytes })
        .then((full) => {
          const inspection = compactInspection(full);
          const entry = {
            inspection,
            fetchedAt: this.#options.clock.now(),
            bytes: inspectionBytes(inspection),
          };
          this.#remember(key, entry);
          return entry;
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, running);
    }
    return (await running).inspection;
  }

  /**
   * The inspection `inspect` would answer without the registry (fresh for `maxAgeMs`, or a
   * digest), or undefined. Lets a caller that must not talk to the registry now still use it.
   */
  cached(
    ref: ImageReference,
    credentials: LookupCredentials,
    maxAgeMs: number,
  ): ArtifactInspection | undefined {
    const key = `${formatReference(ref)} ${credentials.identity}`;
    const cached = this.#entries.get(key);
    if (cached === undefined) return undefined;
    if (ref.digest === undefined && this.#options.clock.now() - cached.fetchedAt >= maxAgeMs)
      return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, cached);
    return cached.inspection;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#clients.values()].map((c) => c.close()));
    this.#clients.clear();
  }

  #remember(key: string, entry: Entry): void {
    const old = this.#entries.get(key);
    if (old !== undefined) {
      this.#entries.delete(key);
      this.#bytes -= old.bytes;
    }
    if (entry.bytes > (this.#options.maxEntryBytes ?? ARTIFACT_CACHE_DEFAULTS.maxEntryBytes)) return;
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes;
    const maxEntries = this.#options.maxEntries ?? ARTIFACT_CACHE_DEFAULTS.maxEntries;
    const maxBytes = this.#options.maxBytes ?? ARTIFACT_CACHE_DEFAULTS.maxBytes;
    for (const [oldKey, oldEntry] of this.#entries) {
      if (this.#entries.size <= maxEntries && this.#bytes <= maxBytes) break;
      this.#entries.delete(oldKey);
      this.#bytes -= oldEntry.bytes;
    }
  }

  #client(credentials: LookupCredentials): CachedRegistryClient {
    const existing = this.#clients.get(credentials.identity);
    if (existing !== undefined) {
      this.#clients.delete(credentials.identity);
      this.#clients.set(credentials.identity, existing);
      return existing;
    }
    const create = this.#options.createClient ?? ((o: RegistryClientOptions) => new RegistryClient(o));
    const client = create({
      maxSmallBlobBytes: this.#options.maxConfigBytes ?? ARTIFACT_CACHE_DEFAULTS.maxConfigBytes,
      ...this.#options.client,
      credentials: credentials.store,
      clock: this.#options.clock,
      contentCache: this.#content,
      cacheScope: credentials.identity,
    });
    this.#clients.set(credentials.identity, client);
    const max = this.#options.maxClients ?? ARTIFACT_CACHE_DEFAULTS.maxClients;
    for (const [identity, old] of this.#clients) {
      if (this.#clients.size <= max) break;
      this.#clients.delete(identity);
      void old.close();
    }
    return client;
  }
}

/** A short stable identity for a set of secrets: which ones, at which resource versions. */
export function credentialIdentity(
  secrets: readonly { namespace: string; name: string; resourceVersion?: string }[],
): string {
  if (secrets.length === 0) return "";
  const text = secrets.map((s) => `${s.namespace}/${s.name}@${s.resourceVersion ?? ""}`).join(",");
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}
