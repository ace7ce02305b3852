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
 * - The configuration is applied again every `reapplyMs` (default 60 s) to undo drift (e.g. a
 *   `kubectl apply` of deploy/ that put back the installer's selector); each apply is an
 *   idempotent server-side apply.
 * - Scope: every apply carries the namespaceSelector built from the namespaces that hold
 *   ModelDeployments (the store's keys), so only they depend on the webhook. The store is read
 *   every `scopePollMs` (default 50 ms); a change is applied at most once per `scopeMinIntervalMs`
 *   (default 200 ms; bursts of ModelDeployments coalesce into one apply), retried with backoff up to
 *   30 s. Nothing is applied before the store has synced (an empty store would drop every namespace).
 * - Ownership: `ownedBy: "operator"` (out of cluster, `--webhook-url`) applies the whole
 *   configuration; `ownedBy: "installer"` (in cluster: the chart or deploy/ renders the object
 *   without webhooks) applies only its webhook entry, and only while the object exists, so an
 *   uninstall that deleted it is final (configuration.ts).
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
import { Backoff } from "../runtime/rate-limiter.js";
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
  configurationExists,
  DEFAULT_CONFIGURATION_NAME,
  namespacesOfKeys,
  servingNames,
  webhookConfiguration,
  webhookConfigurationPatch,
  type WebhookClientConfig,
  type WebhookConfigurationOptions,
} from "./configuration.js";
import { createDirectoryCertificates } from "./directory-certificates.js";
import { createAdmissionHandler, type AdmissionHandler } from "./handler.js";
import { createWebhookMetrics } from "./metrics.js";
import type { CertificateLifetimes, ServingNames } from "./rotation.js";
import { createSelfManagedCertificates } from "./self-managed-certificates.js";
import { createWebhookServer, type ServerLimits, type WebhookServer } from "./server.js";
import { OperatorError } from "../errors.js";

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

/** The MutatingWebhookConfiguration to manage; the CA bundle, operator namespace and scope are filled in. */
export type ManagedConfigurationOptions = Omit<
  WebhookConfigurationOptions,
  "caPem" | "operatorNamespace" | "inUseNamespaces"
> & {
  /**
   * "operator" (default): the operator applies the whole configuration. "installer": the chart or
   * deploy/ owns the object; the operator applies only its webhook entry, while the object exists.
   */
  readonly ownedBy?: "operator" | "installer";
  /** Default 60 s. */
  readonly reapplyMs?: number;
  /**
   * How often the ModelDeployment store is read for the namespaces in use. Default 50 ms: until a
   * new namespace is in the selector, its pods are not sent to the webhook.
   */
  readonly scopePollMs?: number;
  /** The least time between two applies of a changed scope. Default 200 ms. */
  readonly scopeMinIntervalMs?: number;
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
  /** `run --allowed-registries`: every pinned reference is checked against it again at admission. */
  readonly allowedRegistries?: readonly string[];
  /** `run --verification-policy`: which references need a verified signature in status. */
  readonly signaturesRequired?: (registry: string, repository: string) => boolean;
  /** Default: src/mount `planMounts`. */
  readonly planMounts?: PlanMounts;
  /** Metrics go here; default: none. */
  readonly registry?: Registry;
  /** Default 0.0.0.0:9443. */
  readonly host?: string;
  readonly port?: number;
  /** Default 3 MiB. */
  readonly maxBodyBytes?: number;
  /** Connection, timeout and in-flight byte limits of the server; default DEFAULT_SERVER_LIMITS. */
  readonly serverLimits?: Partial<ServerLimits>;
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
export class WebhookOptionsError extends OperatorError<"InvalidWebhookOptions"> {
  constructor(message: string) {
    super("InvalidWebhookOptions", message);
  }
}

/** Wires provider, server and configuration; throws WebhookOptionsError for unusable options. */
export function createWebhook(options: WebhookOptions): Webhook {
  const { logger } = options;
  const kubeConfig = options.kubeConfig;
  if (
    (options.certificates.mode === "self-managed" || options.configuration !== undefined) &&
    kubeConfig === undefined
  ) {
    throw new WebhookOptionsError(
      "self-managed certificates and a managed webhook configuration need a kubeconfig",
    );
  }
  const handler = admissionHandler(options);
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
    ...(options.serverLimits !== undefined && { limits: options.serverLimits }),
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
        const { port } = await server.address();
        listening = true;
        const onChange =
          configuration !== undefined && kubeConfig !== undefined
            ? manageConfiguration({
                options,
                kubeConfig,
                configuration,
                port,
                log,
                first,
                served,
                signal: stop.signal,
                running,
                onConfigured: () => (configured = true),
              })
            : (next: ServingCertificates) => served.publish(next);
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

/** The admission handler over the served ModelDeployments, with metrics when a registry is given. */
function admissionHandler(options: WebhookOptions): AdmissionHandler {
  return createAdmissionHandler({
    store: options.store,
    settings: options.settings,
    ...(options.allowedRegistries !== undefined && { allowedRegistries: options.allowedRegistries }),
    ...(options.signaturesRequired !== undefined && { signaturesRequired: options.signaturesRequired }),
    logger: options.logger,
    ...(options.planMounts !== undefined && { planMounts: options.planMounts }),
    ...(options.registry !== undefined && { metrics: createWebhookMetrics({ registry: options.registry }) }),
    ...(options.hasSynced !== undefined && { hasSynced: options.hasSynced }),
    ...(options.maxBodyBytes !== undefined && { maxBodyBytes: options.maxBodyBytes }),
  });
}

/**
 * Manages the webhook configuration: applies it with the first CA bundle (then `onConfigured`),
 * re-applies it every `reapplyMs` and follows the namespaces in scope (both loops pushed to
 * `running`), and returns how a new certificate is rolled: its bundle applied first, then served.
 */
function manageConfiguration(args: {
  readonly options: WebhookOptions;
  readonly kubeConfig: KubeConfig;
  readonly configuration: ManagedConfigurationOptions;
  readonly port: number;
  readonly log: Logger;
  readonly first: ServingCertificates;
  readonly served: CertificateFeed;
  readonly signal: AbortSignal;
  readonly running: Promise<void>[];
  readonly onConfigured: () => void;
}): (next: ServingCertificates) => void {
  const { options, configuration, served, signal } = args;
  const store = options.store;
  const hasSynced = options.hasSynced ?? (() => true);
  const manager = new ConfigurationApplier(
    args.kubeConfig,
    configuration,
    options.namespace,
    args.port,
    options.clock,
    args.log,
    () => (hasSynced() ? namespacesOfKeys(store.keys(), configuration.maxNamespaces) : undefined),
  );
  manager
    .change(args.first.caPem, signal, 0)
    .then(args.onConfigured)
    .catch(() => undefined);
  args.running.push(manager.reapplyEvery(configuration.reapplyMs ?? 60_000, signal));
  args.running.push(manager.followScope(signal));
  return (next) => {
    manager
      .change(next.caPem, signal)
      .then(() => served.publish(next))
      .catch(() => undefined);
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

function scopeKey(scope: readonly string[] | "all"): string {
  return scope === "all" ? "all" : scope.join(",");
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `https://host:0/path` → the same URL with `port`; any other client config unchanged. */
export function withBoundPort(clientConfig: WebhookClientConfig, port: number): WebhookClientConfig {
  if (!("url" in clientConfig)) return clientConfig;
  const url = new URL(clientConfig.url);
  if (url.port !== "0") return clientConfig;
  url.port = String(port);
  return { url: url.toString() };
}

/** The namespaces holding ModelDeployments, "all" over the bound, undefined before the store synced. */
type ScopeSource = () => readonly string[] | "all" | undefined;

/**
 * Applies the configuration, one apply at a time, always with the newest CA bundle decided and
 * the newest scope read from the store.
 */
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
  #applied: { caPem: string | undefined; scope: string } | undefined;
  #queue: Promise<void> = Promise.resolve();
  readonly #scope: ScopeSource;

  constructor(
    kubeConfig: KubeConfig,
    options: ManagedConfigurationOptions,
    namespace: string,
    port: number,
    clock: Clock,
    logger: Logger,
    scope: ScopeSource,
  ) {
    this.#scope = scope;
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
      await this.#scopeSynced(signal);
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

  /**
   * Until aborted: applies the configuration when the namespaces holding ModelDeployments change,
   * at most once per `scopeMinIntervalMs`, with backoff (up to 30 s) after failures.
   */
  async followScope(signal: AbortSignal): Promise<void> {
    const pollMs = this.#options.scopePollMs ?? 50;
    const minIntervalMs = this.#options.scopeMinIntervalMs ?? 200;
    const backoff = new Backoff(minIntervalMs, 30_000);
    for (;;) {
      try {
        await this.#clock.sleep(pollMs, signal);
      } catch {
        return;
      }
      const scope = this.#scope();
      // Before the first apply (change() waits for the store) or while it is unchanged: nothing.
      if (scope === undefined || this.#applied === undefined || this.#applied.scope === scopeKey(scope))
        continue;
      try {
        await this.#enqueue(() => this.#applyOnce(signal));
        this.#logger.info(
          { namespaces: scope === "all" ? "all" : scope.length },
          "webhook namespaceSelector follows the namespaces with ModelDeployments",
        );
        backoff.reset();
      } catch (err) {
        if (signal.aborted) return;
        this.#logger.warn(
          { err: describe(err), retryInMs: backoff.fail() },
          "cannot apply the webhook scope",
        );
      }
      try {
        await this.#clock.sleep(Math.max(0, backoff.delayMs - pollMs), signal);
      } catch {
        return;
      }
    }
  }

  /** Resolves once the store has synced (polling every 100 ms); rejects when aborted. */
  async #scopeSynced(signal: AbortSignal): Promise<void> {
    while (this.#scope() === undefined) await this.#clock.sleep(100, signal);
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(task);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #applyOnce(signal: AbortSignal): Promise<void> {
    const scope = this.#scope();
    if (scope === undefined) throw new Error("the ModelDeployment store has not synced yet");
    if (scope === "all" && this.#applied?.scope !== "all")
      this.#logger.warn(
        { maxNamespaces: this.#options.maxNamespaces },
        "more namespaces hold ModelDeployments than the webhook's namespaceSelector lists: every namespace but the excluded ones is sent to the webhook",
      );
    const options = {
      ...this.#options,
      clientConfig: this.#clientConfig,
      operatorNamespace: this.#namespace,
      inUseNamespaces: scope,
      ...(this.#caPem !== undefined && { caPem: this.#caPem }),
    };
    if (this.#options.ownedBy === "installer") {
      const name = options.name ?? DEFAULT_CONFIGURATION_NAME;
      if (!(await configurationExists(this.#kubeConfig, name, signal)))
        throw new Error(
          `MutatingWebhookConfiguration ${name} does not exist: the Helm chart or deploy/ installs it (the operator only adds its webhook to it, and never re-creates one an uninstall removed); install or re-apply them, or check --webhook-configuration-name`,
        );
      await applyWebhookConfiguration(this.#kubeConfig, webhookConfigurationPatch(options), signal);
    } else {
      await applyWebhookConfiguration(this.#kubeConfig, webhookConfiguration(options), signal);
    }
    this.#applied = { caPem: this.#caPem, scope: scopeKey(scope) };
  }

  async #applyUntilDone(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(1_000, 30_000);
    for (;;) {
      let retryInMs: number;
      try {
        await this.#applyOnce(signal);
        this.#logger.info({ clientConfig: this.#clientConfig }, "webhook configuration applied");
        return;
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        retryInMs = backoff.fail();
        this.#logger.error({ err, retryInMs }, "cannot apply the webhook configuration");
      }
      await this.#clock.sleep(retryInMs, signal);
    }
  }
}
