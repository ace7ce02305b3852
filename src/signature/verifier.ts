/**
 * The signature check the CLI and the controller share: find an artifact's signatures, check
 * them against the requirements and decide, with verdicts cached by (repository, digest,
 * requirements). A positive verdict stays until evicted (a digest's signature does not change);
 * a negative one for `negativeTtlMs`, so a signature pushed later is seen soon. Concurrent
 * identical checks share one run. Registry failures become a transient VerificationUnavailable
 * verdict, never cached.
 */
import { describeError } from "../errors.js";
import { RegistryError } from "../oci/errors.js";
import { formatReference, type ImageReference } from "../oci/reference.js";
import type { Clock } from "../runtime/clock.js";
import { checkSignature, prepareRequirement } from "./check.js";
import { decideVerification, type VerificationVerdict } from "./decide.js";
import { findBundles, findLegacySignatures, type FoundSignature, type SignatureRegistry } from "./find.js";
import { requirementFingerprint, type Requirement } from "./policy.js";

export interface SignatureVerifierOptions {
  readonly clock: Clock;
  /** Verdicts kept; the least recently used go first. Default 10,000 (a few hundred bytes each). */
  readonly maxEntries?: number;
  /** How long a failed verdict is reused. Default 10 s. */
  readonly negativeTtlMs?: number;
}

/** A verdict with the fingerprint of the requirements it was decided under. */
export type Verification = VerificationVerdict & { readonly requirement: string };

/** Verifies an artifact's cosign signatures; see the module comment. */
export interface SignatureVerifier {
  /**
   * The verdict on `pinned` (its `digest` must be set) under `requirements` (all must be met),
   * reading signatures through `registry`. `scope` separates callers whose registry access
   * differs (credentials). Never throws for registry failures; throws only when aborted.
   */
  verify(
    registry: SignatureRegistry,
    pinned: ImageReference,
    requirements: readonly Requirement[],
    options?: { readonly scope?: string; readonly signal?: AbortSignal },
  ): Promise<Verification>;
  /** Verdicts kept now (for tests and metrics). */
  readonly size: number;
}

interface Entry {
  readonly verdict: Verification;
  readonly expiresAt: number;
}

/** Creates a verifier with its own bounded cache. */
export function createSignatureVerifier(options: SignatureVerifierOptions): SignatureVerifier {
  const maxEntries = options.maxEntries ?? 10_000;
  const negativeTtlMs = options.negativeTtlMs ?? 10_000;
  const entries = new Map<string, Entry>();
  const inflight = new Map<string, Promise<Verification>>();

  const remember = (key: string, verdict: Verification): void => {
    if (!verdict.verified && verdict.transient) return;
    entries.delete(key);
    entries.set(key, {
      verdict,
      expiresAt: verdict.verified ? Infinity : options.clock.now() + negativeTtlMs,
    });
    for (const old of entries.keys()) {
      if (entries.size <= maxEntries) break;
      entries.delete(old);
    }
  };

  return {
    get size() {
      return entries.size;
    },
    async verify(registry, pinned, requirements, call = {}) {
      const digest = pinned.digest;
      if (digest === undefined) throw new Error("verify needs a reference pinned to a digest");
      const requirement = requirementFingerprint(requirements);
      const key = `${call.scope ?? ""} ${pinned.registry}/${pinned.repository}@${digest} ${requirement}`;
      const cached = entries.get(key);
      if (cached !== undefined && cached.expiresAt > options.clock.now()) {
        entries.delete(key);
        entries.set(key, cached);
        return cached.verdict;
      }
      const running = inflight.get(key);
      if (running !== undefined) return running;
      const work = run(registry, { ...pinned, digest }, requirements, requirement, call.signal)
        .then((verdict) => (remember(key, verdict), verdict))
        .finally(() => inflight.delete(key));
      inflight.set(key, work);
      return work;
    },
  };
}

async function run(
  registry: SignatureRegistry,
  pinned: ImageReference & { readonly digest: string },
  requirements: readonly Requirement[],
  requirement: string,
  signal: AbortSignal | undefined,
): Promise<Verification> {
  const name = formatReference({
    registry: pinned.registry,
    repository: pinned.repository,
    digest: pinned.digest,
  });
  const prepared = requirements.map(prepareRequirement);
  const decide = (found: readonly FoundSignature[]): VerificationVerdict =>
    decideVerification(
      name,
      requirements,
      prepared.map((p) =>
        found.map((f) => ({
          signatureDigest: f.signatureDigest,
          source: f.source,
          result: checkSignature(f, pinned.digest, p),
        })),
      ),
    );
  try {
    const bundles = await findBundles(registry, pinned, pinned.digest, signal);
    const first = decide(bundles);
    if (first.verified) return { ...first, requirement };
    // cosign v2's .sig tag is read only when the bundles do not do: a signed artifact costs
    // the referrers answer, the bundle's manifest and its blob.
    const legacy = await findLegacySignatures(registry, pinned, pinned.digest, signal);
    if (legacy.length === 0) return { ...first, requirement };
    return { ...decide([...bundles, ...legacy]), requirement };
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    return {
      verified: false,
      reason: "VerificationUnavailable",
      transient: err.retryable || ["Unreachable", "Timeout", "RateLimited", "ServerError"].includes(err.code),
      message: `cannot read the signatures of ${name}: ${describeError(err)}`,
      requirement,
    };
  }
}
