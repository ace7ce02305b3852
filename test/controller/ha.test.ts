import { CoordinationV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUP, PLURAL, VERSION } from "../../src/api/index.js";
import { createNamespace, useControlPlane, waitFor } from "../harness/testing.js";
import { restartApiserver } from "../runtime/apiserver-restart.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { installCrd } from "../support/crd.js";
import { startOperatorProcess, type OperatorProcess } from "../support/operator-process.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

const plane = useControlPlane();

/**
 * The operator as users run it: `modelpack-operator run` processes, two replicas with leader
 * election, one killed with SIGKILL; then an apiserver restart under a running operator.
 */
describe("the operator process: leader election, crash takeover, apiserver restart", () => {
  let kubeConfig: KubeConfig;
  let registry: TestRegistry;
  let namespace: string;
  const children: ChildProcess[] = [];

  const startReplica = (identity: string): Promise<OperatorProcess> =>
    startOperatorProcess({
      kubeconfigPath: plane().kubeconfigPath,
      plainHttpRegistries: [registry.host],
      webhook: false,
      // a replica that does not lead is alive but never ready
      waitFor: "healthz",
      args: ["--namespace", namespace, "--watch-namespace", namespace],
      env: { POD_NAME: identity },
    }).then((replica) => {
      children.push(replica.child);
      return replica;
    });
  const holder = async (): Promise<string | undefined> =>
    (
      await kubeConfig
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: "modelpack-operator", namespace })
        .catch(() => undefined)
    )?.spec?.holderIdentity ?? undefined;
  const apply = (name: string, tag: string) =>
    kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "ModelDeployment",
        metadata: { name },
        spec: {
          model: { reference: `${registry.host}/models/ha:${tag}` },
          selector: { matchLabels: { app: name } },
          mount: { path: "/models/m" },
        },
      },
    });
  const ready = async (name: string): Promise<boolean> => {
    const md = (await kubeConfig
      .makeApiClient(CustomObjectsApi)
      .getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name })) as {
      status?: { conditions?: { type: string; status: string }[] };
    };
    return md.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  };

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kubeConfig);
    namespace = await createNamespace(kubeConfig, "ha");
    registry = await startRegistry({ kind: "distribution" });
    for (const tag of ["v1", "v2", "v3"])
      await pushArtifact(
        registry,
        "models/ha",
        tag,
        await buildModelPackArtifact([{ path: `${tag}.bin`, content: tag }]),
      );
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await registry?.stop();
  });

  it("runs two replicas, only one leads; SIGKILL of the leader hands over within the lease duration", async () => {
    const a = await startReplica("replica-a");
    const first = await waitFor("a leader", async () => holder(), { timeoutMs: 30_000 });
    const b = await startReplica("replica-b");
    await apply("ha-1", "v1");
    await waitFor("ha-1 Ready", async () => ((await ready("ha-1")) ? true : undefined), {
      timeoutMs: 30_000,
    });
    expect(await holder()).toBe(first);
    const leader = first.startsWith("replica-a") ? a : b;
    const follower = leader === a ? b : a;
    const killedAt = Date.now();
    leader.child.kill("SIGKILL");
    const next = await waitFor(
      "the other replica to lead",
      async () => {
        const h = await holder();
        return h !== undefined && h !== first ? h : undefined;
      },
      { timeoutMs: 40_000, intervalMs: 200 },
    );
    const takeoverMs = Date.now() - killedAt;
    console.log(`leader takeover after SIGKILL: ${(takeoverMs / 1000).toFixed(1)} s (lease duration 15 s)`);
    // The follower sees the leader's last renewal up to one jittered retry period (≤ 2.2 × 2 s) after
    // it was written, counts the 15 s lease from then, and notices the expiry up to one more jittered
    // period later: at most 15 s + 2 × 4.4 s, plus 2 s for API round trips on a loaded machine.
    expect(takeoverMs).toBeLessThan(15_000 + 2 * 2.2 * 2_000 + 2_000);
    await apply("ha-2", "v2");
    await waitFor("ha-2 Ready under the new leader", async () => ((await ready("ha-2")) ? true : undefined), {
      timeoutMs: 30_000,
    });
    expect(next).toBe(follower === a ? "replica-a" : "replica-b");
  });

  it("misses nothing when the apiserver restarts under it", async () => {
    const restarted = await restartApiserver(plane(), { downMs: 1_000 });
    try {
      await apply("after-restart", "v3");
      await waitFor("after-restart Ready", async () => ((await ready("after-restart")) ? true : undefined), {
        timeoutMs: 60_000,
      });
    } finally {
      await restarted.stop();
    }
  });
});
