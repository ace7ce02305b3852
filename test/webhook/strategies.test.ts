/**
 * Strategies end to end on an apiserver with the ImageVolume feature gate OFF (it silently drops
 * image volumes): the real operator resolves a real registry's artifact and decides the strategy,
 * and the webhook (on the operator's store) acts on it. Forced ImageVolume is refused with the
 * MountSupported reason; Auto falls back to InitContainer, whose pull command, run locally
 * against the registry, produces the model files.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { mkdtempSync, readFileSync, statSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { createOperator, type Operator } from "../../src/controller/operator.js";
import { systemClock } from "../../src/runtime/clock.js";
import { createNamespace, rejectionMessage, useControlPlane, waitFor } from "../harness/testing.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import {
  core,
  createModelDeployment,
  deleteConfiguration,
  installCrd,
  modelVolume,
  OPERATOR_NAMESPACE,
  readModelDeployment,
  simplePod,
  startWebhook,
  testLogger,
} from "./apiserver-support.js";
import { INIT_SETTINGS } from "./fixtures.js";

const plane = useControlPlane({ featureGates: { ImageVolume: false } });
const CONFIGURATION = "modelpack-operator-strategies";
const files = [
  { path: "model.safetensors", content: "weights of a very small model" },
  { path: "config.json", content: '{"layers":2}' },
];

describe("strategies on a cluster that drops image volumes", () => {
  let kubeConfig: KubeConfig;
  let registry: TestRegistry;
  let operator: Operator;
  let namespace: string;
  let digest: string;
  const stopOperator = new AbortController();
  let operatorRunning: Promise<void>;
  let webhook: Awaited<ReturnType<typeof startWebhook>> | undefined;

  const readyCondition = async (
    name: string,
    type: string,
  ): Promise<{ status?: string; reason?: string; message?: string } | undefined> => {
    const md = (await readModelDeployment(kubeConfig, namespace, name)) as {
      status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
    };
    return md.status?.conditions?.find((c) => c.type === type);
  };

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kubeConfig);
    await core(kubeConfig).createNamespace({ body: { metadata: { name: OPERATOR_NAMESPACE } } });
    namespace = await createNamespace(kubeConfig, "serving");
    registry = await startRegistry({ kind: "distribution" });
    digest = await pushArtifact(registry, "models/tiny", "v1", await buildModelPackArtifact(files));
    operator = createOperator({
      kubeConfig,
      logger: testLogger(),
      clock: systemClock,
      namespace: OPERATOR_NAMESPACE,
      plainHttpRegistries: [registry.host],
      healthPort: 0,
      leaderElection: false,
    });
    operatorRunning = operator.start(stopOperator.signal);
    // The operator does not expose whether its informers synced; the test waits for statuses instead.
    webhook = await startWebhook(
      kubeConfig,
      { store: operator.store, hasSynced: () => true },
      {
        configurationName: CONFIGURATION,
        settings: { ...INIT_SETTINGS, plainHttpRegistries: [registry.host] },
      },
    );
  });

  afterAll(async () => {
    await deleteConfiguration(kubeConfig, CONFIGURATION);
    await webhook?.stop();
    stopOperator.abort();
    await operatorRunning;
    await registry?.stop();
  });

  it("refuses pods of a forced ImageVolume ModelDeployment, with the MountSupported reason", async () => {
    await createModelDeployment(kubeConfig, namespace, "forced", {
      strategy: "ImageVolume",
      reference: `${registry.host}/models/tiny:v1`,
    });
    await waitFor("forced to stall with ImageVolumeUnsupported", async () =>
      (await readyCondition("forced", "Stalled"))?.reason === "ImageVolumeUnsupported" ? true : undefined,
    );
    const message = await waitFor("the webhook to refuse the pod", async () => {
      const text = await rejectionMessage(() =>
        core(kubeConfig).createNamespacedPod({ namespace, body: simplePod("forced-0", { app: "forced" }) }),
      );
      return text.includes("Stalled") ? text : undefined;
    });
    expect(message).toContain(
      `admission webhook "pods.modelpack.dev" denied the request: ModelDeployment ${namespace}/forced selects this pod but is not Ready`,
    );
    expect(message).toContain("ImageVolumeUnsupported");
    expect(message).toContain("silently drops spec.volumes[].image");
    expect(message).toContain("use strategy Auto or InitContainer");
  });

  it("mounts an Auto ModelDeployment through an init container whose pull produces the model files", async () => {
    await createModelDeployment(kubeConfig, namespace, "auto", {
      reference: `${registry.host}/models/tiny:v1`,
    });
    await waitFor("auto to be Ready", async () =>
      (await readyCondition("auto", "Ready"))?.status === "True" ? true : undefined,
    );
    expect((await readyCondition("auto", "MountSupported"))?.reason).toBe("InitContainerFallback");
    const pod = await waitFor("the webhook to mount the pod", async () => {
      const created = await core(kubeConfig).createNamespacedPod({
        namespace,
        body: simplePod("auto-0", { app: "auto" }),
        dryRun: "All",
      });
      return modelVolume(created, "auto") !== undefined ? created : undefined;
    });
    expect(modelVolume(pod, "auto")?.emptyDir).toBeDefined();
    const init = pod.spec?.initContainers?.find((c) => c.name === "modelpack-pull-auto");
    const args = init?.args ?? [];
    expect(args.slice(0, 2)).toEqual(["pull", `${registry.host}/models/tiny@${digest}`]);
    expect(args).toContain("--plain-http");

    const dest = mkdtempSync(join(tmpdir(), "webhook-pull-"));
    try {
      // The init container's own paths, moved under a local folder: the model, and its state beside it.
      const local = args.map((arg, i) =>
        args[i - 1] === "--dest"
          ? join(dest, "model")
          : args[i - 1] === "--state-file"
            ? join(dest, "state.json")
            : arg,
      );
      const out = new PassThrough();
      const code = await main(local, { stdout: out, stderr: out, env: {} });
      expect(code).toBe(0);
      for (const file of files) {
        expect(readFileSync(join(dest, "model", file.path), "utf8")).toBe(file.content);
        expect(statSync(join(dest, "model", file.path)).mode & 0o444).toBe(0o444); // --world-readable
      }
    } finally {
      rmSync(dest, { recursive: true, force: true });
    }
  });
});
