/**
 * A tenant who may create pods and ModelDeployments in a namespace, but not edit its workloads,
 * against the real operator and control plane (issue 12 §6): a pod that names a StatefulSet as its
 * controller — by its real UID, or a made-up one — must not make the operator restart that
 * StatefulSet under `updatePolicy: Rollout` (real rollouts are in test/controller/rollout.test.ts).
 */
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1StatefulSet,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUP, PLURAL, VERSION } from "../../src/api/index.js";
import { rolloutAnnotation } from "../../src/controller/rollout.js";
import { createNamespace, useControlPlane, waitFor } from "../harness/testing.js";
import { installCrd } from "../support/crd.js";
import { startOperatorProcess, type OperatorProcess } from "../support/operator-process.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

const plane = useControlPlane();
const IMAGE = "registry.example.com/app@sha256:" + "d".repeat(64);

describe("rollout trusts only real owners", () => {
  let kubeConfig: KubeConfig;
  let registry: TestRegistry;
  let namespace: string;
  let operator: OperatorProcess;
  let victim: V1StatefulSet;
  let digest: string;

  const apps = () => kubeConfig.makeApiClient(AppsV1Api);
  const core = () => kubeConfig.makeApiClient(CoreV1Api);

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kubeConfig);
    namespace = await createNamespace(kubeConfig, "tenant");
    registry = await startRegistry({ kind: "distribution" });
    digest = await pushArtifact(
      registry,
      "models/llama",
      "v1",
      await buildModelPackArtifact([{ path: "model.safetensors", content: "weights" }]),
    );
    // The workload the tenant may not edit.
    victim = await apps().createNamespacedStatefulSet({
      namespace,
      body: {
        metadata: { name: "victim" },
        spec: {
          serviceName: "victim",
          replicas: 0,
          selector: { matchLabels: { app: "victim" } },
          template: {
            metadata: { labels: { app: "victim" } },
            spec: { containers: [{ name: "c", image: IMAGE }] },
          },
        },
      },
    });
    // Pods created before any ModelDeployment (so they are stale once one selects them), each
    // claiming the StatefulSet as its controller.
    const claims: [string, string][] = [
      ["real-uid", victim.metadata?.uid ?? ""],
      ["made-up-uid", "00000000-0000-0000-0000-000000000000"],
    ];
    for (const [name, uid] of claims) {
      await core().createNamespacedPod({
        namespace,
        body: {
          metadata: {
            name,
            labels: { app: "llama" },
            ownerReferences: [
              { apiVersion: "apps/v1", kind: "StatefulSet", name: "victim", uid, controller: true },
            ],
          },
          spec: { containers: [{ name: "c", image: IMAGE }] },
        },
      });
    }
    operator = await startOperatorProcess({
      kubeconfigPath: plane().kubeconfigPath,
      plainHttpRegistries: [registry.host],
      args: ["--namespace", "default", "--disable-leader-election"],
    });
  }, 180_000);

  afterAll(async () => {
    await operator?.stop();
    await registry?.stop();
  });

  it("leaves a StatefulSet alone that pods name as owner but whose selector does not select them", async () => {
    await kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "ModelDeployment",
        metadata: { name: "llama" },
        spec: {
          model: { reference: `${registry.host}/models/llama:v1` },
          selector: { matchLabels: { app: "llama" } },
          mount: { path: "/models/llama" },
          strategy: "InitContainer",
          updatePolicy: "Rollout",
        },
      },
    });
    // The operator counts both pods stale and looks at their claimed owner.
    await waitFor(
      "status.pods counts the two stale pods",
      async () => {
        const md = (await kubeConfig.makeApiClient(CustomObjectsApi).getNamespacedCustomObjectStatus({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace,
          name: "llama",
        })) as { status?: { resolved?: { digest?: string }; pods?: { stale: number } } };
        return md.status?.resolved?.digest === digest && md.status.pods?.stale === 2 ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
    // Give the rollout step several reconciles' time, then look at the StatefulSet.
    await new Promise((r) => setTimeout(r, 3_000));
    const after = await apps().readNamespacedStatefulSet({ namespace, name: "victim" });
    expect(after.spec?.template.metadata?.annotations?.[rolloutAnnotation("llama")]).toBeUndefined();
    expect(after.metadata?.generation).toBe(victim.metadata?.generation);
  }, 120_000);
});
