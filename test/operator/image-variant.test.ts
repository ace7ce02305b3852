import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUP, PLURAL, VERSION } from "../../src/api/index.js";
import { main } from "../../src/cli/main.js";
import { createNamespace, useControlPlane, waitFor } from "../harness/testing.js";
import { useCosign, type Cosign } from "../support/cosign.js";
import { installCrd } from "../support/crd.js";
import { startOperatorProcess, type OperatorProcess } from "../support/operator-process.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { waitForWebhookToMount } from "../support/webhook-scope.js";

const plane = useControlPlane();

interface Status {
  strategy?: string;
  imageVariant?: { used: boolean; digest?: string; reference?: string; reason: string; verified?: boolean };
  conditions?: { type: string; status: string; reason: string; message: string }[];
}

/**
 * The operator with a verification policy in force and a containerd 2.4 node: a signed artifact
 * whose image variant is not signed keeps the init container (ImageVariant False,
 * ImageVariantUnsigned); once the variant's digest is signed too, pods get the variant as an
 * image volume, without anyone touching the ModelDeployment.
 */
describe("image variants under a verification policy", () => {
  let kubeConfig: KubeConfig;
  let registry: TestRegistry;
  let cosign: Cosign;
  let operator: OperatorProcess | undefined;
  let namespace: string;

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kubeConfig);
    namespace = await createNamespace(kubeConfig, "variant");
    await kubeConfig.makeApiClient(CoreV1Api).createNode({
      body: {
        metadata: { name: "containerd-node" },
        status: {
          nodeInfo: {
            containerRuntimeVersion: "containerd://2.4.2",
            kubeletVersion: "v1.35.8",
            architecture: "amd64",
            bootID: "",
            kernelVersion: "",
            kubeProxyVersion: "",
            machineID: "",
            operatingSystem: "linux",
            osImage: "",
            systemUUID: "",
          },
        },
      },
    });
    cosign = await useCosign();
    registry = await startRegistry({ kind: "olareg" });
  }, 600_000);
  afterAll(async () => {
    await operator?.stop();
    await registry?.stop();
  });

  const status = async (): Promise<Status> => {
    const md = await kubeConfig.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      name: "tiny",
    });
    return (md as { status?: Status }).status ?? {};
  };

  it("an unsigned variant is ignored (ImageVariantUnsigned); signing it makes pods mount it", async () => {
    const artifact = await buildModelPackArtifact([{ path: "model.safetensors", content: "weights" }]);
    const digest = await pushArtifact(registry, "prod/tiny", "v1", artifact);
    const work = await mkdtemp(join(tmpdir(), "mpo-variant-policy-"));
    const pair = await cosign.generateKeyPair(work, "release");
    await cosign.sign(`${registry.host}/prod/tiny@${digest}`, pair.key);
    const stdout = new PassThrough();
    let printed = "";
    stdout.on("data", (c: Buffer) => (printed += c.toString()));
    expect(
      await main(["publish-image", `${registry.host}/prod/tiny:v1`, "--plain-http", "-o", "json"], {
        stdout,
        stderr: new PassThrough(),
        env: { HOME: "/nonexistent" },
      }),
    ).toBe(0);
    const variant = (JSON.parse(printed) as { digest: string }).digest;

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
    const unsigned = await waitFor(
      "the unsigned variant to be ignored",
      async () => {
        const s = await status();
        return s.imageVariant?.reason === "ImageVariantUnsigned" &&
          s.conditions?.some((c) => c.type === "Ready" && c.status === "True")
          ? s
          : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(unsigned.strategy).toBe("InitContainer");
    expect(unsigned.imageVariant).toMatchObject({ used: false, digest: variant, verified: false });
    expect(unsigned.conditions?.find((c) => c.type === "ImageVariant")).toMatchObject({
      status: "False",
      reason: "ImageVariantUnsigned",
    });

    await cosign.sign(`${registry.host}/prod/tiny@${variant}`, pair.key);
    const used = await waitFor(
      "the signed variant to be used",
      async () => {
        const s = await status();
        return s.imageVariant?.used === true ? s : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(used.strategy).toBe("ImageVolume");
    expect(used.imageVariant).toMatchObject({
      digest: variant,
      verified: true,
      reference: `${registry.host}/prod/tiny@${variant}`,
    });
    expect(used.conditions?.find((c) => c.type === "ImageVariant")).toMatchObject({
      status: "True",
      reason: "ImageVariantUsed",
    });
    await waitForWebhookToMount(kubeConfig, namespace, { app: "server" }, (pod) =>
      JSON.stringify(pod.spec).includes(`"reference":"${registry.host}/prod/tiny@${variant}"`),
    );
  });
});
