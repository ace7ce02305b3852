/**
 * Where the serving certificate comes from, as one small interface: the current certificate,
 * the first one once loaded, and every later one. Providers (a Secret the operator manages, a
 * folder cert-manager fills, a fixed pair for tests and benchmarks) publish into a
 * CertificateFeed; the server and the webhook configuration read from it.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { OperatorError } from "../errors.js";

/** A serving certificate and key, and the CA bundle that clients (the apiserver) trust it with. */
export interface ServingCertificates {
  /** PEM; may hold intermediates after the leaf. */
  readonly certPem: string;
  readonly keyPem: string;
  /** PEM bundle for the webhook configuration's caBundle; absent when someone else injects it. */
  readonly caPem?: string;
}

/** Read side of a certificate provider. */
export interface CertificateSource {
  /** The certificates now in effect, or undefined before the first load. */
  current(): ServingCertificates | undefined;
  /** Resolves with the first certificates once loaded (at once if they are); rejects with the signal's reason. */
  ready(signal?: AbortSignal): Promise<ServingCertificates>;
  /** Calls `listener` with every later change (not the current one). Returns a function that unsubscribes. */
  subscribe(listener: (certificates: ServingCertificates) => void): () => void;
}

/** A CertificateSource that providers publish into. */
export class CertificateFeed implements CertificateSource {
  #current: ServingCertificates | undefined;
  readonly #listeners = new Set<(certificates: ServingCertificates) => void>();
  readonly #waiters = new Set<(certificates: ServingCertificates) => void>();

  current(): ServingCertificates | undefined {
    return this.#current;
  }

  ready(signal?: AbortSignal): Promise<ServingCertificates> {
    if (this.#current !== undefined) return Promise.resolve(this.#current);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(done);
        reject(signal?.reason);
      };
      const done = (certificates: ServingCertificates): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve(certificates);
      };
      this.#waiters.add(done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  subscribe(listener: (certificates: ServingCertificates) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Makes `certificates` current and tells every waiter and listener; does nothing when they equal
   * the current ones. Listeners run synchronously; one that throws does not stop the others.
   */
  publish(certificates: ServingCertificates): void {
    const previous = this.#current;
    if (
      previous !== undefined &&
      previous.certPem === certificates.certPem &&
      previous.keyPem === certificates.keyPem &&
      previous.caPem === certificates.caPem
    ) {
      return;
    }
    this.#current = certificates;
    for (const waiter of this.#waiters) waiter(certificates);
    this.#waiters.clear();
    if (previous === undefined) return;
    for (const listener of this.#listeners) {
      try {
        listener(certificates);
      } catch {
        // a listener's failure is its own to report
      }
    }
  }
}

/** A source that never changes (tests, benchmarks, a certificate managed entirely outside). */
export function staticCertificateSource(certificates: ServingCertificates): CertificateSource {
  const feed = new CertificateFeed();
  feed.publish(checkCertificates(certificates));
  return feed;
}

/** Thrown for a certificate, key or CA bundle that cannot be served. */
export class CertificateError extends OperatorError<"InvalidCertificate"> {
  constructor(message: string, options?: { cause?: unknown }) {
    super("InvalidCertificate", message, options);
  }
}

/**
 * Checks that the certificate parses, is not expired at `now` and belongs to the key, and that
 * the CA bundle (when given) parses; returns its argument. Throws CertificateError otherwise.
 */
export function checkCertificates(certificates: ServingCertificates, now = Date.now()): ServingCertificates {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certificates.certPem);
  } catch (err) {
    throw new CertificateError("the serving certificate is not a PEM X.509 certificate", { cause: err });
  }
  let matches: boolean;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(certificates.keyPem));
  } catch (err) {
    throw new CertificateError("the serving key is not a PEM private key", { cause: err });
  }
  if (!matches) throw new CertificateError("the serving certificate does not belong to the key");
  if (leaf.validToDate.getTime() <= now) {
    throw new CertificateError(`the serving certificate expired at ${leaf.validToDate.toISOString()}`);
  }
  if (certificates.caPem !== undefined) {
    try {
      splitPem(certificates.caPem).forEach((pem) => new X509Certificate(pem));
    } catch (err) {
      throw new CertificateError("the CA bundle is not PEM X.509 certificates", { cause: err });
    }
  }
  return certificates;
}

/** The PEM blocks of a bundle, each ending in a newline. Throws CertificateError when there are none. */
export function splitPem(bundle: string): string[] {
  const blocks = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new CertificateError("no PEM certificate found");
  return blocks.map((block) => `${block}\n`);
}
