import type { KubeConfig } from "@kubernetes/client-node";
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { Counter, Gauge, Registry } from "prom-client";
import { z } from "zod";
import { ConditionType, GROUP, ModelDeployment, PLURAL, VERSION } from "../api/index.js";
import { OperatorError } from "../errors.js";
import { POD_ANNOTATION_PREFIX } from "../mount/index.js";
import type { CachedPod } from "../runtime/cached-pod.js";
import type { Clock } from "../runtime/clock.js";
import { createController } from "../runtime/controller.js";
import { createControllerMetrics } from "../runtime/controller-metrics.js";
import { createHealthServer, type HealthServer } from "../runtime/health-server.js";
import { enqueueMappedKeys, enqueueObjectKey, type Informer } from "../runtime/informer.js";
import {
  createCustomResourceInformer,
  createFullPodInformer,
  createNodeInformer,
  createPodInformer,
} from "../runtime/kube-informers.js";
import type { KubeObject } from "../runtime/kube-object.js";
import { createLeaderElector } from "../runtime/leader-election.js";
import { readBuildInfo, registerProcessMetrics, type BuildInfo } from "../runtime/process-metrics.js";
import type { Logger } from "../runtime/logger.js";
import { createManager, type Manager } from "../runtime/manager.js";
import { createWorkQueueMetrics } from "../runtime/queue-metrics.js";
import { createRateLimitingQueue } from "../runtime/rate-limiting-queue.js";
import type { Store } from "../runtime/store.js";
import { ArtifactCache, type ArtifactCacheOptions } from "./artifact-cache.js";
import { createModelVerifier, type LoadedVerificationPolicy } from "./verification.js";
import { createVariantFinder } from "./image-variant.js";
import { createSignatureVerifier } from "../signature/index.js";
import { CaBundlePublisher } from "./ca-bundle.js";
import { CapabilityProbe } from "./capability-probe.js";
import { EventRecorder } from "./events.js";
import { controllerKubeApi } from "./kube-api.js";
import { modelDeploymentKeysForPod } from "./pods.js";
import { RegistryGate } from "./registry-gate.js";
import { createModelDeploymentReconciler } from "./reconciler.js";

/** Everything `modelpack-operator run` can set; the factory fills in the defaults. */
export interface OperatorOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The operator's own namespace: its Lease and the capability probe live here. */
  readonly namespace: string;
  /** Namespaces whose ModelDeployments are served; empty means all. */
  readonly watchNamespaces?: readonly string[];
  /** Lease-based leader election, so several replicas can run. Default true. */
  readonly leaderElection?: boolean;
  readonly leaseName?: string;
  /** Lease timings, shortened by tests. Defaults 15 s / 10 s / 2 s. */
  readonly lease?: {
    readonly leaseDurationMs: number;
    readonly renewDeadlineMs: number;
    readonly retryPeriodMs: number;
  };
  /** Registry policy: only these registries (empty: any), these over plain HTTP, this CA bundle. */
  readonly allowedRegistries?: readonly string[];
  readonly plainHttpRegistries?: readonly string[];
  /**
   * The registries' CA bundle (PEM). The operator trusts it, and publishes it as ConfigMap
   * CA_BUNDLE_CONFIGMAP into the namespaces of InitContainer ModelDeployments for their pulls.
   */
  readonly caPem?: string;
  /**
   * `run --verification-policy`: signatures the administrator requires (spec.model.verify is
   * honoured with or without it).
   */
  readonly verificationPolicy?: LoadedVerificationPolicy;
  /** Health and metrics server: `/healthz`, `/readyz`, `/metrics`. Default 127.0.0.1:8081. */
  readonly healthHost?: string;
  readonly healthPort?: number;
  readonly workers?: number;
  readonly identity?: string;
  /** How soon a ModelDeployment blocked on a missing secret or bad credentials is checked again. */
  readonly blockedRecheckMs?: number;
  /**
   * Whether `updatePolicy: Rollout` may patch Deployments/StatefulSets/DaemonSets (`run
   * --workload-rollout`, default true; the chart and deploy/ grant the RBAC only when enabled).
   * False: the reconciler does not patch and says so in status.
   */
  readonly workloadRollout?: boolean;
  /**
   * What the pod informer keeps of each pod. "projected": a slim `CachedPod` (what status.pods
   * and rollouts read, our annotations only), about 1 KiB a pod. "full": whole `V1Pod` objects,
   * the behaviour before projections, tens of KiB a pod: only the memory benchmark's baseline.
   * Default: the environment variable MODELPACK_POD_CACHE, else "projected".
   */
  readonly podCache?: PodCacheMode;
  /** `modelpack_operator_build_info`'s labels. Default `readBuildInfo(process.env)`. */
  readonly buildInfo?: BuildInfo;
}

/** What the pod informer keeps of each pod (see `OperatorOptions.podCache`). */
export const PodCacheMode = z.enum(["projected", "full"]);
export type PodCacheMode = z.infer<typeof PodCacheMode>;

/** `MODELPACK_POD_CACHE` → the mode; unset or empty: "projected". Throws OperatorError on another value. */
export function podCacheModeFromEnv(env: NodeJS.ProcessEnv): PodCacheMode {
  const value = env.MODELPACK_POD_CACHE;
  if (value === undefined || value === "") return "projected";
  const parsed = PodCacheMode.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new OperatorError(
    "InvalidConfiguration",
    `environment variable MODELPACK_POD_CACHE is "${value}": it must be "projected" (the default) or "full"; unset it`,
  );
}

export interface Operator {
  readonly manager: Manager;
  readonly health: HealthServer;
  readonly metrics: Registry;
  /** The served ModelDeployments, as the informers see them. */
  readonly store: Store<KubeObject>;
  /** The ModelDeployment informers behind `store`, for other controllers' event handlers. */
  readonly informers: readonly Informer<KubeObject>[];
  /** Whether every ModelDeployment informer has listed once (the webhook answers 503 until then). */
  hasSynced(): boolean;
  /**
   * Whether the pod informers have listed once. Neither readiness nor reconciling waits for it:
   * until then reconciles leave `status.pods` as it was and start no rollout; once it is true,
   * every ModelDeployment is reconciled again.
   */
  hasPodCacheSynced(): boolean;
  /** Runs until `signal` aborts; then stops intake, finishes in-flight work and releases the lease. */
  start(signal: AbortSignal): Promise<void>;
}

/** One Store over the informers of several namespaces (keys are `namespace/name`). */
function unionStore<T>(informers: readonly Informer<T>[], namespaces: readonly string[]): Store<T> {
  const of = (namespace: string | undefined): Informer<T> | undefined =>
    namespaces.length === 0 ? informers[0] : informers[namespaces.indexOf(namespace ?? "")];
  return {
    get: (key) => of(key.split("/")[0])?.store.get(key),
    list: (options) =>
      options?.namespace !== undefined
        ? (of(options.namespace)?.store.list(options) ?? [])
        : informers.flatMap((i) => i.store.list(options)),
    keys: () => informers.flatMap((i) => i.store.keys()),
    get size() {
      return informers.reduce((n, i) => n + i.store.size, 0);
    },
  };
}

/** One ModelDeployment informer per watched namespace, or one for all. */
function modelDeploymentInformers(
  options: OperatorOptions,
  namespaces: readonly string[],
): Informer<KubeObject>[] {
  const { kubeConfig, logger, clock } = options;
  return (namespaces.length === 0 ? [undefined] : namespaces).map((namespace) =>
    createCustomResourceInformer({
      kubeConfig,
      logger,
      clock,
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      ...(namespace !== undefined && { namespace }),
    }),
  );
}

/**
 * Pods of the watched namespaces: status.pods counts them, rollouts find their owners. Each pod
 * is cached as a slim projection (`podCache`), and nothing waits for their first list (in a large
 * cluster it takes long and would hold readiness and leadership hostage).
 */
function podCacheInformers(options: OperatorOptions, namespaces: readonly string[]): Informer<CachedPod>[] {
  const { kubeConfig, logger, clock } = options;
  const podCache = options.podCache ?? podCacheModeFromEnv(process.env);
  return (namespaces.length === 0 ? [undefined] : namespaces).map((namespace): Informer<CachedPod> => {
    const scope = { kubeConfig, logger, clock, ...(namespace !== undefined && { namespace }) };
    return podCache === "full"
      ? createFullPodInformer(scope)
      : createPodInformer({ ...scope, annotationPrefixes: [POD_ANNOTATION_PREFIX] });
  });
}

/** The ModelDeployment gauges, computed from the informers' store at each scrape. */
function registerModelDeploymentMetrics(registry: Registry, store: Store<KubeObject>): void {
  new Gauge({
    name: "modelpack_modeldeployments",
    help: "Served ModelDeployments by the status of their Ready condition (True, False, Unknown).",
    labelNames: ["ready"],
    registers: [registry],
    collect() {
      const counts = { True: 0, False: 0, Unknown: 0 };
      for (const raw of store.list()) {
        const md = ModelDeployment.safeParse(raw);
        const ready = md.success
          ? md.data.status?.conditions?.find((c) => c.type === ConditionType.Ready)?.status
          : undefined;
        counts[ready ?? "Unknown"]++;
      }
      for (const [ready, n] of Object.entries(counts)) this.set({ ready }, n);
    },
  });

  new Gauge({
    name: "modelpack_modeldeployments_serving_through_refresh_failure",
    help:
      "Ready ModelDeployments whose last refresh failed (Resolved False), serving the digest verified " +
      "for their generation, by the Resolved reason (RegistryUnavailable, Unauthorized, ManifestNotFound, …).",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const raw of store.list()) {
        const md = ModelDeployment.safeParse(raw);
        const conditions = md.success ? md.data.status?.conditions : undefined;
        const ready = conditions?.find((c) => c.type === ConditionType.Ready);
        const resolved = conditions?.find((c) => c.type === ConditionType.Resolved);
        if (ready?.status === "True" && resolved?.status === "False") this.inc({ reason: resolved.reason });
      }
    },
  });
}

/**
 * The options of the operator's registry clients (the artifact cache's and the signature
 * step's), configured from the registry policy, counting their HTTP exchanges in
 * `modelpack_registry_requests_total`.
 */
function registryClients(options: OperatorOptions, registry: Registry): ArtifactCacheOptions["client"] {
  const registryRequests = new Counter({
    name: "modelpack_registry_requests_total",
    help: "Registry HTTP exchanges by registry, operation and result (ok or the error code).",
    labelNames: ["registry", "operation", "result"],
    registers: [registry],
  });
  return {
    ...(options.allowedRegistries !== undefined &&
      options.allowedRegistries.length > 0 && { allowedRegistries: options.allowedRegistries }),
    ...(options.plainHttpRegistries !== undefined && { plainHttp: options.plainHttpRegistries }),
    ...(options.caPem !== undefined && { caPem: options.caPem }),
    userAgent: "modelpack-operator",
    onRequest: (e) =>
      registryRequests.inc({ registry: e.registry, operation: e.operation, result: e.result }),
  };
}

/**
 * Wires the operator: ModelDeployment informers (one per watched namespace, or one for all), a
 * node informer for capability detection, pod informers (the same namespaces; slim projections,
 * awaited by neither readiness nor reconciles) whose events enqueue the ModelDeployments selecting the pod, the rate-limited work queue and controller, the shared
 * artifact cache, leader election, and the health/metrics server. Only the leader reconciles;
 * every replica serves health and metrics.
 */
export function createOperator(options: OperatorOptions): Operator {
  const { kubeConfig, logger, clock } = options;
  const kube = controllerKubeApi(kubeConfig);
  const registry = new Registry();
  const namespaces = options.watchNamespaces ?? [];
  const informers = modelDeploymentInformers(options, namespaces);
  const store = unionStore(informers, namespaces);
  const nodes = createNodeInformer({ kubeConfig, logger, clock });
  const podInformers = podCacheInformers(options, namespaces);
  const pods = unionStore(podInformers, namespaces);
  const podsSynced = (): boolean => podInformers.every((i) => i.hasSynced());

  const clients = registryClients(options, registry);
  const artifacts = new ArtifactCache({ clock, client: clients });
  const verification = createModelVerifier({
    kube,
    verifier: createSignatureVerifier({ clock }),
    client: clients,
    ...(options.verificationPolicy !== undefined && { policy: options.verificationPolicy }),
  });
  registerModelDeploymentMetrics(registry, store);
  const capabilities = new CapabilityProbe({
    kube,
    namespace: options.namespace,
    clock,
    listNodes: () => nodes.store.list(),
  });
  nodes.addEventHandler({ add: () => capabilities.invalidate(), delete: () => capabilities.invalidate() });

  const queue = createRateLimitingQueue<string>({
    clock,
    metrics: createWorkQueueMetrics({ registry, clock }).forQueue("modeldeployment"),
  });
  for (const informer of informers) informer.addEventHandler(enqueueObjectKey(queue));
  const selecting = (pod: CachedPod): string[] => {
    const namespace = pod.metadata?.namespace;
    return namespace === undefined ? [] : modelDeploymentKeysForPod(pod, store.list({ namespace }));
  };
  for (const informer of podInformers) informer.addEventHandler(enqueueMappedKeys(queue, selecting));
  const workers = options.workers ?? 4;
  const controller = createController({
    name: "modeldeployment",
    queue,
    logger,
    clock,
    metrics: createControllerMetrics({ registry }),
    workers,
    waitForSync: [...informers, nodes],
    reconcile: createModelDeploymentReconciler({
      kube,
      store,
      artifacts,
      capabilities,
      clock,
      events: new EventRecorder(kube, clock, logger),
      pods,
      podsSynced,
      // One slow or throttling registry gets at most half the workers; the rest serve the others.
      registryGate: new RegistryGate({ clock, maxPerRegistry: Math.max(1, Math.ceil(workers / 2)) }),
      ...(options.workloadRollout === false && { workloadRollout: false }),
      verification,
      imageVariants: createVariantFinder({ clock, client: clients }),
      ...(options.blockedRecheckMs !== undefined && { blockedRecheckMs: options.blockedRecheckMs }),
      ...(options.caPem !== undefined && {
        caBundle: new CaBundlePublisher({ kube, pem: options.caPem, clock }),
      }),
    }),
  });
  const health = createHealthServer({
    host: options.healthHost ?? "127.0.0.1",
    port: options.healthPort ?? 8081,
    registry,
    logger,
  });
  // Not the pod informers: see `hasPodCacheSynced`.
  health.addReadyCheck("informers", () => informers.every((i) => i.hasSynced()) && nodes.hasSynced());

  const identity = options.identity ?? `${hostname()}_${randomUUID()}`;
  const elector =
    options.leaderElection === false
      ? undefined
      : createLeaderElector({
          kubeConfig,
          namespace: options.namespace,
          name: options.leaseName ?? "modelpack-operator",
          identity,
          logger,
          clock,
          ...options.lease,
        });
  // Without leader election this replica reconciles: it counts as the leader.
  registerProcessMetrics({
    registry,
    build: options.buildInfo ?? readBuildInfo(process.env),
    isLeader: () => elector?.isLeader() ?? true,
  });
  const manager = createManager({
    logger,
    clock,
    runnables: [...informers, nodes, ...podInformers, controller, health],
    ...(elector !== undefined && { leaderElection: elector }),
  });
  return {
    manager,
    health,
    metrics: registry,
    store,
    informers,
    hasSynced: () => informers.every((i) => i.hasSynced()),
    hasPodCacheSynced: podsSynced,
    async start(signal) {
      // Once the pods are known, count them for every ModelDeployment (also those selecting none,
      // which no pod event brings back).
      void Promise.all(podInformers.map((i) => i.waitForSync(signal))).then((synced) => {
        if (synced.every(Boolean)) for (const key of store.keys()) queue.add(key);
      });
      try {
        await manager.start(signal);
      } finally {
        await artifacts.close();
      }
    },
  };
}
