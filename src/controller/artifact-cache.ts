import { createHash } from "node:crypto";
import { inspectArtifact, type ArtifactInspection } from "../artifact/inspect.js";
import { RegistryClient, type RegistryClientOptions } from "../oci/client.js";
import type { CredentialStore } from "../oci/credentials.js";
import { formatReference, type ImageReference } from "../oci/reference.js";
import type { Clock } from "../runtime/clock.js";

/** Credentials for one lookup, with a stable identity (which secrets, at which versions). */
export interface LookupCredentials {
  readonly store: CredentialStore;
  /** Equal identities mean equal credentials, e.g. `ns/regcred@12345`; "" is anonymous. */
  readonly identity: string;
}

export interface ArtifactCacheOptions {
  /** Options for every registry client (TLS, plain-HTTP registries, allow-list, metrics hook). */
  readonly client: Omit<RegistryClientOptions, "credentials" | "clock">;
  readonly clock: Clock;
  /** Entries kept; the least recently used go first. Default 1000. */
  readonly maxEntries?: number;
  /** Registry clients kept (one per credential identity). Default 100. */
  readonly maxClients?: number;
}

interface Entry {
  readonly inspection: ArtifactInspection;
  readonly fetchedAt: number;
}

/**
 * Shares registry round trips between ModelDeployments: identical references with identical
 * credentials are inspected once per `maxAgeMs` (the caller's refresh interval), concurrent
 * lookups share one in-flight inspection, and digest references are immutable so they are never
 * fetched twice. Failures are not cached: the caller's backoff decides when to try again.
 */
export class ArtifactCache {
  readonly #options: ArtifactCacheOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Entry>>();
  readonly #clients = new Map<string, RegistryClient>();

  constructor(options: ArtifactCacheOptions) {
    this.#options = options;
  }

  /**
   * The inspection of `ref`, at most `maxAgeMs` old for a tag (digests never expire).
   * Throws RegistryError for registry and network failures.
   */
  async inspect(
    ref: ImageReference,
    credentials: LookupCredentials,
    maxAgeMs: number,
    signal?: AbortSignal,
  ): Promise<ArtifactInspection> {
    const key = `${formatReference(ref)} ${credentials.identity}`;
    const cached = this.#entries.get(key);
    const now = this.#options.clock.now();
    if (cached !== undefined && (ref.digest !== undefined || now - cached.fetchedAt < maxAgeMs)) {
      this.#touch(this.#entries, key, cached);
      return cached.inspection;
    }
    let running = this.#inflight.get(key);
    if (running === undefined) {
      const client = this.#client(credentials);
      running = inspectArtifact(client, ref, signal)
        .then((inspection) => {
          const entry = { inspection, fetchedAt: this.#options.clock.now() };
          this.#touch(this.#entries, key, entry);
          this.#evict(this.#entries, this.#options.maxEntries ?? 1000);
          return entry;
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, running);
    }
    return (await running).inspection;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#clients.values()].map((c) => c.close()));
    this.#clients.clear();
  }

  #client(credentials: LookupCredentials): RegistryClient {
    const existing = this.#clients.get(credentials.identity);
    if (existing !== undefined) {
      this.#touch(this.#clients, credentials.identity, existing);
      return existing;
    }
    const client = new RegistryClient({
      ...this.#options.client,
      credentials: credentials.store,
      clock: this.#options.clock,
    });
    this.#clients.set(credentials.identity, client);
    const max = this.#options.maxClients ?? 100;
    for (const [identity, old] of this.#clients) {
      if (this.#clients.size <= max) break;
      this.#clients.delete(identity);
      void old.close();
    }
    return client;
  }

  #touch<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
  }

  #evict<V>(map: Map<string, V>, max: number): void {
    for (const key of map.keys()) {
      if (map.size <= max) break;
      map.delete(key);
    }
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
