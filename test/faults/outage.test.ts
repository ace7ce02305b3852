/**
 * A registry outage must not stop pods that already have a verified model (issue 12 §1), on a
 * real control plane with the operator as its own process: the registry fails in each way a
 * refresh can fail (503, 429 with Retry-After, 401, the tag deleted), the operator is killed and
 * started again with empty caches (so it must ask the registry), and the ModelDeployment stays
 * Ready at its verified digest — new pods are admitted at it — while Resolved, the events and
 * the metrics show the failure. A spec change is what drops the verified digest.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUP, PLURAL, VERSION, type Condition } from "../../src/api/index.js";
import { podModelDigest } from "../../src/mount/index.js";
import { createNamespace, rejectionMessage, useControlPlane, waitFor } from "../harness/testing.js";
import { installCrd } from "../support/crd.js";
import { startFaultProxy, type Fault, type FaultProxy } from "../support/fault-proxy.js";
import { startOperatorProcess, type OperatorProcess } from "../support/operator-process.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

const plane = useControlPlane();
const NAME = "llama";

interface Status {
  observedGeneration?: number;
  resolved?: { digest: string; reference: string; resolvedAt: string; observedGeneration?: number };
  conditions?: Condition[];
}

describe("a registry outage against a verified digest", () => {
  let kubeConfig: KubeConfig;
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let namespace: string;
  let digest: string;
  let operator: OperatorProcess | undefined;

  const custom = (): CustomObjectsApi => kubeConfig.makeApiClient(CustomObjectsApi);
  const status = async (): Promise<Status> =>
    (
      (await custom().getNamespacedCustomObjectStatus({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        name: NAME,
      })) as { status?: Status }
    ).status ?? {};
  const condition = (s: Status, type: string): Condition | undefined =>
    s.conditions?.find((c) => c.type === type);
  let pods = 0;
  const createPod = () =>
    kubeConfig.makeApiClient(CoreV1Api).createNamespacedPod({
      namespace,
      body: {
        metadata: { name: `p${pods++}`, labels: { app: NAME } },
        spec: { containers: [{ name: "c", image: "registry.example.com/app@sha256:" + "d".repeat(64) }] },
      },
    });
  /** Kills the running operator with SIGKILL (no clean shutdown) and starts a new one: empty caches. */
  const restartOperator = async (): Promise<void> => {
    if (operator !== undefined) {
      const exited = new Promise((resolve) => operator?.child.once("exit", resolve));
      operator.child.kill("SIGKILL");
      await exited;
    }
    operator = await startOperatorProcess({
      kubeconfigPath: plane().kubeconfigPath,
      plainHttpRegistries: [proxy.host],
      // A killed leader's lease would hold the new process back for its duration.
      args: ["--namespace", "default", "--disable-leader-election"],
    });
  };
  const metrics = async (): Promise<string> =>
    (await fetch(`http://127.0.0.1:${operator?.healthPort}/metrics`)).text();

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kubeConfig);
    namespace = await createNamespace(kubeConfig, "outage");
    registry = await startRegistry({ kind: "distribution" });
    proxy = await startFaultProxy(registry.url);
    digest = await pushArtifact(
      registry,
      "models/llama",
      "v1",
      await buildModelPackArtifact([{ path: "model.safetensors", content: "weights" }]),
    );
    await restartOperator();
    await custom().createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "ModelDeployment",
        metadata: { name: NAME },
        spec: {
          model: { reference: `${proxy.host}/models/llama:v1`, refreshInterval: "30s" },
          selector: { matchLabels: { app: NAME } },
          mount: { path: "/models/llama" },
          strategy: "InitContainer",
        },
      },
    });
    const ready = await waitFor(
      "the ModelDeployment Ready",
      async () => {
        const s = await status();
        return condition(s, "Ready")?.status === "True" ? s : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(ready.resolved).toMatchObject({ digest, observedGeneration: 1 });
  }, 180_000);

  afterAll(async () => {
    operator?.child.kill("SIGKILL");
    await proxy?.stop();
    await registry?.stop();
  });

  const faults: [string, (method: string, path: string) => boolean, Fault, string][] = [
    ["503 on everything", () => true, { kind: "status", status: 503 }, "RegistryUnavailable"],
    [
      "429 with Retry-After: 300 on everything",
      () => true,
      { kind: "status", status: 429, retryAfter: "300" },
      "RegistryUnavailable",
    ],
    ["401 on everything", () => true, { kind: "status", status: 401 }, "Unauthorized"],
    [
      "the tag deleted (404 on the tag's manifest)",
      (_m, p) => p.endsWith("/manifests/v1"),
      { kind: "status", status: 404 },
      "ManifestNotFound",
    ],
  ];

  it.each(faults)(
    "%s, with the operator killed and restarted: Ready stays True and new pods get the verified digest",
    async (_what, match, fault, reason) => {
      proxy.rules.splice(0, proxy.rules.length, { match, fault });
      const before = proxy.requests.length;
      await restartOperator();
      const s = await waitFor(
        `Resolved False (${reason})`,
        async () => {
          const s = await status();
          const resolved = condition(s, "Resolved");
          return resolved?.status === "False" && resolved.reason === reason ? s : undefined;
        },
        { timeoutMs: 60_000 },
      );
      // The operator asked the registry (its cache was empty) and was refused.
      expect(proxy.requests.length).toBeGreaterThan(before);
      expect(condition(s, "Resolved")?.message).toContain(
        `serving ${digest} verified at ${s.resolved?.resolvedAt}`,
      );
      expect(condition(s, "Ready")).toMatchObject({ status: "True", reason: "Ready" });
      expect(condition(s, "Stalled")).toBeUndefined();
      expect(s.resolved?.digest).toBe(digest);

      const pod = await createPod();
      expect(podModelDigest(pod, NAME)).toBe(digest);
      expect(JSON.stringify(pod.spec?.initContainers)).toContain(`${proxy.host}/models/llama@${digest}`);

      const text = await metrics();
      expect(text).toMatch(
        new RegExp(`modelpack_modeldeployments_serving_through_refresh_failure\\{reason="${reason}"\\} 1`),
      );
      const events = await kubeConfig.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace });
      expect(
        events.items.some(
          (e) =>
            e.involvedObject.name === NAME && e.reason === reason && e.message?.includes(`serving ${digest}`),
        ),
      ).toBe(true);
    },
    180_000,
  );

  it("a Retry-After pauses the registry instead of hammering it", async () => {
    proxy.rules.splice(0, proxy.rules.length, {
      match: () => true,
      fault: { kind: "status", status: 429, retryAfter: "300" },
    });
    await restartOperator();
    await waitFor("a 429 seen", async () => (proxy.requests.length > 0 ? true : undefined));
    const start = proxy.requests.length;
    await new Promise((r) => setTimeout(r, 5_000));
    // One reconcile's worth of requests at most (the client does not sleep 300 s, the
    // ModelDeployment is requeued for then).
    expect(proxy.requests.length - start).toBeLessThanOrEqual(4);
  }, 120_000);

  it("a spec change drops the verified digest: during the outage the new generation is not Ready and its pods are refused", async () => {
    proxy.rules.splice(0, proxy.rules.length, { match: () => true, fault: { kind: "status", status: 503 } });
    await restartOperator(); // nothing cached: the new generation must ask the registry
    const ref = { group: GROUP, version: VERSION, plural: PLURAL, namespace, name: NAME };
    const current = (await custom().getNamespacedCustomObject(ref)) as { spec: { mount: object } };
    current.spec.mount = { path: "/models/other" };
    await custom().replaceNamespacedCustomObject({ ...ref, body: current });
    const s = await waitFor(
      "generation 2 observed",
      async () => {
        const s = await status();
        return s.observedGeneration === 2 && condition(s, "Ready")?.observedGeneration === 2 ? s : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(condition(s, "Ready")?.status).toBe("False");
    const message = await rejectionMessage(createPod);
    expect(message).toContain(`ModelDeployment ${namespace}/${NAME} selects this pod but is not Ready`);

    // And once the registry answers again, it is verified for the new generation.
    proxy.rules.splice(0);
    await restartOperator();
    const ready = await waitFor(
      "Ready for generation 2",
      async () => {
        const s = await status();
        return condition(s, "Ready")?.status === "True" && s.observedGeneration === 2 ? s : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(ready.resolved).toMatchObject({ digest, observedGeneration: 2 });
  }, 180_000);
});
