/**
 * The runtime pieces together against a real kube-apiserver: two "replicas" in one process, each a
 * manager with an informer, a controller, a health server and leader election. Only the leader
 * reconciles; both are ready once their caches synced; when the leader dies without releasing
 * the lease, the other takes over and works off what happened meanwhile.
 */
import { CoordinationV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { beforeAll, describe, expect, it } from "vitest";
import { createController } from "../../src/runtime/controller.js";
import { createControllerMetrics } from "../../src/runtime/controller-metrics.js";
import { createHealthServer } from "../../src/runtime/health-server.js";
import { enqueueObjectKey } from "../../src/runtime/informer.js";
import { createCustomResourceInformer } from "../../src/runtime/kube-informers.js";
import { createLeaderElector } from "../../src/runtime/leader-election.js";
import { createLogger } from "../../src/runtime/logger.js";
import { createManager } from "../../src/runtime/manager.js";
import { createWorkQueueMetrics } from "../../src/runtime/queue-metrics.js";
import { createRateLimitingQueue } from "../../src/runtime/rate-limiting-queue.js";
import { createNamespace, useControlPlane, waitFor } from "../harness/testing.js";
import { installWidgetCrd, WIDGET } from "./support.js";

const plane = useControlPlane();
const logger = createLogger({ level: process.env.TEST_LOG_LEVEL === "debug" ? "debug" : "silent" });
const LEASE = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };

let kubeConfig: KubeConfig;
let namespace: string;

beforeAll(async () => {
  kubeConfig = plane().kubeConfig;
  await installWidgetCrd(kubeConfig);
  namespace = await createNamespace(kubeConfig, "manager");
});

function startReplica(identity: string, releaseOnCancel: boolean) {
  const registry = new Registry();
  const replicaLogger = logger.child({ replica: identity });
  const reconciled: string[] = [];
  const queue = createRateLimitingQueue<string>({
    metrics: createWorkQueueMetrics({ registry }).forQueue("widgets"),
  });
  const informer = createCustomResourceInformer({ kubeConfig, logger: replicaLogger, ...WIDGET, namespace });
  informer.addEventHandler(enqueueObjectKey(queue));
  const controller = createController({
    name: "widgets",
    queue,
    logger: replicaLogger,
    metrics: createControllerMetrics({ registry }),
    waitForSync: [informer],
    workers: 2,
    reconcile: async (key) => {
      const object = informer.store.get(key);
      if (object) reconciled.push(`${key}@${object.metadata.resourceVersion}`);
    },
  });
  const health = createHealthServer({ port: 0, registry, logger: replicaLogger });
  health.addReadyCheck("informers", () => informer.hasSynced());
  const manager = createManager({
    logger: replicaLogger,
    runnables: [informer, controller, health],
    leaderElection: createLeaderElector({
      kubeConfig,
      namespace,
      name: "widgets-controller",
      identity,
      logger: replicaLogger,
      releaseOnCancel,
      ...LEASE,
    }),
  });
  const stop = new AbortController();
  const running = manager.start(stop.signal);
  const get = async (path: string) => {
    const { host, port } = await health.address();
    const response = await fetch(`http://${host}:${port}${path}`);
    return { status: response.status, body: await response.text() };
  };
  return { identity, manager, reconciled, stop, running, get };
}

async function createWidget(name: string): Promise<void> {
  await kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: WIDGET.group,
    version: WIDGET.version,
    plural: WIDGET.plural,
    namespace,
    body: {
      apiVersion: `${WIDGET.group}/${WIDGET.version}`,
      kind: WIDGET.kind,
      metadata: { name },
      spec: {},
    },
  });
}

describe("two replicas of a manager against a real apiserver", () => {
  it("only the leader reconciles; when it dies, the other takes over and catches up", async () => {
    const a = startReplica("replica-a", false); // a "crash" leaves its lease behind
    await waitFor("a to lead", async () => (a.manager.isLeader() ? true : undefined));
    const b = startReplica("replica-b", true);

    for (const name of ["w1", "w2", "w3"]) await createWidget(name);
    await waitFor("a to reconcile three widgets", async () => (a.reconciled.length >= 3 ? true : undefined));
    for (const replica of [a, b]) {
      await waitFor(`${replica.identity} to be ready`, async () =>
        (await replica.get("/readyz")).status === 200 ? true : undefined,
      );
      expect((await replica.get("/healthz")).status).toBe(200);
    }
    const metrics = (await a.get("/metrics")).body;
    expect(metrics).toMatch(
      /controller_runtime_reconcile_total\{controller="widgets",result="success"\} [3-9]/,
    );
    expect(metrics).toContain('workqueue_depth{name="widgets",controller="widgets"} 0');
    expect(metrics).not.toContain("nodejs_"); // the injected registry only, not prom-client's global one
    expect(b.reconciled).toEqual([]);
    expect(b.manager.isLeader()).toBe(false);

    const diedAt = Date.now();
    a.stop.abort(new Error("simulated crash"));
    await a.running;
    await createWidget("w4"); // while nobody leads
    await waitFor("b to lead", async () => (b.manager.isLeader() ? true : undefined), { intervalMs: 20 });
    // one lease duration plus two jittered retry periods (see the elector's crash test), plus slack
    expect(Date.now() - diedAt).toBeLessThan(LEASE.leaseDurationMs + 2 * 2.2 * LEASE.retryPeriodMs + 1_000);
    await waitFor("b to reconcile all four widgets", async () =>
      ["w1", "w2", "w3", "w4"].every((n) => b.reconciled.some((r) => r.startsWith(`${namespace}/${n}@`)))
        ? true
        : undefined,
    );

    b.stop.abort();
    await b.running; // a graceful stop resolves; the lease is released
    const lease = await waitFor("the released lease", async () => {
      const read = await kubeConfig
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: "widgets-controller", namespace });
      return read.spec?.holderIdentity === "" ? read : undefined;
    });
    expect(lease.spec?.leaseTransitions).toBe(1);
  });
});
