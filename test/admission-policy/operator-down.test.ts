/**
 * `modelpack-operator run --injection admission-policy` on a real kube-apiserver 1.37: once the
 * operator has written its policies, bindings and `status.injection`, it can be SIGKILLed and the
 * API server alone keeps serving models — a Ready ModelDeployment's new pods get the model at the
 * verified digest, a not-Ready one's pods are refused, other pods and namespaces are untouched, a
 * ModelDeployment deleted meanwhile no longer affects pods, and the next start deletes its
 * bindings. While the operator runs, a spec change moves the pods to the new digest and a deleted
 * ModelDeployment's bindings go with it.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUP, PLURAL, VERSION } from "../../src/api/index.js";
import { kubeRequest } from "../../src/runtime/kube-client.js";
import { createNamespace, errorMessage, useControlPlane, waitFor } from "../harness/testing.js";
import { installCrd } from "../support/crd.js";
import {
  createModelDeployment as createSharedModelDeployment,
  readModelDeployment,
} from "../webhook/apiserver-support.js";
import { startOperatorProcess, type OperatorProcess } from "../support/operator-process.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

const plane = useControlPlane({ kubernetesVersion: "1.37" });
const BINDINGS = "/apis/admissionregistration.k8s.io/v1/mutatingadmissionpolicybindings";

describe("admission-policy injection with the operator down (Kubernetes 1.37)", () => {
  let kubeConfig: KubeConfig;
  let registry: TestRegistry;
  let operator: OperatorProcess | undefined;
  let namespace: string;
  let bystanders: string;
  let v1: string;
  let v2: string;

  const start = async () =>
    await startOperatorProcess({
      kubeconfigPath: plane().kubeconfigPath,
      plainHttpRegistries: [registry.host],
      args: ["--namespace", "default", "--injection", "admission-policy"],
    });
  const custom = () => kubeConfig.makeApiClient(CustomObjectsApi);
  const createModelDeployment = async (name: string, reference: string) =>
    await createSharedModelDeployment(kubeConfig, namespace, name, { reference, strategy: "InitContainer" });
  const injectionOf = async (name: string): Promise<{ allowed?: boolean; digest?: string } | undefined> => {
    const md = (await readModelDeployment(kubeConfig, namespace, name)) as {
      metadata: { generation: number };
      status?: { injection?: { observedGeneration: number; allowed?: boolean; digest?: string } };
    };
    const injection = md.status?.injection;
    return injection?.observedGeneration === md.metadata.generation ? injection : undefined;
  };
  /** A dry-run pod create: the pod as admitted, or the refusal. */
  const create = async (ns: string, labels: Record<string, string>): Promise<V1Pod | string> => {
    try {
      return await kubeConfig.makeApiClient(CoreV1Api).createNamespacedPod({
        namespace: ns,
        dryRun: "All",
        body: {
          metadata: { name: "probe", labels },
          spec: { containers: [{ name: "server", image: "registry.example.com/server:1" }] },
        },
      });
    } catch (err) {
      return errorMessage(err);
    }
  };
  /** The reference the pod's pull init container fetches, or undefined. */
  const pulled = (pod: V1Pod | string): string | undefined =>
    typeof pod === "string" ? undefined : pod.spec?.initContainers?.[0]?.args?.[1];

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kubeConfig);
    namespace = await createNamespace(kubeConfig, "serve");
    bystanders = await createNamespace(kubeConfig, "bystanders");
    registry = await startRegistry({ kind: "distribution" });
    v1 = await pushArtifact(
      registry,
      "models/tiny",
      "v1",
      await buildModelPackArtifact([{ path: "a.bin", content: "one" }]),
    );
    v2 = await pushArtifact(
      registry,
      "models/tiny",
      "v2",
      await buildModelPackArtifact([{ path: "a.bin", content: "two" }]),
    );
    operator = await start();
    await createModelDeployment("tiny", `${registry.host}/models/tiny:v1`);
    await createModelDeployment("missing", `${registry.host}/models/tiny:v404`);
    await waitFor(
      "both ModelDeployments decided",
      async () =>
        (await injectionOf("tiny"))?.allowed === true && (await injectionOf("missing"))?.allowed === false
          ? true
          : undefined,
      { timeoutMs: 60_000 },
    );
  }, 300_000);

  afterAll(async () => {
    await operator?.stop();
    await registry?.stop();
  });

  it("with the operator SIGKILLed, the API server alone injects, refuses and leaves others alone", async () => {
    const pinned = `${registry.host}/models/tiny@${v1}`;
    const injected = await waitFor("the policies to inject", async () => {
      const pod = await create(namespace, { app: "tiny" });
      return pulled(pod) !== undefined ? pod : undefined;
    });
    expect(pulled(injected)).toBe(pinned);

    const killed = new Promise((resolve) => operator?.child.once("exit", resolve));
    operator?.child.kill("SIGKILL");
    await killed;
    operator = undefined;

    const admitted = await create(namespace, { app: "tiny" });
    expect(pulled(admitted)).toBe(pinned);
    expect(typeof admitted !== "string" && admitted.metadata?.annotations?.["modelpack.dev/model.tiny"]).toBe(
      v1,
    );
    expect(await create(namespace, { app: "missing" })).toMatch(
      new RegExp(`ModelDeployment ${namespace}/missing selects this pod but is not Ready`),
    );
    for (const [ns, labels] of [
      [namespace, { app: "other" }],
      [bystanders, { app: "tiny" }],
    ] as const) {
      const untouched = await create(ns, labels);
      expect(typeof untouched === "string" ? untouched : (untouched.spec?.volumes ?? [])).toEqual(
        expect.not.arrayContaining([expect.objectContaining({ name: expect.stringMatching(/^modelpack-/) })]),
      );
      expect(pulled(untouched)).toBeUndefined();
    }

    // Deleted while the operator is down: its binding stays, but without its param it admits unchanged.
    await custom().deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      name: "tiny",
    });
    const orphaned = await waitFor(
      "the deleted ModelDeployment's pods to be admitted unchanged",
      async () => {
        const pod = await create(namespace, { app: "tiny" });
        return typeof pod !== "string" && pulled(pod) === undefined ? pod : undefined;
      },
    );
    expect(orphaned.spec?.volumes ?? []).toEqual([]);
    const bindings = async () =>
      (
        (await kubeRequest(kubeConfig, { path: BINDINGS })) as { items: { metadata: { name: string } }[] }
      ).items.map((b) => b.metadata.name);
    expect(await bindings()).toContain(`${namespace}.tiny`);

    // The next start deletes the orphan; a spec change moves the pods to the new digest.
    operator = await start();
    await waitFor(
      "the orphaned binding to be deleted",
      async () => ((await bindings()).includes(`${namespace}.tiny`) ? undefined : true),
      { timeoutMs: 30_000 },
    );
    await kubeRequest(kubeConfig, {
      method: "PATCH",
      path: `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}/missing`,
      contentType: "application/merge-patch+json",
      body: { spec: { model: { reference: `${registry.host}/models/tiny:v2` } } },
    });
    const moved = await waitFor(
      "the new digest in the pods of the changed ModelDeployment",
      async () => {
        const pod = await create(namespace, { app: "missing" });
        return pulled(pod) === `${registry.host}/models/tiny@${v2}` ? pod : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(typeof moved !== "string" && moved.metadata?.annotations?.["modelpack.dev/model.missing"]).toBe(
      v2,
    );

    // Deleted while the operator runs: its bindings go with it.
    await custom().deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      name: "missing",
    });
    await waitFor(
      "the deleted ModelDeployment's bindings to be deleted",
      async () => ((await bindings()).includes(`${namespace}.missing`) ? undefined : true),
      { timeoutMs: 30_000 },
    );
  }, 180_000);
});
