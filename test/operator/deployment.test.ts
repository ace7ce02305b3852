import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUP, PLURAL, VERSION } from "../../src/api/index.js";
import { createNamespace, useControlPlane, waitFor } from "../harness/testing.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { installCrd } from "../support/crd.js";
import { waitForWebhookToMount } from "../support/webhook-scope.js";
import { startOperatorProcess, type OperatorProcess } from "../support/operator-process.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

const plane = useControlPlane({ full: true });

/**
 * The whole product on a real control plane with fake nodes: `modelpack-operator run` as a
 * process with its webhook registered by URL, a ModelDeployment and a Deployment; the
 * Deployment's pods are admitted with the model mounted, pinned to the digest, and run.
 */
describe("modelpack-operator run: a Deployment's pods get the model", () => {
  let kubeConfig: KubeConfig;
  let registry: TestRegistry;
  let namespace: string;
  let operator: OperatorProcess | undefined;
  let digest: string;

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kubeConfig);
    await plane().createFakeNodes(2, { containerRuntimeVersion: "cri-o://1.34.0" });
    namespace = await createNamespace(kubeConfig, "serving");
    registry = await startRegistry({ kind: "distribution" });
    digest = await pushArtifact(
      registry,
      "models/tiny",
      "v1",
      await buildModelPackArtifact([{ path: "model.safetensors", content: "weights" }]),
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

  it("admits Running pods with the image volume pinned to the digest, and leaves other pods alone", async () => {
    await kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "ModelDeployment",
        metadata: { name: "tiny" },
        spec: {
          model: { reference: `${registry.host}/models/tiny:v1` },
          selector: { matchLabels: { app: "server" } },
          mount: { path: "/models/tiny" },
        },
      },
    });
    await waitForWebhookToMount(kubeConfig, namespace, { app: "server" }, (pod) =>
      (pod.spec?.volumes ?? []).some((v) => v.image !== undefined),
    );
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    for (const app of ["server", "other"]) {
      await apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name: app },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app } },
            template: {
              metadata: { labels: { app } },
              spec: { containers: [{ name: "main", image: "registry.example.com/server:1" }] },
            },
          },
        },
      });
    }
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const running = (app: string) =>
      waitFor(
        `2 Running ${app} pods`,
        async () => {
          const pods = await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` });
          const ready = pods.items.filter((p) => p.status?.phase === "Running");
          return ready.length === 2 ? ready : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 500 },
      );
    const served: V1Pod[] = await running("server");
    for (const pod of served) {
      const volume = pod.spec?.volumes?.find((v) => v.image !== undefined);
      expect(volume?.image?.reference).toBe(`${registry.host}/models/tiny@${digest}`);
      expect(pod.spec?.containers[0]?.volumeMounts).toContainEqual(
        expect.objectContaining({ mountPath: "/models/tiny", readOnly: true }),
      );
    }
    for (const pod of await running("other"))
      expect(pod.spec?.volumes?.some((v) => v.image !== undefined) ?? false).toBe(false);
  });
});
