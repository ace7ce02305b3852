/**
 * Self-tests of the full control plane (+ kube-controller-manager, kube-scheduler, kwok): fake
 * nodes keep the runtime and kubelet versions we give them, and a Deployment becomes a ReplicaSet
 * and Running pods on those nodes — image volumes included, since kwok never pulls anything.
 */
import { AppsV1Api, CoreV1Api, type V1Deployment, type V1Pod } from "@kubernetes/client-node";
import { describe, expect, test } from "vitest";
import { imageVolumeOf, imageVolumePod, MODEL_REFERENCE } from "./fixtures/resources.js";
import { isNodeReady } from "./nodes.js";
import { createNamespace, useControlPlane, waitFor } from "./testing.js";

const controlPlane = useControlPlane({ full: true });

describe("full control plane", () => {
  test("a warm full start takes seconds", () => {
    const { startupMs, components } = controlPlane();
    console.log(`warm startControlPlane({ full: true }) took ${startupMs} ms`);
    expect(startupMs).toBeLessThan(60_000);
    expect(components.map((c) => c.name)).toEqual([
      "etcd",
      "kube-apiserver",
      "kube-controller-manager",
      "kube-scheduler",
      "kwok",
    ]);
  });

  test("fake nodes become Ready and keep the nodeInfo they were created with", async () => {
    const plane = controlPlane();
    const containerd = await plane.createFakeNodes(2);
    const crio = await plane.createFakeNodes(1, {
      namePrefix: "crio-node-",
      containerRuntimeVersion: "cri-o://1.34.0",
      kubeletVersion: "v1.34.2",
      labels: { "harness.modelpack.dev/runtime": "cri-o" },
    });
    expect(containerd.map((n) => n.metadata?.name)).toEqual(["kwok-node-0", "kwok-node-1"]);
    expect(crio.map((n) => n.metadata?.name)).toEqual(["crio-node-0"]);

    // Read back after kwok's node-initialize stage patched the status: our fields survived it.
    const core = plane.kubeConfig.makeApiClient(CoreV1Api);
    const node = await core.readNode({ name: "crio-node-0" });
    expect(isNodeReady(node)).toBe(true);
    expect(node.status?.nodeInfo).toMatchObject({
      containerRuntimeVersion: "cri-o://1.34.0",
      kubeletVersion: "v1.34.2",
      architecture: "amd64",
      operatingSystem: "linux",
    });
    expect(node.status?.addresses).toContainEqual({ type: "InternalIP", address: "127.0.0.1" });
    expect(node.metadata?.labels?.["harness.modelpack.dev/runtime"]).toBe("cri-o");
    const first = await core.readNode({ name: "kwok-node-0" });
    expect(first.status?.nodeInfo?.containerRuntimeVersion).toBe("containerd://2.1.0");
    expect(first.status?.nodeInfo?.kubeletVersion).toBe(plane.version);
    expect(first.status?.allocatable).toMatchObject({ cpu: "32", memory: "256Gi", pods: "110" });
  });

  test("a Deployment becomes a ReplicaSet and Running pods on the fake nodes", async () => {
    const plane = controlPlane();
    const namespace = await createNamespace(plane.kubeConfig, "deploy");
    const template: V1Pod = imageVolumePod("model-server");
    const deployment: V1Deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "model-server" },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: "model-server" } },
        template: { metadata: template.metadata ?? {}, spec: template.spec ?? { containers: [] } },
      },
    };
    const apps = plane.kubeConfig.makeApiClient(AppsV1Api);
    const core = plane.kubeConfig.makeApiClient(CoreV1Api);
    const created = await apps.createNamespacedDeployment({ namespace, body: deployment });

    const available = await waitFor(
      "3 available replicas",
      async () => {
        const d = await apps.readNamespacedDeployment({ name: "model-server", namespace });
        return d.status?.availableReplicas === 3 ? d : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(available.status?.readyReplicas).toBe(3);

    const replicaSets = (await apps.listNamespacedReplicaSet({ namespace })).items;
    expect(replicaSets).toHaveLength(1);
    expect(replicaSets[0]?.metadata?.ownerReferences?.[0]?.uid).toBe(created.metadata?.uid);

    const pods = (await core.listNamespacedPod({ namespace })).items;
    expect(pods).toHaveLength(3);
    const nodeNames = new Set((await core.listNode()).items.map((n) => n.metadata?.name));
    for (const pod of pods) {
      expect(pod.status?.phase).toBe("Running");
      expect(nodeNames.has(pod.spec?.nodeName)).toBe(true);
      expect(pod.metadata?.ownerReferences?.[0]?.name).toBe(replicaSets[0]?.metadata?.name);
      expect(imageVolumeOf(pod).reference).toBe(MODEL_REFERENCE);
      // The controller-manager created the default ServiceAccount, and admission used it.
      expect(pod.spec?.serviceAccountName).toBe("default");
    }
  });
});
