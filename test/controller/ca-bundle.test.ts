import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUP, PLURAL, VERSION } from "../../src/api/index.js";
import { CA_BUNDLE_CONFIGMAP } from "../../src/controller/ca-bundle.js";
import { createOperator } from "../../src/controller/operator.js";
import { systemClock } from "../../src/runtime/clock.js";
import { createLogger } from "../../src/runtime/logger.js";
import { createNamespace, useControlPlane, waitFor } from "../harness/testing.js";
import { installCrd } from "../support/crd.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

const plane = useControlPlane();
const CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n";

describe("the registry CA bundle reaches the namespaces whose pods pull with an init container", () => {
  let kubeConfig: KubeConfig;
  let registry: TestRegistry;
  const stop = new AbortController();
  let running: Promise<void>;

  const apply = async (namespace: string, name: string, strategy: string): Promise<void> => {
    await kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "ModelDeployment",
        metadata: { name },
        spec: {
          model: { reference: `${registry.host}/models/good:v1` },
          selector: { matchLabels: { app: name } },
          mount: { path: "/models/m" },
          strategy,
        },
      },
    });
  };
  const ready = (namespace: string, name: string) =>
    waitFor(
      `${namespace}/${name} Ready`,
      async () => {
        const md = (await kubeConfig.makeApiClient(CustomObjectsApi).getNamespacedCustomObjectStatus({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace,
          name,
        })) as { status?: { conditions?: { type: string; status: string }[] } };
        return md.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true
          ? true
          : undefined;
      },
      { timeoutMs: 30_000 },
    );
  const configMap = (namespace: string) =>
    kubeConfig
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ namespace, name: CA_BUNDLE_CONFIGMAP })
      .catch(() => undefined);

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kubeConfig);
    registry = await startRegistry({ kind: "distribution" });
    await pushArtifact(
      registry,
      "models/good",
      "v1",
      await buildModelPackArtifact([{ path: "model.safetensors", content: "weights" }]),
    );
    running = createOperator({
      kubeConfig,
      logger: createLogger({ level: "silent" }),
      clock: systemClock,
      namespace: "default",
      plainHttpRegistries: [registry.host],
      caPem: CA_PEM,
      healthPort: 0,
      lease: { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 },
    }).start(stop.signal);
  });
  afterAll(async () => {
    stop.abort();
    await running;
    await registry?.stop();
  });

  it("publishes it as a ConfigMap before an InitContainer ModelDeployment is Ready, and only there", async () => {
    const pulling = await createNamespace(kubeConfig, "ca-init");
    const mounting = await createNamespace(kubeConfig, "ca-image");
    await apply(pulling, "init", "InitContainer");
    await apply(mounting, "image", "ImageVolume");
    await ready(pulling, "init");
    const published = await configMap(pulling);
    expect(published?.data).toEqual({ "ca.crt": CA_PEM });
    expect(published?.metadata?.labels?.["app.kubernetes.io/managed-by"]).toBe("modelpack-operator");
    expect(published?.metadata?.managedFields?.map((f) => f.manager)).toContain("modelpack-operator");
    // ImageVolume pods are pulled by the kubelet, which has its own trust: nothing to publish.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await configMap(mounting)).toBeUndefined();
  });
});
