import type { KubeConfig, V1Pod } from "@kubernetes/client-node";
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { Counter, Gauge, Registry } from "prom-client";
import { ConditionType, GROUP, ModelDeployment, PLURAL, VERSION } from "../api/index.js";
import type { Clock } from "../runtime/clock.js";
import { createController } from "../runtime/controller.js";
import { createControllerMetrics } from "../runtime/controller-metrics.js";
import { createHealthServer, type HealthServer } from "../runtime/health-server.js";
import { enqueueMappedKeys, enqueueObjectKey, type Informer } from "../runtime/informer.js";
import {
  createCustomResourceInformer,
  createNodeInformer,
  createPodInformer,
} from "../runtime/kube-informers.js";
import type { KubeObject } from "../runtime/kube-object.js";
import { createLeaderElector } from "../runtime/leader-election.js";
import type { Logger } from "../runtime/logger.js";
import { createManager, type Manager } from "../runtime/manager.js";
import { createWorkQueueMetrics } from "../runtime/queue-metrics.js";
import { createRateLimitingQueue } from "../runtime/rate-limiting-queue.js";
import type { Store } from "../runtime/store.js";
import { ArtifactCache } from "./artifact-cache.js";
import { CaBundlePublisher } from "./ca-bundle.js";
import { CapabilityProbe } from "./capability-probe.js";
import { EventRecorder } from "./events.js";
import { modelDeploymentKeysForPod } from "./pods.js";
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
}

export interface Operator {
  readonly manager: Manager;
  readonly health: HealthServer;
  readonly metrics: Registry;
  /** The served ModelDeployments, as the informers see them. */
  readonly store: Store<KubeObject>;
  /** Whether every ModelDeployment informer has listed once (the webhook answers 503 until then). */
  hasSynced(): boolean;
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

/**
 * Wires the operator: ModelDeployment informers (one per watched namespace, or one for all), a
 * node informer for capability detection, pod informers (the same namespaces) whose events
 * enqueue the ModelDeployments selecting the pod, the rate-limited work queue and controller, the shared
 * artifact cache, leader election, and the health/metrics server. Only the leader reconciles;
 * every replica serves health and metrics.
 */
export function createOperator(options: OperatorOptions): Operator {
  const { kubeConfig, logger, clock } = options;
  const registry = new Registry();
  const namespaces = options.watchNamespaces ?? [];
  const informers = (namespaces.length === 0 ? [undefined] : namespaces).map((namespace) =>
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
  const store = unionStore(informers, namespaces);
  const nodes = createNodeInformer({ kubeConfig, logger, clock });
  // Pods of the watched namespaces: status.pods counts them, rollouts find their owners.
  const podInformers = (namespaces.length === 0 ? [undefined] : namespaces).map((namespace) =>
    createPodInformer({ kubeConfig, logger, clock, ...(namespace !== undefined && { namespace }) }),
  );
  const pods = unionStore<V1Pod>(podInformers, namespaces);

  const registryRequests = new Counter({
    name: "modelpack_registry_requests_total",
    help: "Registry HTTP exchanges by registry, operation and result (ok or the error code).",
    labelNames: ["registry", "operation", "result"],
    registers: [registry],
  });
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

  const artifacts = new ArtifactCache({
    clock,
    client: {
      ...(options.allowedRegistries !== undefined &&
        options.allowedRegistries.length > 0 && { allowedRegistries: options.allowedRegistries }),
      ...(options.plainHttpRegistries !== undefined && { plainHttp: options.plainHttpRegistries }),
      ...(options.caPem !== undefined && { caPem: options.caPem }),
      userAgent: "modelpack-operator",
      onRequest: (e) =>
        registryRequests.inc({ registry: e.registry, operation: e.operation, result: e.result }),
    },
  });
  const capabilities = new CapabilityProbe({
    kubeConfig,
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
  const selecting = (pod: V1Pod): string[] => {
    const namespace = pod.metadata?.namespace;
    return namespace === undefined ? [] : modelDeploymentKeysForPod(pod, store.list({ namespace }));
  };
  for (const informer of podInformers) informer.addEventHandler(enqueueMappedKeys(queue, selecting));
  const controller = createController({
    name: "modeldeployment",
    queue,
    logger,
    clock,
    metrics: createControllerMetrics({ registry }),
    workers: options.workers ?? 4,
    waitForSync: [...informers, nodes, ...podInformers],
    reconcile: createModelDeploymentReconciler({
      kubeConfig,
      store,
      artifacts,
      capabilities,
      clock,
      events: new EventRecorder(kubeConfig, clock, logger),
      pods,
      ...(options.blockedRecheckMs !== undefined && { blockedRecheckMs: options.blockedRecheckMs }),
      ...(options.caPem !== undefined && {
        caBundle: new CaBundlePublisher({ kubeConfig, pem: options.caPem, clock }),
      }),
    }),
  });
  const health = createHealthServer({
    host: options.healthHost ?? "127.0.0.1",
    port: options.healthPort ?? 8081,
    registry,
    logger,
  });
  health.addReadyCheck(
    "informers",
    () =>
      informers.every((i) => i.hasSynced()) && nodes.hasSynced() && podInformers.every((i) => i.hasSynced()),
  );

  const identity = options.identity ?? `${hostname()}_${randomUUID()}`;
  const manager = createManager({
    logger,
    clock,
    runnables: [...informers, nodes, ...podInformers, controller, health],
    ...(options.leaderElection !== false && {
      leaderElection: createLeaderElector({
        kubeConfig,
        namespace: options.namespace,
        name: options.leaseName ?? "modelpack-operator",
        identity,
        logger,
        clock,
        ...options.lease,
      }),
    }),
  });
  return {
    manager,
    health,
    metrics: registry,
    store,
    hasSynced: () => informers.every((i) => i.hasSynced()),
    async start(signal) {
      try {
        await manager.start(signal);
      } finally {
        await artifacts.close();
      }
    },
  };
}
