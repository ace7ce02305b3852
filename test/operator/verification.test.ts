import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUP, PLURAL, VERSION } from "../../src/api/index.js";
import { createNamespace, rejectionMessage, useControlPlane, waitFor } from "../harness/testing.js";
import { useCosign, type Cosign } from "../support/cosign.js";
import { installCrd } from "../support/crd.js";
import { startOperatorProcess, type OperatorProcess } from "../support/operator-process.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { waitForWebhookToMount } from "../support/webhook-scope.js";

const plane = useControlPlane();

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

/**
 * The operator with a verification policy in force, on a real control plane: a ModelDeployment of
 * an unsigned model is not Ready and the webhook refuses its pods, naming it, the cause and the
 * fix; once the publisher signs the digest (cosign v3, a key), it becomes Ready and pods get the
 * model, without anyone touching the ModelDeployment.
 */
describe("modelpack-operator run --verification-policy", () => {
  let kubeConfig: KubeConfig;
  let registry: TestRegistry;
  let cosign: Cosign;
  let operator: OperatorProcess | undefined;
  let namespace: string;
  let digest: string;
  let key: string;

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kubeConfig);
    namespace = await createNamespace(kubeConfig, "signed");
    cosign = await useCosign();
    registry = await startRegistry({ kind: "olareg" });
    digest = await pushArtifact(
      registry,
      "prod/tiny",
      "v1",
      await buildModelPackArtifact([{ path: "model.safetensors", content: "weights" }]),
    );
    const work = await mkdtemp(join(tmpdir(), "mpo-policy-"));
    const pair = await cosign.generateKeyPair(work, "release");
    key = pair.key;
    const policy = join(work, "policy.yaml");
    await writeFile(
      policy,
      JSON.stringify({
        apiVersion: "modelpack.dev/v1alpha1",
        kind: "VerificationPolicy",
        rules: [
          {
            name: "prod",
            repositories: [`${registry.host}/prod/**`],
            publicKeys: [await readFile(pair.pub, "utf8")],
          },
        ],
      }),
    );
    operator = await startOperatorProcess({
      kubeconfigPath: plane().kubeconfigPath,
      plainHttpRegistries: [registry.host],
      args: ["--namespace", "default", "--verification-policy", policy],
    });
  }, 600_000);
  afterAll(async () => {
    await operator?.stop();
    await registry?.stop();
  });

  const conditions = async (): Promise<{ conditions: Condition[]; verification?: { digest: string } }> => {
    const md = await kubeConfig.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      name: "tiny",
    });
    return md.status ?? { conditions: [] };
  };
  const condition = async (type: string) => (await conditions()).conditions?.find((c) => c.type === type);
  const dryRunPod = () =>
    kubeConfig.makeApiClient(CoreV1Api).createNamespacedPod({
      namespace,
      dryRun: "All",
      body: {
        metadata: { name: "probe", labels: { app: "server" } },
        spec: { containers: [{ name: "main", image: "registry.example.com/server:1" }] },
      },
    });

  it("an unsigned model is not Ready and its pods are refused; signing it makes it Ready untouched", async () => {
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
          model: { reference: `${registry.host}/prod/tiny:v1`, refreshInterval: "30s" },
          selector: { matchLabels: { app: "server" } },
          mount: { path: "/models/tiny" },
        },
      },
    });
    const verified = await waitFor(
      "Verified False with SignatureMissing",
      async () => {
        const c = await condition("Verified");
        return c?.reason === "SignatureMissing" ? c : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    expect(verified.status).toBe("False");
    expect(verified.message).toContain('verification policy rule "prod"');
    expect(await condition("Ready")).toMatchObject({ status: "False", reason: "SignatureMissing" });
    const refusal = await waitFor(
      "the webhook to refuse a selected pod",
      async () => {
        const message = await rejectionMessage(dryRunPod).catch(() => "");
        return message.includes("ModelDeployment") ? message : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(refusal).toContain(`ModelDeployment ${namespace}/tiny`);
    expect(refusal).toContain("SignatureMissing");
    expect(refusal).toContain("cosign sign");

    await cosign.sign(`${registry.host}/prod/tiny@${digest}`, key);
    const ready = await waitFor(
      "Ready True once the digest is signed",
      async () => {
        const c = await condition("Ready");
        return c?.status === "True" ? c : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(ready.reason).toBe("Ready");
    expect(await condition("Verified")).toMatchObject({ status: "True", reason: "Verified" });
    expect((await conditions()).verification?.digest).toBe(digest);
    await waitForWebhookToMount(kubeConfig, namespace, { app: "server" }, (pod) =>
      JSON.stringify(pod.spec).includes(digest),
    );
  });
});
