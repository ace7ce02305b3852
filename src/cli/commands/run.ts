import { KubeConfig } from "@kubernetes/client-node";
import { readFile } from "node:fs/promises";
import type { LabelSelector } from "../../api/index.js";
import { createOperator } from "../../controller/operator.js";
import { createWebhook, DEFAULT_CONFIGURATION_NAME } from "../../webhook/index.js";
import type { AdmissionPolicy } from "../../webhook/candidates.js";
import type { InitContainerSettings } from "../../mount/types.js";
import type { VerificationPolicy } from "../../signature/policy.js";
import { systemClock } from "../../runtime/clock.js";
import { createLogger } from "../../runtime/logger.js";
import { applicableRules } from "../../signature/index.js";
import { CA_BUNDLE_CONFIGMAP } from "../../controller/ca-bundle.js";
import { EXIT, type CliIo } from "../io.js";
import { UsageError } from "../usage-error.js";

export interface RunOptions {
  readonly kubeconfig?: string;
  readonly namespace?: string;
  readonly watchNamespaces: readonly string[];
  readonly leaderElection: boolean;
  readonly allowedRegistries: readonly string[];
  readonly plainHttpRegistries: readonly string[];
  readonly caFile?: string;
  /** `--verification-policy FILE`: the administrator's signature requirements. */
  readonly verificationPolicy?: string;
  readonly healthBindAddress: string;
  readonly logLevel: string;
  readonly workers: number;
  /** `--workload-rollout`: whether `updatePolicy: Rollout` may patch workloads. Default true. */
  readonly workloadRollout?: boolean;
  readonly webhook?: {
    /**
     * Who adds models to pods: the webhook, the API server's admission policies (1.36+), or
     * `auto` (policies where v1 MutatingAdmissionPolicy is served). Default webhook.
     */
    readonly injection?: "auto" | "webhook" | "admission-policy";
    readonly bindAddress: string;
    /** Out of cluster: register the webhook by this https URL (port 0 = the port bound). */
    readonly url?: string;
    /** In cluster: the Service in --namespace that fronts the webhook. */
    readonly service: string;
    readonly certDir?: string;
    readonly certSecret?: string;
    readonly failurePolicy: "Fail" | "Ignore";
    readonly timeoutSeconds: number;
    readonly configurationName?: string;
    readonly initImage: string;
    readonly initImagePullPolicy?: "Always" | "IfNotPresent" | "Never";
    readonly initUser?: "fixed" | "platform";
    readonly initResources?: {
      readonly requests?: Readonly<Record<string, string>>;
      readonly limits?: Readonly<Record<string, string>>;
    };
    /** ANDed with the built-in exclusions (the operator's namespace, kube-system). */
    readonly namespaceSelector?: LabelSelector;
    readonly objectSelector?: LabelSelector;
  };
}

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** `host:port` → parts; throws UsageError on anything else. */
export function parseBindAddress(
  value: string,
  flag = "--health-bind-address",
): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(value);
  const port = Number(match?.[2]);
  if (match === null || !Number.isInteger(port) || port > 65535)
    throw new UsageError(`${flag} must be host:port, not "${value}"`);
  return { host: match[1] === "" ? "0.0.0.0" : (match[1] ?? ""), port };
}

/**
 * `run`: starts the operator until SIGTERM/SIGINT (io.signal), in a cluster (in-cluster config)
 * or outside one (`--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`). On the signal it stops taking
 * work, finishes in-flight reconciles and releases its lease.
 */
export async function runCommand(options: RunOptions, io: CliIo): Promise<number> {
  const kubeConfig = new KubeConfig();
  try {
    if (options.kubeconfig !== undefined) kubeConfig.loadFromFile(options.kubeconfig);
    else kubeConfig.loadFromDefault();
  } catch (err) {
    throw new UsageError(
      `cannot load the kubeconfig${options.kubeconfig !== undefined ? ` ${options.kubeconfig}` : ""}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (kubeConfig.getCurrentCluster() === null)
    throw new UsageError(
      "no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod",
    );
  const caPem =
    options.caFile === undefined
      ? undefined
      : await readFile(options.caFile, "utf8").catch((err: Error) => {
          throw new UsageError(`cannot read --ca-file ${options.caFile}: ${err.message}`);
        });
  const verificationPolicy =
    options.verificationPolicy === undefined
      ? undefined
      : await (await import("../verification-policy.js")).loadVerificationPolicy(options.verificationPolicy);
  const level = LOG_LEVELS.find((l) => l === options.logLevel);
  if (level === undefined) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  const { host, port } = parseBindAddress(options.healthBindAddress);
  const logger = createLogger({ level, name: "modelpack-operator" });
  const namespace = options.namespace ?? io.env.POD_NAMESPACE ?? "modelpack-system";
  const operator = createOperator({
    kubeConfig,
    logger,
    clock: systemClock,
    namespace,
    watchNamespaces: options.watchNamespaces,
    leaderElection: options.leaderElection,
    allowedRegistries: options.allowedRegistries,
    plainHttpRegistries: options.plainHttpRegistries,
    ...(caPem !== undefined && { caPem }),
    ...(verificationPolicy !== undefined && { verificationPolicy }),
    healthHost: host,
    healthPort: port,
    workers: options.workers,
    ...(options.workloadRollout !== undefined && { workloadRollout: options.workloadRollout }),
    // In a pod, the pod name (downward API) names the lease holder; elsewhere the host name + a UUID.
    ...(io.env.POD_NAME !== undefined && io.env.POD_NAME !== "" && { identity: io.env.POD_NAME }),
  });
  const decided =
    options.webhook === undefined ? undefined : await injectionMode(options.webhook, kubeConfig);
  const injection = decided?.mode;
  if (options.webhook !== undefined && injection === "admission-policy") {
    const w = options.webhook;
    const { createPolicyInjection, releaseWebhookEntry } =
      await import("../../admission-policy/controller.js");
    operator.manager.add(
      createPolicyInjection({
        kubeConfig,
        logger,
        clock: systemClock,
        informers: operator.informers,
        store: operator.store,
        settings: initSettings(w, options, caPem),
        policy: admissionPolicy(options, verificationPolicy),
        // In cluster the installer owns the configuration: uninstalling it removes the policies.
        ...(w.url === undefined && {
          ownerConfiguration: w.configurationName ?? DEFAULT_CONFIGURATION_NAME,
        }),
      }),
    );
    // A webhook entry left by an earlier run in webhook mode would keep the operator in the path.
    operator.manager.add(
      releaseWebhookEntry(kubeConfig, w.configurationName ?? DEFAULT_CONFIGURATION_NAME, logger, systemClock),
    );
  } else if (options.webhook !== undefined) {
    const w = options.webhook;
    const bind = parseBindAddress(w.bindAddress, "--webhook-bind-address");
    const webhook = createWebhook({
      kubeConfig,
      logger,
      clock: systemClock,
      namespace,
      store: operator.store,
      hasSynced: () => operator.hasSynced(),
      registry: operator.metrics,
      ...admissionPolicy(options, verificationPolicy),
      settings: initSettings(w, options, caPem),
      host: bind.host,
      port: bind.port,
      certificates:
        w.certDir !== undefined
          ? { mode: "directory", dir: w.certDir }
          : { mode: "self-managed", ...(w.certSecret !== undefined && { secretName: w.certSecret }) },
      configuration: {
        clientConfig: w.url !== undefined ? { url: w.url } : { service: { namespace, name: w.service } },
        // In cluster the chart or deploy/ owns the configuration object (uninstalling removes it)
        // and the operator adds only its webhook to it; by URL (out of cluster) it writes it all.
        ownedBy: w.url !== undefined ? "operator" : "installer",
        failurePolicy: w.failurePolicy,
        timeoutSeconds: w.timeoutSeconds,
        watchNamespaces: options.watchNamespaces,
        ...(w.configurationName !== undefined && { name: w.configurationName }),
        ...(w.namespaceSelector !== undefined && { namespaceSelector: w.namespaceSelector }),
        ...(w.objectSelector !== undefined && { objectSelector: w.objectSelector }),
      },
    });
    operator.manager.add(webhook);
    operator.health.addReadyCheck("webhook", () => webhook.isServing());
    // Policies left by an earlier run in admission-policy mode would inject beside the webhook
    // (none can exist where `auto` just found the API not served).
    if (decided?.served !== false) {
      const { removePolicyInjectionOnce } = await import("../../admission-policy/controller.js");
      operator.manager.add(removePolicyInjectionOnce(kubeConfig, logger, systemClock));
    }
  }
  logger.info(
    {
      namespace,
      watchNamespaces: options.watchNamespaces,
      server: kubeConfig.getCurrentCluster()?.server,
      health: `${host}:${port}`,
      webhook: injection === "webhook" ? (options.webhook?.url ?? options.webhook?.service) : undefined,
      injection,
    },
    "starting",
  );
  await operator.start(io.signal ?? new AbortController().signal);
  logger.info({}, "stopped");
  return EXIT.ok;
}

type WebhookOptions = NonNullable<RunOptions["webhook"]>;

/** How the init container runs the operator's image: the same for the webhook and the policies. */
function initSettings(
  w: WebhookOptions,
  options: RunOptions,
  caPem: string | undefined,
): InitContainerSettings {
  return {
    image: w.initImage,
    ...(w.initImagePullPolicy !== undefined && { imagePullPolicy: w.initImagePullPolicy }),
    ...(w.initUser !== undefined && { user: w.initUser }),
    ...(w.initResources !== undefined && { resources: w.initResources }),
    plainHttpRegistries: options.plainHttpRegistries,
    allowedRegistries: options.allowedRegistries,
    // The operator publishes its CA bundle under this name where init containers pull.
    ...(caPem !== undefined && { caBundleConfigMap: CA_BUNDLE_CONFIGMAP }),
  };
}

/** What the administrator allows, checked again at admission by either path. */
function admissionPolicy(
  options: RunOptions,
  verificationPolicy: { readonly policy: VerificationPolicy } | undefined,
): AdmissionPolicy {
  return {
    allowedRegistries: options.allowedRegistries,
    ...(verificationPolicy !== undefined && {
      signaturesRequired: (registry: string, repository: string) =>
        applicableRules(verificationPolicy.policy, registry, repository).length > 0,
    }),
  };
}

/**
 * `--injection`, with `auto` decided by discovery (the gate can be off on any version), and
 * whether the API server serves the policies when discovery was asked. Throws UsageError when
 * admission-policy is asked of an API server that does not serve it.
 */
async function injectionMode(
  w: WebhookOptions,
  kubeConfig: KubeConfig,
): Promise<{ mode: "webhook" | "admission-policy"; served?: boolean }> {
  const asked = w.injection ?? "webhook";
  if (asked === "webhook") return { mode: "webhook" };
  const { servesAdmissionPolicies } = await import("../../admission-policy/controller.js");
  const served = await servesAdmissionPolicies(kubeConfig);
  if (served) return { mode: "admission-policy", served };
  if (asked === "auto") return { mode: "webhook", served };
  throw new UsageError(
    "--injection admission-policy needs admissionregistration.k8s.io/v1 MutatingAdmissionPolicy, which this API server " +
      "does not serve (Kubernetes 1.36+, or its MutatingAdmissionPolicy feature gate is off): use --injection webhook or auto",
  );
}
