/**
 * Serving certificates from a folder, as cert-manager (or any Secret volume) provides them:
 * `tls.crt`, `tls.key` and, optionally, `ca.crt`.
 *
 * Guarantees:
 * - Reloads when the files change: the folder is watched (a Secret volume swaps its `..data`
 *   symlink, which the watch sees) and read again every `pollMs` (default 10 s) in case the watch
 *   misses an event or is unsupported. Unchanged content publishes nothing.
 * - Only a consistent set is published: the certificate parses, is unexpired and matches the key
 *   (a half-written update is skipped and read again on the next event or poll).
 * - Until the first good set appears (cert-manager may not have issued yet) it keeps trying and
 *   logs what is wrong; `source.ready()` resolves with the first good set.
 */
import { watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../runtime/clock.js";
import type { Logger } from "../runtime/logger.js";
import type { Runnable } from "../runtime/runnable.js";
import {
  CertificateFeed,
  checkCertificates,
  type CertificateSource,
  type ServingCertificates,
} from "./certificate-source.js";

/** Options of `createDirectoryCertificates`. */
export interface DirectoryCertificatesOptions {
  /** The folder with `tls.crt`, `tls.key` and optionally `ca.crt`. */
  readonly dir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How often the files are read again regardless of watch events. Default 10 s. */
  readonly pollMs?: number;
}

/** The provider: a Runnable that keeps `source` current. */
export interface DirectoryCertificates extends Runnable {
  readonly source: CertificateSource;
  needLeaderElection(): boolean;
}

/** Creates the provider; nothing is read until `start`. */
export function createDirectoryCertificates(options: DirectoryCertificatesOptions): DirectoryCertificates {
  return new DirectoryCertificatesImpl(options);
}

/** Reads the folder once; throws (ENOENT, CertificateError) when it holds no consistent set. */
export async function readCertificateDirectory(dir: string, now = Date.now()): Promise<ServingCertificates> {
  const [certPem, keyPem, caPem] = await Promise.all([
    readFile(join(dir, "tls.crt"), "utf8"),
    readFile(join(dir, "tls.key"), "utf8"),
    readFile(join(dir, "ca.crt"), "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    }),
  ]);
  return checkCertificates(
    { certPem, keyPem, ...(caPem !== undefined && caPem.trim() !== "" && { caPem }) },
    now,
  );
}

class DirectoryCertificatesImpl implements DirectoryCertificates {
  readonly name = "webhook-certificates";
  readonly #options: DirectoryCertificatesOptions;
  readonly #feed = new CertificateFeed();
  readonly #logger: Logger;
  #lastProblem: string | undefined;
  #started = false;

  constructor(options: DirectoryCertificatesOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: "webhook-certificates", dir: options.dir });
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
    let wake: (() => void) | undefined;
    let watcher: ReturnType<typeof watch> | undefined;
    try {
      watcher = watch(this.#options.dir, { persistent: false }, () => wake?.());
      watcher.on("error", (err) => this.#logger.debug({ err }, "folder watch failed; polling only"));
    } catch (err) {
      this.#logger.debug({ err }, "cannot watch the folder; polling only");
    }
    try {
      while (!signal.aborted) {
        await this.#load();
        const pause = new AbortController();
        const stop = (): void => pause.abort();
        signal.addEventListener("abort", stop, { once: true });
        wake = () => setTimeout(stop, 100); // let a multi-file update finish
        const pollMs =
          this.#feed.current() === undefined
            ? Math.min(1_000, this.#options.pollMs ?? 10_000)
            : (this.#options.pollMs ?? 10_000);
        await clock.sleep(pollMs, pause.signal).catch(() => undefined);
        signal.removeEventListener("abort", stop);
        wake = undefined;
      }
    } finally {
      watcher?.close();
    }
  }

  async #load(): Promise<void> {
    try {
      const next = await readCertificateDirectory(this.#options.dir, this.#options.clock.now());
      this.#lastProblem = undefined;
      this.#feed.publish(next);
    } catch (err) {
      const problem = err instanceof Error ? err.message : String(err);
      if (problem !== this.#lastProblem) {
        this.#lastProblem = problem;
        this.#logger[this.#feed.current() === undefined ? "warn" : "error"](
          { err },
          "cannot load the serving certificate",
        );
      }
    }
  }
}
