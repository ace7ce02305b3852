/**
 * Self-managed serving certificates: a CA and a serving certificate made in-process (x509.ts),
 * kept in one Secret in the operator's namespace so every replica serves the same ones, and
 * renewed before they expire (rotation.ts).
 *
 * Guarantees:
 * - The Secret (`type: kubernetes.io/tls`, keys `tls.crt`, `tls.key`, `ca.crt` = the trust bundle,
 *   `ca.key`) is the single source of truth; this provider never publishes certificates it did not
 *   store. Replicas race safely: writes carry the resourceVersion read (or are creates), and the
 *   loser of a conflict re-reads and serves the winner's certificates.
 * - The Secret is read again every `pollMs` (default 60 s) and at each renewal point, so replicas
 *   pick up another's rotation; reads are by name (RBAC can restrict get/update to this name); the
 *   operator never lists or watches Secrets.
 * - Failures (API down, RBAC) are logged and retried with backoff (1 s doubling to `pollMs`);
 *   the certificates already published stay in effect.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { X509Certificate } from "node:crypto";
import { z } from "zod";
import { isAlreadyExists, isConflict, isNotFound } from "../runtime/kube-errors.js";
import { FIELD_MANAGER, kubeRequest } from "../runtime/kube-client.js";
import type { Clock } from "../runtime/clock.js";
import type { Logger } from "../runtime/logger.js";
import { Backoff } from "../runtime/rate-limiter.js";
import type { Runnable } from "../runtime/runnable.js";
import { CertificateFeed, type CertificateSource } from "./certificate-source.js";
import {
  decideRotation,
  DEFAULT_LIFETIMES,
  rotatedBundle,
  type CertificateLifetimes,
  type ServingNames,
  type StoredCertificates,
} from "./rotation.js";
import { createCertificateAuthority, issueServingCertificate } from "./x509.js";

/** Default name of the Secret. */
export const DEFAULT_CERTIFICATE_SECRET = "modelpack-operator-webhook-tls";

/** Options of `createSelfManagedCertificates`. */
export interface SelfManagedCertificatesOptions {
  readonly kubeConfig: KubeConfig;
  /** The operator's namespace, where the Secret lives. */
  readonly namespace: string;
  /** Default DEFAULT_CERTIFICATE_SECRET. */
  readonly secretName?: string;
  /** What the serving certificate must cover (see `servingNames` in configuration.ts). */
  readonly names: ServingNames;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Default DEFAULT_LIFETIMES (CA 10 years, serving 1 year, renewed at 2/3). */
  readonly lifetimes?: Partial<CertificateLifetimes>;
  /** How often the Secret is read again. Default 60 s. */
  readonly pollMs?: number;
}

/** The provider: a Runnable that keeps `source` current. */
export interface SelfManagedCertificates extends Runnable {
  readonly source: CertificateSource;
  needLeaderElection(): boolean;
}

/** Creates the provider; nothing is read or written until `start`. */
export function createSelfManagedCertificates(
  options: SelfManagedCertificatesOptions,
): SelfManagedCertificates {
  return new SelfManagedCertificatesImpl(options);
}

const SecretData = z.looseObject({
  metadata: z.looseObject({ resourceVersion: z.string() }),
  data: z.record(z.string(), z.string()).nullish(),
});
type SecretData = z.infer<typeof SecretData>;

const KEYS = { cert: "tls.crt", key: "tls.key", bundle: "ca.crt", caKey: "ca.key" } as const;
const MAX_WRITE_ATTEMPTS = 5;

class SelfManagedCertificatesImpl implements SelfManagedCertificates {
  readonly name = "webhook-certificates";
  readonly #options: SelfManagedCertificatesOptions;
  readonly #feed = new CertificateFeed();
  readonly #logger: Logger;
  readonly #lifetimes: CertificateLifetimes;
  readonly #secretName: string;
  #started = false;

  constructor(options: SelfManagedCertificatesOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: "webhook-certificates" });
    this.#lifetimes = { ...DEFAULT_LIFETIMES, ...options.lifetimes };
    this.#secretName = options.secretName ?? DEFAULT_CERTIFICATE_SECRET;
  }

  get source(): CertificateSource {
    return this.#feed;
  }

  needLeaderElection(): boolean {
    return false;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new Error("the certificate provider was already started");
    this.#started = true;
    const { clock } = this.#options;
    const pollMs = this.#options.pollMs ?? 60_000;
    const backoff = new Backoff(1_000, pollMs);
    while (!signal.aborted) {
      let waitMs: number;
      try {
        const renewAt = await this.#sync(signal);
        waitMs = Math.max(0, Math.min(pollMs, renewAt - clock.now()));
        backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        waitMs = backoff.fail();
        this.#logger.error(
          { err, secret: this.#secretName, retryInMs: waitMs },
          "cannot read or renew the webhook certificates",
        );
      }
      try {
        await clock.sleep(waitMs, signal);
      } catch {
        break;
      }
    }
  }

  /** Reads the Secret, renews what is due, publishes; returns the next renewal point. */
  async #sync(signal: AbortSignal): Promise<number> {
    const { clock, names } = this.#options;
    for (let attempt = 1; ; attempt++) {
      const secret = await this.#read(signal);
      const stored = secret === undefined ? undefined : decode(secret);
      const now = clock.now();
      const decision = decideRotation(stored, names, now, this.#lifetimes.renewFraction);
      if (decision.action === "keep" && stored !== undefined) {
        this.#publish(stored);
        return decision.renewAt;
      }
      const reason = decision.action === "keep" ? "" : decision.reason;
      const next = this.#renew(decision.action === "rotate-ca" ? undefined : stored, stored, now);
      try {
        await this.#write(secret, next, signal);
      } catch (err) {
        if ((isConflict(err) || isAlreadyExists(err)) && attempt < MAX_WRITE_ATTEMPTS) {
          this.#logger.debug(
            { secret: this.#secretName },
            "another replica wrote the certificates first; reading theirs",
          );
          continue;
        }
        throw err;
      }
      this.#logger.info(
        { secret: this.#secretName, action: decision.action, reason },
        "webhook certificates renewed",
      );
      this.#publish(next);
      const after = decideRotation(next, names, clock.now(), this.#lifetimes.renewFraction);
      return after.action === "keep" ? after.renewAt : clock.now();
    }
  }

  /** A new serving certificate from `ca`'s CA, or from a new CA when `ca` is undefined. */
  #renew(
    ca: StoredCertificates | undefined,
    previous: StoredCertificates | undefined,
    now: number,
  ): StoredCertificates {
    const lifetimes = this.#lifetimes;
    let signer: { certPem: string; keyPem: string };
    let bundle: string;
    let caExpires: number;
    if (ca === undefined) {
      signer = createCertificateAuthority({ now, validityMs: lifetimes.caValidityMs });
      bundle = rotatedBundle(signer.certPem, previous?.caBundlePem, now);
      caExpires = now + lifetimes.caValidityMs;
    } else {
      signer = { certPem: ca.caCertPem, keyPem: ca.caKeyPem };
      bundle = ca.caBundlePem;
      caExpires = new X509Certificate(ca.caCertPem).validToDate.getTime();
    }
    const serving = issueServingCertificate(signer, {
      dnsNames: this.#options.names.dnsNames,
      ipAddresses: this.#options.names.ipAddresses,
      now,
      validityMs: Math.min(lifetimes.certValidityMs, caExpires - now),
    });
    return {
      caCertPem: signer.certPem,
      caKeyPem: signer.keyPem,
      caBundlePem: bundle,
      certPem: serving.certPem,
      keyPem: serving.keyPem,
    };
  }

  #publish(stored: StoredCertificates): void {
    this.#feed.publish({ certPem: stored.certPem, keyPem: stored.keyPem, caPem: stored.caBundlePem });
  }

  #path(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.#options.namespace)}/secrets`;
  }

  async #read(signal: AbortSignal): Promise<SecretData | undefined> {
    try {
      const raw = await kubeRequest(this.#options.kubeConfig, {
        path: `${this.#path()}/${encodeURIComponent(this.#secretName)}`,
        signal,
        timeoutMs: 15_000,
      });
      const parsed = SecretData.safeParse(raw);
      if (!parsed.success)
        throw new Error(
          `Secret ${this.#options.namespace}/${this.#secretName} is malformed: ${parsed.error.message}`,
        );
      return parsed.data;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async #write(
    existing: SecretData | undefined,
    stored: StoredCertificates,
    signal: AbortSignal,
  ): Promise<void> {
    const body = {
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/tls",
      metadata: {
        name: this.#secretName,
        namespace: this.#options.namespace,
        labels: {
          "app.kubernetes.io/name": "modelpack-operator",
          "app.kubernetes.io/managed-by": FIELD_MANAGER,
        },
        ...(existing !== undefined && { resourceVersion: existing.metadata.resourceVersion }),
      },
      data: {
        [KEYS.cert]: base64(stored.certPem),
        [KEYS.key]: base64(stored.keyPem),
        [KEYS.bundle]: base64(stored.caBundlePem),
        [KEYS.caKey]: base64(stored.caKeyPem),
      },
    };
    await kubeRequest(this.#options.kubeConfig, {
      method: existing === undefined ? "POST" : "PUT",
      path: existing === undefined ? this.#path() : `${this.#path()}/${encodeURIComponent(this.#secretName)}`,
      query: { fieldManager: FIELD_MANAGER },
      body,
      signal,
      timeoutMs: 15_000,
    });
  }
}

/** The stored certificates of a Secret, or undefined when a key is missing. */
function decode(secret: SecretData): StoredCertificates | undefined {
  const data = secret.data ?? {};
  const get = (key: string): string | undefined => {
    const value = data[key];
    return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8");
  };
  const [certPem, keyPem, caBundlePem, caKeyPem] = [
    get(KEYS.cert),
    get(KEYS.key),
    get(KEYS.bundle),
    get(KEYS.caKey),
  ];
  if (certPem === undefined || keyPem === undefined || caBundlePem === undefined || caKeyPem === undefined)
    return undefined;
  const caCertPem = caBundlePem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/)?.[0];
  if (caCertPem === undefined) return undefined;
  return { caCertPem, caKeyPem, caBundlePem, certPem, keyPem };
}

function base64(text: string): string {
  return Buffer.from(text).toString("base64");
}
