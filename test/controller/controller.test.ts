import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUP, PLURAL, VERSION, type Condition } from "../../src/api/index.js";
import { createOperator, type Operator } from "../../src/controller/operator.js";
import { systemClock } from "../../src/runtime/clock.js";
import { createLogger } from "../../src/runtime/logger.js";
import { createNamespace, useControlPlane, waitFor } from "../harness/testing.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { installCrd } from "../support/crd.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

const plane = useControlPlane();
const files = [
  { path: "model.safetensors", content: "weights" },
  { path: "config.json", content: "{}" },
];

interface Status {
  resolved?: { digest: string; reference: string };
  strategy?: string;
  model?: { name?: string; layers: number };
  conditions?: Condition[];
}

describe("the ModelDeployment controller against a real apiserver and registries", () => {
  let kubeConfig: KubeConfig;
  let registry: TestRegistry;
  let privateRegistry: TestRegistry;
  let namespace: string;
  let operator: Operator;
  const stop = new AbortController();
  let running: Promise<void>;
  const digests: Record<string, string> = {};

  const custom = (): CustomObjectsApi => kubeConfig.makeApiClient(CustomObjectsApi);
  const apply = async (name: string, spec: Record<string, unknown>): Promise<void> => {
    await custom().createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "ModelDeployment",
        metadata: { name },
        spec: { selector: { matchLabels: { app: name } }, mount: { path: "/models/m" }, ...spec },
      },
    });
  };
  const status = async (name: string): Promise<Status> => {
    const md = (await custom().getNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      name,
    })) as { status?: Status };
    return md.status ?? {};
  };
  const condition = (s: Status, type: string): Condition | undefined =>
    s.conditions?.find((c) => c.type === type);
  const waitForCondition = (
    name: string,
    type: string,
    expected: string,
    reason?: string,
    timeoutMs = 30_000,
  ) =>
    waitFor(
      `${name}: ${type}=${expected}${reason ? ` (${reason})` : ""}`,
      async () => {
        const s = await status(name);
        const c = condition(s, type);
        return c?.status === expected && (reason === undefined || c.reason === reason) ? s : undefined;
      },
      { timeoutMs },
    );

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kubeConfig);
    namespace = await createNamespace(kubeConfig, "md");
    registry = await startRegistry({ kind: "distribution" });
    privateRegistry = await startRegistry({ kind: "distribution", auth: "token" });
    for (const [repo, options] of [
      ["models/good", {}],
      [
        "models/legacy",
        {
          config: {
            descriptor: { name: "old" },
            config: {},
            modelfs: { type: "layers", diff_ids: ["sha256:" + "b".repeat(64)] },
          },
        },
      ],
      [
        "models/image",
        {
          editManifest: (m: Record<string, unknown>) => {
            delete m.artifactType;
            m.config = { ...(m.config as object), mediaType: "application/vnd.oci.image.config.v1+json" };
          },
        },
      ],
    ] as const) {
      digests[repo] = await pushArtifact(registry, repo, "v1", await buildModelPackArtifact(files, options));
    }
    digests.private = await pushArtifact(
      privateRegistry,
      "models/private",
      "v1",
      await buildModelPackArtifact(files),
    );
    for (let i = 0; i < 10; i++)
      await pushArtifact(
        registry,
        `models/many-${i}`,
        "v1",
        await buildModelPackArtifact([{ path: `m${i}.bin`, content: `w${i}` }]),
      );

    operator = createOperator({
      kubeConfig,
      logger: createLogger({ level: process.env.TEST_LOG_LEVEL === "debug" ? "debug" : "silent" }),
      clock: systemClock,
      namespace: "default",
      plainHttpRegistries: [registry.host, privateRegistry.host],
      healthPort: 0,
      blockedRecheckMs: 1_000,
      lease: { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 },
    });
    running = operator.start(stop.signal);
  });
  afterAll(async () => {
    stop.abort();
    await running;
    await registry?.stop();
    await privateRegistry?.stop();
  });

  it("resolves a tag to its digest, validates, summarises and becomes Ready", async () => {
    await apply("by-tag", { model: { reference: `${registry.host}/models/good:v1` } });
    const s = await waitForCondition("by-tag", "Ready", "True");
    expect(s.resolved?.digest).toBe(digests["models/good"]);
    expect(s.resolved?.reference).toBe(`${registry.host}/models/good@${digests["models/good"]}`);
    expect(s.model).toMatchObject({ name: "tiny-model", layers: 2 });
    expect(s.strategy).toBe("InitContainer"); // no nodes to mount image volumes on
    expect(condition(s, "MountSupported")?.reason).toBe("InitContainerFallback");
  });

  it("picks ImageVolume once a CRI-O 1.34 node exists", async () => {
    const core = kubeConfig.makeApiClient(CoreV1Api);
    await core.createNode({
      body: {
        metadata: { name: "crio-node" },
        status: {
          nodeInfo: {
            containerRuntimeVersion: "cri-o://1.34.0",
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
    await apply("on-crio", {
      model: { reference: `${registry.host}/models/good@${digests["models/good"]}` },
    });
    const s = await waitFor("on-crio to use ImageVolume", async () => {
      const current = await status("on-crio");
      return current.strategy === "ImageVolume" ? current : undefined;
    });
    expect(condition(s, "Ready")?.status).toBe("True");
    await core.deleteNode({ name: "crio-node" });
  });

  it("reads a dockerconfigjson pull secret for a private registry", async () => {
    await createPullSecret("regcred", privateRegistry.username, privateRegistry.password);
    await apply("private", {
      model: { reference: `${privateRegistry.host}/models/private:v1`, pullSecrets: [{ name: "regcred" }] },
    });
    const s = await waitForCondition("private", "Ready", "True");
    expect(s.resolved?.digest).toBe(digests.private);
  });

  it("stalls with Unauthorized on a wrong password", async () => {
    await createPullSecret("wrongcred", privateRegistry.username, "wrong");
    await apply("wrong-password", {
      model: { reference: `${privateRegistry.host}/models/private:v1`, pullSecrets: [{ name: "wrongcred" }] },
    });
    const s = await waitForCondition("wrong-password", "Stalled", "True", "Unauthorized");
    expect(condition(s, "Ready")?.status).toBe("False");
    expect(condition(s, "Resolved")?.message).toContain("rejected the configured credentials");
  });

  it("recovers on its own when a missing secret appears", async () => {
    await apply("late-secret", {
      model: { reference: `${privateRegistry.host}/models/private:v1`, pullSecrets: [{ name: "latecred" }] },
    });
    const stalled = await waitForCondition("late-secret", "Stalled", "True", "SecretNotFound");
    expect(condition(stalled, "Resolved")?.message).toContain("does not exist");
    await createPullSecret("latecred", privateRegistry.username, privateRegistry.password);
    await waitForCondition("late-secret", "Ready", "True");
  });

  it.each([
    ["missing-repo", "models/absent:v1", "ManifestNotFound"],
    ["not-modelpack", "models/image:v1", "NotModelPack"],
    ["legacy", "models/legacy:v1", "LegacyModelPack"],
  ])("stalls %s with %s", async (name, repo, reason) => {
    await apply(name, { model: { reference: `${registry.host}/${repo}` } });
    const s = await waitForCondition(name, "Stalled", "True", reason);
    expect(condition(s, "Ready")).toMatchObject({ status: "False", reason });
  });

  it("reports a registry that is down as Reconciling and recovers when it is back", async () => {
    await pushArtifact(registry, "models/flaky", "v1", await buildModelPackArtifact(files));
    await registry.pause();
    try {
      await apply("flaky", { model: { reference: `${registry.host}/models/flaky:v1` } });
      const down = await waitForCondition("flaky", "Resolved", "False", "RegistryUnavailable");
      expect(condition(down, "Reconciling")?.status).toBe("True");
      expect(condition(down, "Stalled")).toBeUndefined();
    } finally {
      await registry.resume();
    }
    await waitForCondition("flaky", "Ready", "True", undefined, 60_000);
  });

  it("re-resolves a moved tag after refreshInterval and records the new digest with an event", async () => {
    const first = await pushArtifact(
      registry,
      "models/moving",
      "v1",
      await buildModelPackArtifact([{ path: "a.bin", content: "one" }]),
    );
    await apply("moving", {
      model: { reference: `${registry.host}/models/moving:v1`, refreshInterval: "30s" },
    });
    expect((await waitForCondition("moving", "Ready", "True")).resolved?.digest).toBe(first);
    const second = await pushArtifact(
      registry,
      "models/moving",
      "v1",
      await buildModelPackArtifact([{ path: "a.bin", content: "two" }]),
    );
    const moved = await waitFor(
      "the new digest",
      async () => {
        const s = await status("moving");
        return s.resolved?.digest === second ? s : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(condition(moved, "Ready")?.status).toBe("True");
    const events = await kubeConfig
      .makeApiClient(CoreV1Api)
      .listNamespacedEvent({ namespace, fieldSelector: "involvedObject.name=moving" });
    expect(events.items.map((e) => e.reason)).toContain("DigestChanged");
  }, 90_000);

  it("shares registry round trips: 500 ModelDeployments over 10 models cost about 10 resolutions", async () => {
    const names = Array.from({ length: 500 }, (_, i) => `many-${i}`);
    await Promise.all(
      names.map((name, i) =>
        apply(name, { model: { reference: `${registry.host}/models/many-${i % 10}:v1` } }),
      ),
    );
    await waitFor(
      "all 500 Ready",
      async () => {
        const list = (await custom().listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace,
        })) as { items: { metadata: { name: string }; status?: Status }[] };
        const ready = list.items.filter(
          (md) =>
            md.metadata.name.startsWith("many-") && condition(md.status ?? {}, "Ready")?.status === "True",
        );
        return ready.length === 500 ? true : undefined;
      },
      { timeoutMs: 120_000 },
    );
    const metrics = await operator.metrics.getSingleMetricAsString("modelpack_registry_requests_total");
    const manifestFetches = [...metrics.matchAll(/operation="manifest",result="ok"\} (\d+)/g)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    expect(manifestFetches).toBeLessThanOrEqual(2 * 10 + 10);
  });

  async function createPullSecret(name: string, username: string, password: string): Promise<void> {
    const host =
      name === "regcred" || name === "wrongcred" || name === "latecred"
        ? privateRegistry.host
        : registry.host;
    const auth = Buffer.from(`${username}:${password}`).toString("base64");
    await kubeConfig.makeApiClient(CoreV1Api).createNamespacedSecret({
      namespace,
      body: {
        metadata: { name },
        type: "kubernetes.io/dockerconfigjson",
        data: {
          ".dockerconfigjson": Buffer.from(JSON.stringify({ auths: { [host]: { auth } } })).toString(
            "base64",
          ),
        },
      },
    });
  }
});
