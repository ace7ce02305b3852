import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUP, PLURAL, VERSION, type PodCounts } from "../../src/api/index.js";
import { rolloutAnnotation } from "../../src/controller/rollout.js";
import { podModelDigest } from "../../src/mount/index.js";
import { createNamespace, useControlPlane, waitFor } from "../harness/testing.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { installCrd } from "../support/crd.js";
import { waitForWebhookToMount } from "../support/webhook-scope.js";
import { startOperatorProcess, type OperatorProcess } from "../support/operator-process.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

const plane = useControlPlane({ full: true });

interface Status {
  resolved?: { digest: string };
  pods?: PodCounts;
  conditions?: { type: string; status: string; reason: string }[];
}

/**
 * A tag moves under two ModelDeployments, one `updatePolicy: Rollout` and one `Pinned`, each
 * selecting the pods of its own Deployment: `modelpack-operator run` (controller + webhook) on a
 * real control plane with fake nodes and a real registry.
 */
describe("rollouts: a tag moves", () => {
  let kubeConfig: KubeConfig;
  let registry: TestRegistry;
  let namespace: string;
  let operator: OperatorProcess | undefined;
  let digest1: string;
  let digest2: string;

  const custom = (): CustomObjectsApi => kubeConfig.makeApiClient(CustomObjectsApi);
  const apps = (): AppsV1Api => kubeConfig.makeApiClient(AppsV1Api);
  const status = async (name: string): Promise<Status> =>
    (
      (await custom().getNamespacedCustomObjectStatus({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        name,
      })) as { status?: Status }
    ).status ?? {};
  /** The live (not terminating) pods of an app once there are `count`, all Running and all annotated with `digest` by ModelDeployment `md`. */
  const podsAt = (app: string, md: string, digest: string, count = 2, timeoutMs = 90_000): Promise<V1Pod[]> =>
    waitFor(
      `${count} Running ${app} pods mounting ${digest.slice(0, 19)}`,
      async () => {
        const pods = (
          await kubeConfig
            .makeApiClient(CoreV1Api)
            .listNamespacedPod({ namespace, labelSelector: `app=${app}` })
        ).items.filter((p) => p.metadata?.deletionTimestamp == null);
        return pods.length === count &&
          pods.every((p) => p.status?.phase === "Running" && podModelDigest(p, md) === digest)
          ? pods
          : undefined;
      },
      { timeoutMs, intervalMs: 500 },
    );
  const countsAre = async (name: string, expected: PodCounts, timeoutMs = 60_000): Promise<Status> => {
    let last: Status | undefined;
    try {
      return await waitFor(
        `${name}: status.pods ${JSON.stringify(expected)}`,
        async () => {
          last = await status(name);
          const pods = last.pods;
          return pods?.matched === expected.matched &&
            pods.current === expected.current &&
            pods.stale === expected.stale
            ? last
            : undefined;
        },
        { timeoutMs, intervalMs: 500 },
      );
    } catch (err) {
      throw new Error(`${String(err)}; last status: ${JSON.stringify(last)}`, { cause: err });
    }
  };
  const templateAnnotations = async (name: string): Promise<Record<string, string>> =>
    (await apps().readNamespacedDeployment({ namespace, name })).spec?.template.metadata?.annotations ?? {};

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kubeConfig);
    await plane().createFakeNodes(2, { containerRuntimeVersion: "cri-o://1.34.0" });
    namespace = await createNamespace(kubeConfig, "rollout");
    registry = await startRegistry({ kind: "distribution" });
    digest1 = await pushArtifact(
      registry,
      "models/tiny",
      "v1",
      await buildModelPackArtifact([{ path: "model.safetensors", content: "weights v1" }]),
    );
    operator = await startOperatorProcess({
      kubeconfigPath: plane().kubeconfigPath,
      plainHttpRegistries: [registry.host],
      args: ["--namespace", "default"],
    });
  });
  afterAll(async () => {
    await operator?.stop();
    await registry?.stop();
  });

  it("both Deployments start with digest 1 and every pod current", async () => {
    for (const [name, updatePolicy] of [
      ["rolling", "Rollout"],
      ["pinned", "Pinned"],
    ] as const) {
      await custom().createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "ModelDeployment",
          metadata: { name },
          spec: {
            model: { reference: `${registry.host}/models/tiny:v1`, refreshInterval: "30s" },
            selector: { matchLabels: { app: name } },
            mount: { path: "/models/tiny" },
            updatePolicy,
          },
        },
      });
      await waitForWebhookToMount(
        kubeConfig,
        namespace,
        { app: name },
        (pod) => podModelDigest(pod, name) === digest1,
      );
      await apps().createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: name } },
            template: {
              metadata: { labels: { app: name } },
              spec: { containers: [{ name: "main", image: "registry.example.com/server:1" }] },
            },
          },
        },
      });
    }
    for (const name of ["rolling", "pinned"]) {
      await podsAt(name, name, digest1);
      const s = await countsAre(name, { matched: 2, current: 2, stale: 0 });
      expect(s.resolved?.digest).toBe(digest1);
      expect(s.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "True" });
    }
  });

  it("after the tag moves, Rollout rolls its Deployment to digest 2 and Pinned keeps its pods, counted stale", async () => {
    digest2 = await pushArtifact(
      registry,
      "models/tiny",
      "v1",
      await buildModelPackArtifact([{ path: "model.safetensors", content: "weights v2" }]),
    );
    expect(digest2).not.toBe(digest1);

    // Rollout: the template is annotated with the new digest; new pods mount it; counts converge.
    await waitFor(
      "the rolling Deployment's template to carry the new digest",
      async () =>
        (await templateAnnotations("rolling"))[rolloutAnnotation("rolling")] === digest2 ? true : undefined,
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    const rolled = await podsAt("rolling", "rolling", digest2);
    for (const pod of rolled)
      expect(pod.spec?.volumes?.find((v) => v.image !== undefined)?.image?.reference).toBe(
        `${registry.host}/models/tiny@${digest2}`,
      );
    const rollingStatus = await countsAre("rolling", { matched: 2, current: 2, stale: 0 });
    expect(rollingStatus.resolved?.digest).toBe(digest2);
    expect(rollingStatus.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "True" });
    const deployment = await apps().readNamespacedDeployment({ namespace, name: "rolling" });
    expect(deployment.metadata?.managedFields?.some((f) => f.manager === "modelpack-operator")).toBe(true);

    // Pinned: resolved moved too, but nothing restarted; both pods are counted stale.
    const pinnedStatus = await countsAre("pinned", { matched: 2, current: 0, stale: 2 });
    expect(pinnedStatus.resolved?.digest).toBe(digest2);
    expect(pinnedStatus.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "True" });
    expect(
      Object.keys(await templateAnnotations("pinned")).filter((k) => k.startsWith("modelpack.dev/")),
    ).toEqual([]);
    await podsAt("pinned", "pinned", digest1);

    // Idempotent: the rolling Deployment is not patched again (its generation stays put).
    const generation = deployment.metadata?.generation;
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await apps().readNamespacedDeployment({ namespace, name: "rolling" })).metadata?.generation).toBe(
      generation,
    );

    const events = await kubeConfig
      .makeApiClient(CoreV1Api)
      .listNamespacedEvent({ namespace, fieldSelector: "involvedObject.name=rolling,reason=RollingOut" });
    expect(events.items.map((e) => e.message)).toContainEqual(
      `restarted Deployment/rolling to mount ${digest2}`,
    );
  });
});
