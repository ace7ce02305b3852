/**
 * The whole admission webhook as one Runnable: a certificate provider, the HTTPS server and the
 * MutatingWebhookConfiguration, started and ordered so that the apiserver always trusts the
 * certificate being served.
 *
 * Guarantees:
 * - Order on start: certificates are loaded (self-managed: read or created in the Secret;
 *   directory: read from the folder), the server listens, then the configuration is applied with
 *   the CA bundle (retried with backoff until it succeeds; the server already serves meanwhile).
 * - Certificate changes are applied in order, one at a time: when the CA bundle changes, the
 *   configuration gets the new bundle, and `caPropagationMs` passes for the apiservers to see it,
 *   BEFORE the server serves the new certificate; a serving
 *   certificate from an unchanged bundle is served as soon as the changes before it are done.
 * - The configuration is applied again every `reapplyMs` (default 5 min) to undo drift; each apply
 *   is an idempotent server-side apply.
 * - A `url` client config whose port is 0 gets the port the server bound (tests and
 *   `run --webhook-url https://127.0.0.1:0/mutate-pods`).
 * - Runs on every replica (no leader election); stopping it stops the provider and the server.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import type { InitContainerSettings } from "../mount/types.js";
import type { Clock } from "../runtime/clock.js";
import type { KubeObject } from "../runtime/kube-object.js";
import type { Logger } from "../runtime/logger.js";
import type { Runnable } from "../runtime/runnable.js";
import type { Store } from "../runtime/store.js";
import type { PlanMounts } from "./admit.js";
import {
  CertificateFeed,
  staticCertificateSource,
  type CertificateSource,
  type ServingCertificates,
} from "./certificate-source.js";
import {
  applyWebhookConfiguration,
  servingNames,
  webhookConfiguration,
  type WebhookClientConfig,
  type WebhookConfigurationOptions,
} from "./configuration.js";
import { createDirectoryCertificates } from "./directory-certificates.js";
import { createAdmissionHandler, type AdmissionHandler } from "./handler.js";
import { createWebhookMetrics } from "./metrics.js";
import type { CertificateLifetimes, ServingNames } from "./rotation.js";
import { createSelfManagedCertificates } from "./self-managed-certificates.js";
import { createWebhookServer, type WebhookServer } from "./server.js";

/** Where the serving certificate comes from. */
export type CertificateOptions =
  /** A CA and certificate the operator makes and keeps in a Secret in its namespace (the default). */
  | {
      readonly mode: "self-managed";
      /** Default `modelpack-operator-webhook-tls`. */
      readonly secretName?: string;
      readonly lifetimes?: Partial<CertificateLifetimes>;
      /** How often the Secret is read again. Default 60 s. */
      readonly pollMs?: number;
      /** Default: from the configuration's client config (URL host, or the Service's DNS names). */
      readonly names?: ServingNames;
    }
  /** `tls.crt`, `tls.key`, optional `ca.crt` in a folder (a cert-manager Certificate's Secret, mounted). */
  | { readonly mode: "directory"; readonly dir: string; readonly pollMs?: number }
  /** Fixed certificates (tests, benchmarks). */
  | { readonly mode: "static"; readonly certificates: ServingCertificates };

/** The MutatingWebhookConfiguration to manage; the CA bundle and operator namespace are filled in. */
export type ManagedConfigurationOptions = Omit<WebhookConfigurationOptions, "caPem" | "operatorNamespace"> & {
  /** Default 5 min. */
  readonly reapplyMs?: number;
  /**
   * After a new CA bundle is applied, how long to keep serving the old certificate so every
   * apiserver's webhook informer has seen the new bundle (the bundle holds the old CA too, so
   * waiting is harmless). Default 5 s.
   */
  readonly caPropagationMs?: number;
};

/** Options of `createWebhook`. */
export interface WebhookOptions {
  /** Needed for self-managed certificates and for managing the configuration. */
  readonly kubeConfig?: KubeConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The operator's namespace: the Secret lives here, and the webhook never sees its pods. */
  readonly namespace: string;
  /** The ModelDeployments (`operator.store`) and whether their informers synced (503 until then). */
  readonly store: Store<KubeObject>;
  readonly hasSynced?: () => boolean;
  readonly settings: InitContainerSettings;
  /** Default: src/mount `planMounts`. */
  readonly planMounts?: PlanMounts;
  /** Metrics go here; default: none. */
  readonly registry?: Registry;
  /** Default 0.0.0.0:9443. */
  readonly host?: string;
  readonly port?: number;
  /** Default 3 MiB. */
  readonly maxBodyBytes?: number;
  readonly certificates: CertificateOptions;
  /** Absent: the configuration is not managed (someone else installs it). */
  readonly configuration?: ManagedConfigurationOptions;
}

/** The running webhook. */
export interface Webhook extends Runnable {
  readonly server: WebhookServer;
  readonly handler: AdmissionHandler;
  /** The server's bound address, once listening. */
  address(): Promise<{ host: string; port: number }>;
  /**
   * Whether the server listens and, when the configuration is managed, it was applied at least
   * once: a readiness check (`health.addReadyCheck("webhook", () => webhook.isServing())`).
   */
  isServing(): boolean;
  needLeaderElection(): boolean;
}

/** Thrown when the options cannot work together (e.g. self-managed certificates without a kubeconfig). */
export class WebhookOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookOptionsError";
  }
}

/** Wires provider, server and configuration; throws WebhookOptionsError for unusable options. */
export function createWebhook(options: WebhookOptions): Webhook {
  const { logger, clock } = options;
  const kubeConfig = options.kubeConfig;
  if (
    (options.certificates.mode === "self-managed" || options.configuration !== undefined) &&
    kubeConfig === undefined
  ) {
    throw new WebhookOptionsError(
      "self-managed certificates and a managed webhook configuration need a kubeconfig",
    );
  }
  const handler = createAdmissionHandler({
    store: options.store,
    settings: options.settings,
    logger,
    ...(options.planMounts !== undefined && { planMounts: options.planMounts }),
    ...(options.registry !== undefined && { metrics: createWebhookMetrics({ registry: options.registry }) }),
    ...(options.hasSynced !== undefined && { hasSynced: options.hasSynced }),
    ...(options.maxBodyBytes !== undefined && { maxBodyBytes: options.maxBodyBytes }),
  });
  if (options.configuration !== undefined) {
    // Fail now, not in a retry loop, on options the apiserver would refuse.
    webhookConfiguration({ ...options.configuration, operatorNamespace: options.namespace });
  }
  const provider = createProvider(options, kubeConfig);
  const served = new CertificateFeed();
  const server = createWebhookServer({
    handler,
    certificates: served,
    logger,
    host: options.host ?? "0.0.0.0",
    port: options.port ?? 9443,
  });
  const log = logger.child({ component: "webhook" });
  let started = false;
  let listening = false;
  let configured = options.configuration === undefined;

  return {
    name: "webhook",
    server,
    handler,
    address: () => server.address(),
    isServing: () => listening && configured,
    needLeaderElection: () => false,
    async start(signal) {
      if (started) throw new Error("the webhook was already started");
      started = true;
      const stop = new AbortController();
      const forward = (): void => stop.abort(signal.reason);
      if (signal.aborted) forward();
      else signal.addEventListener("abort", forward, { once: true });
      const running: Promise<void>[] = [];
      const run = (what: Runnable): void => {
        running.push(
          what.start(stop.signal).catch((err: unknown) => {
            if (!stop.signal.aborted) stop.abort(err);
            throw err;
          }),
        );
      };
      try {
        if (provider.runnable !== undefined) run(provider.runnable);
        const first = await provider.source.ready(stop.signal);
        served.publish(first);
        run(server);
        const configuration = options.configuration;
        let onChange: (next: ServingCertificates) => void;
        const { port } = await server.address();
        listening = true;
        if (configuration !== undefined && kubeConfig !== undefined) {
          const manager = new ConfigurationApplier(
            kubeConfig,
            configuration,
            options.namespace,
            port,
            clock,
            log,
          );
          manager
            .change(first.caPem, stop.signal, 0)
            .then(() => (configured = true))
            .catch(() => undefined);
          onChange = (next) => {
            manager
              .change(next.caPem, stop.signal)
              .then(() => served.publish(next))
              .catch(() => undefined);
          };
          running.push(manager.reapplyEvery(configuration.reapplyMs ?? 300_000, stop.signal));
        } else {
          onChange = (next) => served.publish(next);
        }
        provider.source.subscribe((next) => onChange(next));
        const latest = provider.source.current(); // a change while the server was starting
        if (latest !== undefined && latest !== first) onChange(latest);
      } catch (err) {
        if (!stop.signal.aborted) stop.abort(err);
      }
      const results = await Promise.allSettled(running);
      listening = false;
      signal.removeEventListener("abort", forward);
      const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (!signal.aborted && stop.signal.aborted) throw failure?.reason ?? stop.signal.reason;
    },
  };
}

function createProvider(
  options: WebhookOptions,
  kubeConfig: KubeConfig | undefined,
): { source: CertificateSource; runnable?: Runnable } {
  const certificates = options.certificates;
  const { logger, clock } = options;
  switch (certificates.mode) {
    case "static":
      return { source: staticCertificateSource(certificates.certificates) };
    case "directory": {
      const provider = createDirectoryCertificates({
        dir: certificates.dir,
        clock,
        logger,
        ...(certificates.pollMs !== undefined && { pollMs: certificates.pollMs }),
      });
      return { source: provider.source, runnable: provider };
    }
    case "self-managed": {
      const names = certificates.names ?? namesOf(options.configuration?.clientConfig);
      if (kubeConfig === undefined)
        throw new WebhookOptionsError("self-managed certificates need a kubeconfig");
      const provider = createSelfManagedCertificates({
        kubeConfig,
        namespace: options.namespace,
        names,
        clock,
        logger,
        ...(certificates.secretName !== undefined && { secretName: certificates.secretName }),
        ...(certificates.lifetimes !== undefined && { lifetimes: certificates.lifetimes }),
        ...(certificates.pollMs !== undefined && { pollMs: certificates.pollMs }),
      });
      return { source: provider.source, runnable: provider };
    }
  }
}

function namesOf(clientConfig: WebhookClientConfig | undefined): ServingNames {
  if (clientConfig === undefined) {
    throw new WebhookOptionsError(
      "self-managed certificates need either names or a webhook configuration to derive them from",
    );
  }
  return servingNames(clientConfig);
}

/** `https://host:0/path` → the same URL with `port`; any other client config unchanged. */
export function withBoundPort(clientConfig: WebhookClientConfig, port: number): WebhookClientConfig {
  if (!("url" in clientConfig)) return clientConfig;
  const url = new URL(clientConfig.url);
  if (url.port !== "0") return clientConfig;
  url.port = String(port);
  return { url: url.toString() };
}

/** Applies the configuration, one apply at a time, always with the newest CA bundle decided. */
class ConfigurationApplier {
  readonly #kubeConfig: KubeConfig;
  readonly #options: ManagedConfigurationOptions;
  readonly #namespace: string;
  readonly #clientConfig: WebhookClientConfig;
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** The bundle of the newest certificates; every apply uses it (never an older one). */
  #caPem: string | undefined;
  /** The bundle the last successful apply wrote; `change` skips the apply when it is unchanged. */
  #applied: { caPem: string | undefined } | undefined;
  #queue: Promise<void> = Promise.resolve();

  constructor(
    kubeConfig: KubeConfig,
    options: ManagedConfigurationOptions,
    namespace: string,
    port: number,
    clock: Clock,
    logger: Logger,
  ) {
    this.#kubeConfig = kubeConfig;
    this.#options = options;
    this.#namespace = namespace;
    this.#clientConfig = withBoundPort(options.clientConfig, port);
    this.#clock = clock;
    this.#logger = logger;
  }

  /**
   * Resolves once the configuration holds `caPem` (retrying with backoff), after every earlier
   * change; at once, in turn, when it already does. Rejects only when aborted.
   */
  change(
    caPem: string | undefined,
    signal: AbortSignal,
    propagationMs = this.#options.caPropagationMs ?? 5_000,
  ): Promise<void> {
    this.#caPem = caPem;
    return this.#enqueue(async () => {
      if (this.#applied !== undefined && this.#applied.caPem === caPem) return;
      await this.#applyUntilDone(signal);
      if (propagationMs > 0) await this.#clock.sleep(propagationMs, signal);
    });
  }

  /** Re-applies every `everyMs` until aborted; failures are logged and retried at the next tick. */
  async reapplyEvery(everyMs: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      try {
        await this.#clock.sleep(everyMs, signal);
      } catch {
        return;
      }
      await this.#enqueue(() => this.#applyOnce(signal)).catch((err: unknown) => {
        if (!signal.aborted) this.#logger.warn({ err }, "cannot re-apply the webhook configuration");
      });
    }
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(task);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #applyOnce(signal: AbortSignal): Promise<void> {
    const configuration = webhookConfiguration({
      ...this.#options,
      clientConfig: this.#clientConfig,
      operatorNamespace: this.#namespace,
      ...(this.#caPem !== undefined && { caPem: this.#caPem }),
    });
    await applyWebhookConfiguration(this.#kubeConfig, configuration, signal);
    this.#applied = { caPem: this.#caPem };
  }

  async #applyUntilDone(signal: AbortSignal): Promise<void> {
    for (let backoffMs = 1_000; ; backoffMs = Math.min(backoffMs * 2, 30_000)) {
      try {
        await this.#applyOnce(signal);
        this.#logger.info({ clientConfig: this.#clientConfig }, "webhook configuration applied");
        return;
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        this.#logger.error({ err, retryInMs: backoffMs }, "cannot apply the webhook configuration");
      }
      await this.#clock.sleep(backoffMs, signal);
    }
  }
}
