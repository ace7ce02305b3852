/**
 * The chart with `webhook.injection: admission-policy` on a full 1.37 control plane (its garbage
 * collector included): the operator, run as the chart runs it, owns its policies by the release's
 * MutatingWebhookConfiguration and its bindings by the policies; selected pods get the model from
 * the API server; `helm uninstall` then leaves no policy and no binding behind, and pods are
 * created unchanged.
 */
import { CoreV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeRequest } from "../../src/runtime/kube-client.js";
import { createNamespace, useControlPlane, waitFor } from "../harness/testing.js";
import { ensureTools } from "../harness/tools.js";
import { installCrd } from "../support/crd.js";
import { createModelDeployment } from "../webhook/apiserver-support.js";
import { startInstalledOperator, type InstalledOperator } from "../support/installed-operator.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { CHART, ok } from "../shipping/support.js";

const plane = useControlPlane({ kubernetesVersion: "1.37", full: true });
const API = "/apis/admissionregistration.k8s.io/v1";
const RELEASE = "mp";
const RELEASE_NAMESPACE = "mp-system";
const CONFIGURATION = `${RELEASE}-modelpack-operator`;

interface Owned {
  metadata: { name: string; uid: string; ownerReferences?: { kind: string; name: string; uid: string }[] };
}

describe("helm install and uninstall with webhook.injection admission-policy (Kubernetes 1.37)", () => {
  let kubeConfig: KubeConfig;
  let registry: TestRegistry;
  let operator: InstalledOperator | undefined;
  let helm: string;
  let namespace: string;
  let digest: string;

  const list = async (resource: string): Promise<Owned[]> =>
    ((await kubeRequest(kubeConfig, { path: `${API}/${resource}` })) as { items: Owned[] }).items.filter(
      (o) => o.metadata.name.startsWith("models.") || o.metadata.name.startsWith(`${namespace}.`),
    );
  const dryRunPod = async (): Promise<V1Pod> =>
    await kubeConfig.makeApiClient(CoreV1Api).createNamespacedPod({
      namespace,
      dryRun: "All",
      body: {
        metadata: { name: "probe", labels: { app: "tiny" } },
        spec: { containers: [{ name: "server", image: "registry.example.com/server:1" }] },
      },
    });

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    helm = join((await ensureTools(["helm"])).helm, "helm");
    await installCrd(plane().kubeconfigPath, kubeConfig);
    namespace = await createNamespace(kubeConfig, "serve");
    registry = await startRegistry({ kind: "distribution" });
    digest = await pushArtifact(
      registry,
      "models/tiny",
      "v1",
      await buildModelPackArtifact([{ path: "a.bin", content: "weights" }]),
    );
    await ok(helm, [
      "install",
      RELEASE,
      CHART,
      "-n",
      RELEASE_NAMESPACE,
      "--create-namespace",
      "--kubeconfig",
      plane().kubeconfigPath,
      "--set",
      "crds.install=false",
      "--set",
      "webhook.injection=admission-policy",
      "--set",
      "replicaCount=1",
    ]);
    operator = await startInstalledOperator({
      kubeconfigPath: plane().kubeconfigPath,
      namespace: RELEASE_NAMESPACE,
      configurationName: CONFIGURATION,
      service: `${RELEASE}-modelpack-operator-webhook`,
      args: ["--injection", "admission-policy", "--plain-http-registries", registry.host],
    });
    await createModelDeployment(kubeConfig, namespace, "tiny", {
      reference: `${registry.host}/models/tiny:v1`,
      strategy: "InitContainer",
    });
  }, 600_000);

  afterAll(async () => {
    await operator?.stop();
    await registry?.stop();
  });

  it("injects through policies the release owns, and helm uninstall removes them all", async () => {
    const injected = await waitFor(
      "the API server to inject the model",
      async () => {
        const pod = await dryRunPod();
        return pod.spec?.initContainers?.length === 1 ? pod : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(injected.spec?.initContainers?.[0]?.args?.[1]).toBe(`${registry.host}/models/tiny@${digest}`);
    const configuration = (await kubeRequest(kubeConfig, {
      path: `${API}/mutatingwebhookconfigurations/${CONFIGURATION}`,
    })) as Owned & { webhooks?: unknown[] };
    expect(configuration.webhooks ?? []).toEqual([]); // the operator is not in the admission path
    const policies = [
      ...(await list("mutatingadmissionpolicies")),
      ...(await list("validatingadmissionpolicies")),
    ];
    expect(policies.map((p) => p.metadata.ownerReferences)).toEqual([
      [expect.objectContaining({ kind: "MutatingWebhookConfiguration", uid: configuration.metadata.uid })],
      [expect.objectContaining({ kind: "MutatingWebhookConfiguration", uid: configuration.metadata.uid })],
    ]);
    const bindings = [
      ...(await list("mutatingadmissionpolicybindings")),
      ...(await list("validatingadmissionpolicybindings")),
    ];
    expect(bindings.map((b) => b.metadata.ownerReferences?.[0]?.uid)).toEqual(
      policies.map((p) => p.metadata.uid),
    );

    // The release goes, and with it the operator (its pod) and, by garbage collection, everything it wrote.
    await ok(helm, ["uninstall", RELEASE, "-n", RELEASE_NAMESPACE, "--kubeconfig", plane().kubeconfigPath]);
    await operator?.stop();
    operator = undefined;
    await waitFor(
      "no policy and no binding of ours left",
      async () => {
        const left = await Promise.all(
          [
            "mutatingadmissionpolicies",
            "validatingadmissionpolicies",
            "mutatingadmissionpolicybindings",
            "validatingadmissionpolicybindings",
          ].map(list),
        );
        return left.every((l) => l.length === 0) ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const after = await waitFor("pods to be created unchanged", async () => {
      const pod = await dryRunPod().catch(() => undefined);
      return pod !== undefined && (pod.spec?.initContainers ?? []).length === 0 ? pod : undefined;
    });
    expect(after.metadata?.annotations ?? {}).toEqual({});
  }, 240_000);
});
