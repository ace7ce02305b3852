/**
 * The image-variant step of a reconcile (I/O): where a variant could help (plan-image-variant.ts
 * `wantsImageVariant`), the artifact's image variant is looked for (artifact/find-variant.ts:
 * referrers API, then the sha256-<hex> tag) and checked against the artifact. Look-ups are cached
 * by credentials, repository and artifact digest for `ttlMs` (a variant published later is seen
 * within it) and shared while in flight, so 2,000 ModelDeployments of one model cost one.
 */
import { findVariant, type VariantRegistry } from "../artifact/find-variant.js";
import { mountability, type Mountability, type OciManifest } from "../modelpack/index.js";
import { IMAGE_MOUNTABILITY } from "./strategy.js";
import { RegistryError } from "../oci/errors.js";
import { RegistryClient, type RegistryClientOptions } from "../oci/client.js";
import type { ImageReference } from "../oci/reference.js";
import type { Clock } from "../runtime/clock.js";
import type { LookupCredentials } from "./artifact-cache.js";
import { clientPool } from "./client-pool.js";

/** What the step observed. */
export interface VariantObservation {
  readonly outcome:
    | { readonly none: true; readonly via: "api" | "tag" }
    | {
        readonly found: {
          readonly digest: string;
          /** Empty when it matches the artifact. */
          readonly problems: readonly string[];
          /** How runtimes mount it (an image manifest's mountability). */
          readonly mount: Mountability;
        };
        readonly via: "api" | "tag";
      }
    /** The registry failed; retried on the next reconcile. */
    | { readonly failure: string };
  /** Present when signatures are required: the verdict on the variant's digest. */
  readonly signature?: { readonly verified: true } | { readonly verified: false; readonly message: string };
}

export interface VariantFinder {
  /** The variant of `artifact` in `reference`'s repository; never throws for registry failures. */
  find(
    reference: ImageReference,
    artifact: { readonly digest: string; readonly manifest: OciManifest },
    credentials: LookupCredentials,
    signal?: AbortSignal,
  ): Promise<VariantObservation["outcome"]>;
}

export interface VariantFinderOptions {
  readonly client: Omit<RegistryClientOptions, "credentials">;
  readonly clock: Clock;
  /** How long a look-up is reused. Default 60 s. */
  readonly ttlMs?: number;
  /** Look-ups kept. Default 1,000. */
  readonly maxEntries?: number;
  /** Registry clients kept (one per credential identity). Default 100. */
  readonly maxClients?: number;
  /** Makes the registry clients (tests pass a fake). */
  readonly createClient?: (options: RegistryClientOptions) => VariantRegistry & { close(): Promise<void> };
}

/** Creates the finder with its bounded caches. */
export function createVariantFinder(options: VariantFinderOptions): VariantFinder {
  const ttlMs = options.ttlMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 1_000;
  const maxClients = options.maxClients ?? 100;
  const create = options.createClient ?? ((o: RegistryClientOptions) => new RegistryClient(o));
  const entries = new Map<string, { outcome: VariantObservation["outcome"]; expiresAt: number }>();
  const inflight = new Map<string, Promise<VariantObservation["outcome"]>>();

  const registryFor: (credentials: LookupCredentials) => VariantRegistry = clientPool(
    create,
    options.client,
    maxClients,
  );

  const lookUp = async (
    reference: ImageReference,
    artifact: { readonly digest: string; readonly manifest: OciManifest },
    credentials: LookupCredentials,
    signal?: AbortSignal,
  ): Promise<VariantObservation["outcome"]> => {
    const repo = { registry: reference.registry, repository: reference.repository };
    try {
      const found = await findVariant(registryFor(credentials), repo, artifact, signal);
      const v = found.variant;
      if (v === undefined) return { none: true, via: found.via };
      const image = v.images[0]?.manifest;
      // A variant without a readable image has problems already; it is never used.
      const mount =
        image === undefined
          ? IMAGE_MOUNTABILITY
          : mountability({ schemaVersion: 2, config: image.config, layers: image.layers });
      return { found: { digest: v.digest, problems: v.problems, mount }, via: found.via };
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      return { failure: err.message };
    }
  };

  return {
    async find(reference, artifact, credentials, signal) {
      const key = `${credentials.identity} ${reference.registry}/${reference.repository}@${artifact.digest}`;
      const cached = entries.get(key);
      if (cached !== undefined && cached.expiresAt > options.clock.now()) return cached.outcome;
      const running = inflight.get(key);
      if (running !== undefined) return running;
      const work = lookUp(reference, artifact, credentials, signal)
        .then((outcome) => {
          if (!("failure" in outcome)) {
            entries.delete(key);
            entries.set(key, { outcome, expiresAt: options.clock.now() + ttlMs });
            for (const old of entries.keys()) {
              if (entries.size <= maxEntries) break;
              entries.delete(old);
            }
          }
          return outcome;
        })
        .finally(() => inflight.delete(key));
      inflight.set(key, work);
      return work;
    },
  };
}
