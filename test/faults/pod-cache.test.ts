/**
 * The pod cache against the real control plane (issue 12, §3 "the pod informer caches every pod
 * in the cluster"):
 * - 2,000 realistic pods (about 6.5 KiB each) that nobody selects cost the operator little heap
 *   each, measured in-process with the operator started and its pod cache synced;
 * - readiness and reconciles do not wait for the pod list: with the pod list denied by RBAC (it
 *   never completes), `modelpack-operator run` is ready and makes ModelDeployments Ready, leaving
 *   `status.pods` unset; once the list is allowed, every ModelDeployment gets its counts, also one
 *   that selects no pod at all.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1PolicyRule,
} from "@kubernetes/client-node";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { GROUP, PLURAL, VERSION } from "../../src/api/index.js";
import { createOperator, type PodCacheMode } from "../../src/controller/operator.js";
import { systemClock } from "../../src/runtime/clock.js";
import { createLogger } from "../../src/runtime/logger.js";
import { pickFreePorts } from "../harness/ports.js";
import { createNamespace, errorMessage, useControlPlane, waitFor } from "../harness/testing.js";
import { installCrd } from "../support/crd.js";
import { startOperatorProcess, type OperatorProcess } from "../support/operator-process.js";
import { createPods, realisticPod, servedPodBytes } from "../support/pod-load.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

const plane = useControlPlane();
const logger = createLogger({ level: process.env.TEST_LOG_LEVEL === "debug" ? "debug" : "silent" });

beforeAll(async () => {
  await installCrd(plane().kubeconfigPath, plane().kubeConfig);
});

/** Full garbage collections until the heap stops shrinking (V8's gc, exposed at run time). */
function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  const gc: unknown = runInNewContext("gc");
  if (typeof gc !== "function") throw new Error("cannot expose the garbage collector");
  for (let i = 0; i < 4; i++) Reflect.apply(gc, undefined, []);
}

describe("pod cache: memory", () => {
  const PODS = 2000;
  let crowded: string;
  let empty: string;

  beforeAll(async () => {
    crowded = await createNamespace(plane().kubeConfig, "crowded");
    empty = await createNamespace(plane().kubeConfig, "empty");
    const created = await createPods(plane().kubeConfig, crowded, PODS);
    console.log(`pod cache: ${PODS} pods created in ${created.seconds.toFixed(1)} s`);
  });

  /** Heap the operator (watching `namespace`) still holds once its pod cache has synced, after GC. */
  async function retainedHeap(namespace: string, podCache: PodCacheMode): Promise<number> {
    const [healthPort = 0] = await pickFreePorts(1);
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    const operator = createOperator({
      kubeConfig: plane().kubeConfig,
      logger,
      clock: systemClock,
      namespace: "default",
      watchNamespaces: [namespace],
      leaderElection: false,
      healthPort,
      podCache,
    });
    const stop = new AbortController();
    const running = operator.start(stop.signal);
    try {
      await waitFor("the pod cache to sync", async () => operator.hasPodCacheSynced() || undefined, {
        timeoutMs: 90_000,
        intervalMs: 50,
      });
      collectGarbage();
      return process.memoryUsage().heapUsed - before;
    } finally {
      stop.abort();
      await running;
    }
  }

  it(`retains well under 2 KiB of heap per pod nobody selects (${PODS} pods of ~6.5 KiB)`, async () => {
    const size = await servedPodBytes(plane().kubeConfig, crowded, "load-0");
    await retainedHeap(empty, "projected"); // warm-up: modules, connection pools
    const base = await retainedHeap(empty, "projected");
    const projected = (await retainedHeap(crowded, "projected")) - base;
    const full = (await retainedHeap(crowded, "full")) - base;
    const perPod = (bytes: number): string => `${(bytes / PODS).toFixed(0)} B/pod`;
    console.log(
      `pod cache: a pod is ${size} B of JSON (managedFields aside); retained heap projected ${perPod(projected)}, full ${perPod(full)} (${(full / projected).toFixed(1)}×)`,
    );
    expect(projected / PODS).toBeLessThan(2048);
    expect(full / projected).toBeGreaterThan(4); // the measurement sees the difference
  });
});

const Status = z.object({
  status: z
    .object({
      pods: z.object({ matched: z.number(), current: z.number(), stale: z.number() }).optional(),
      conditions: z.array(z.object({ type: z.string(), status: z.string() })).optional(),
    })
    .optional(),
});

describe("pod cache: readiness does not wait for the pod list", () => {
  let registry: TestRegistry;
  let operator: OperatorProcess | undefined;
  let dir: string;
  let namespace: string;
  const serviceAccount = "pod-cache-operator";

  beforeAll(async () => {
    registry = await startRegistry({ kind: "distribution" });
    await pushArtifact(
      registry,
      "models/tiny",
      "v1",
      await buildModelPackArtifact([{ path: "model.safetensors", content: "weights" }]),
    );
    dir = await mkdtemp(join(tmpdir(), "pod-cache-"));
  });
  afterAll(async () => {
    await operator?.stop();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A ClusterRole with `rules`, bound to the operator's ServiceAccount. */
  async function grant(name: string, rules: V1PolicyRule[]): Promise<void> {
    const rbac = plane().kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createClusterRole({ body: { metadata: { name }, rules } });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
        subjects: [{ kind: "ServiceAccount", name: serviceAccount, namespace: "default" }],
      },
    });
  }

  /** A kubeconfig file authenticating as the operator's ServiceAccount (a bound token). */
  async function serviceAccountKubeconfig(): Promise<{ path: string; kubeConfig: KubeConfig }> {
    const core = plane().kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({
      namespace: "default",
      body: { metadata: { name: serviceAccount } },
    });
    const request = await core.createNamespacedServiceAccountToken({
      namespace: "default",
      name: serviceAccount,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const token = request.status?.token;
    if (token === undefined) throw new Error("the TokenRequest returned no token");
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [
        { name: "plane", server: plane().server, caData: Buffer.from(plane().caPem).toString("base64") },
      ],
      users: [{ name: serviceAccount, token }],
      contexts: [{ name: serviceAccount, cluster: "plane", user: serviceAccount }],
      currentContext: serviceAccount,
    });
    const path = join(dir, "kubeconfig");
    await writeFile(path, kubeConfig.exportConfig());
    return { path, kubeConfig };
  }

  async function createModelDeployment(name: string, app: string): Promise<void> {
    await plane()
      .kubeConfig.makeApiClient(CustomObjectsApi)
      .createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "ModelDeployment",
          metadata: { name },
          spec: {
            model: { reference: `${registry.host}/models/tiny:v1` },
            selector: { matchLabels: { app } },
            mount: { path: "/models/tiny" },
          },
        },
      });
  }

  async function status(name: string): Promise<z.infer<typeof Status>["status"]> {
    const raw = await plane()
      .kubeConfig.makeApiClient(CustomObjectsApi)
      .getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name });
    return Status.parse(raw).status;
  }

  it("is ready and reconciles while the pod list is denied; counts every ModelDeployment once it is allowed", async () => {
    namespace = await createNamespace(plane().kubeConfig, "served");
    await plane()
      .kubeConfig.makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace, body: realisticPod("old-pod", "one") });
    // Everything the operator needs without the webhook, except listing and watching pods.
    await grant("pod-cache-operator", [
      { apiGroups: [GROUP], resources: ["*"], verbs: ["*"] },
      { apiGroups: [""], resources: ["nodes", "events", "secrets", "configmaps"], verbs: ["*"] },
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "create"] },
      { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["*"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["*"] },
      { apiGroups: ["apps"], resources: ["*"], verbs: ["*"] },
    ]);
    const account = await serviceAccountKubeconfig();
    // The premise: this identity's pod list never completes.
    const denied = await account.kubeConfig
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace })
      .then(
        () => "listed",
        (err: unknown) => errorMessage(err),
      );
    expect(denied).toMatch(/403|forbidden/i);

    await createModelDeployment("one", "one"); // selects old-pod
    await createModelDeployment("none", "nobody"); // selects no pod
    // Resolves once /readyz says 200; on a pod cache that gates readiness it never does.
    operator = await startOperatorProcess({
      kubeconfigPath: account.path,
      plainHttpRegistries: [registry.host],
      webhook: false,
      args: ["--namespace", "default", "--watch-namespace", namespace],
    });
    for (const name of ["one", "none"]) {
      const ready = await waitFor(`ModelDeployment ${name} Ready`, async () => {
        const s = await status(name);
        return s?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? s : undefined;
      });
      expect(ready.pods).toBeUndefined(); // not counted from a cache that has not listed
    }

    await grant("pod-cache-operator-pods", [
      { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
    ]);
    // The informer retries the denied list with backoff (up to 30 s plus jitter).
    const counts = async (name: string) =>
      waitFor(`status.pods of ${name}`, async () => (await status(name))?.pods, { timeoutMs: 90_000 });
    expect(await counts("one")).toEqual({ matched: 1, current: 0, stale: 1 });
    expect(await counts("none")).toEqual({ matched: 0, current: 0, stale: 0 });
  });
});
