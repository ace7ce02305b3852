import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { ConditionType, ModelDeployment, Reason, type ModelDeploymentStatus } from "../api/index.js";
import type { ArtifactInspection } from "../artifact/inspect.js";
import type { OperatorError } from "../errors.js";
import { podAnnotationsFor } from "../mount/index.js";
import { RegistryError } from "../oci/errors.js";
import type { CachedPod } from "../runtime/cached-pod.js";
import { FakeClock } from "../runtime/clock.js";
import type { KubeObject } from "../runtime/kube-object.js";
import { createLogger } from "../runtime/logger.js";
import type { Store } from "../runtime/store.js";
import type { ControllerKubeApi } from "./kube-api.js";
import { resolveFailure, type Plan } from "./plan.js";
import {
  createModelDeploymentReconciler,
  nextStep,
  rolloutDigest,
  type ModelDeploymentReconcilerOptions,
} from "./reconciler.js";
import { RegistryGate } from "./registry-gate.js";
import { crio, D1, D2, inspection } from "../../test/controller/fixtures.js";

const KEY = "serving/llama";
const logger = createLogger({ level: "silent" });

const md = (
  o: { status?: ModelDeploymentStatus; updatePolicy?: string; strategy?: string } = {},
): ModelDeployment => ({
  // The status is as given (the tables below only set what they read).
  ...ModelDeployment.parse({
    apiVersion: "modelpack.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name: "llama", namespace: "serving", generation: 1, uid: "md-uid" },
    spec: {
      model: { reference: "registry.example.com/models/llama:v1" },
      selector: { matchLabels: { app: "llama" } },
      mount: { path: "/models/llama" },
      ...(o.updatePolicy !== undefined && { updatePolicy: o.updatePolicy }),
      ...(o.strategy !== undefined && { strategy: o.strategy }),
    },
  }),
  ...(o.status !== undefined && { status: o.status }),
});

/** A Store over fixed objects; namespaces are honoured, selectors are not (the fakes match). */
function fixedStore<T extends { metadata?: { namespace?: string; name?: string } }>(
  objects: readonly T[],
): Store<T> {
  const key = (o: T) => `${o.metadata?.namespace}/${o.metadata?.name}`;
  return {
    get: (k) => objects.find((o) => key(o) === k),
    list: (options) =>
      objects.filter((o) => options?.namespace === undefined || o.metadata?.namespace === options.namespace),
    keys: () => objects.map(key),
    size: objects.length,
  };
}

/** An API in memory: records every write; owners are a StatefulSet "llama" selecting app=llama. */
function fakeKube(): ControllerKubeApi & { statuses: ModelDeploymentStatus[]; patches: string[] } {
  const statuses: ModelDeploymentStatus[] = [];
  const patches: string[] = [];
  return {
    statuses,
    patches,
    getSecret: () => Promise.reject(new Error("no secrets in these tests")),
    getConfigMap: () => Promise.reject(new Error("no config maps in these tests")),
    applyStatus: async (_ns, _name, status) => {
      statuses.push(status);
      return Promise.resolve();
    },
    createEvent: () => Promise.resolve(),
    getWorkload: (_ns, kind, name) =>
      Promise.resolve({
        metadata: { uid: `${kind}-${name}` },
        spec: { selector: { matchLabels: { app: "llama" } }, template: { metadata: { annotations: {} } } },
      }),
    patchWorkload: async (_ns, kind, name) => {
      patches.push(`${kind}/${name}`);
      return Promise.resolve();
    },
    dryRunCreatePod: () => Promise.reject(new Error("unused")),
    getServerVersion: () => Promise.reject(new Error("unused")),
    listNodes: () => Promise.reject(new Error("unused")),
    applyConfigMap: () => Promise.reject(new Error("unused")),
  };
}

const stalePod = (): V1Pod => ({
  metadata: {
    name: "llama-0",
    namespace: "serving",
    labels: { app: "llama" },
    annotations: podAnnotationsFor("llama", D2),
    ownerReferences: [
      {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        name: "llama",
        uid: "StatefulSet-llama",
        controller: true,
      },
    ],
  },
  status: { phase: "Running" },
});

function setup(o: {
  object?: ModelDeployment;
  inspect?: () => Promise<ArtifactInspection>;
  pods?: V1Pod[];
  extra?: Partial<ModelDeploymentReconcilerOptions>;
}) {
  const kube = fakeKube();
  const events: string[] = [];
  const options: ModelDeploymentReconcilerOptions = {
    kube,
    store: fixedStore<KubeObject>(o.object === undefined ? [] : [o.object as KubeObject]),
    artifacts: { cached: () => undefined, inspect: o.inspect ?? (() => Promise.resolve(inspection())) },
    capabilities: { get: () => Promise.resolve(crio) },
    events: {
      record: async (_subject, _type, reason) => {
        events.push(reason);
        return Promise.resolve();
      },
    },
    clock: new FakeClock(Date.parse("2026-11-25T12:00:00Z")),
    ...(o.pods !== undefined && { pods: fixedStore<CachedPod>(o.pods) }),
    ...o.extra,
  };
  const reconcile = createModelDeploymentReconciler(options);
  const run = () => reconcile(KEY, new AbortController().signal, { logger, reconcileID: "test" });
  return { kube, events, run };
}

const ready = (status: ModelDeploymentStatus | undefined) =>
  status?.conditions?.find((c) => c.type === ConditionType.Ready)?.status;

describe("nextStep (what the work queue does after acting)", () => {
  const transient = resolveFailure("Unreachable", "connection refused");
  const blocked = resolveFailure("NotFound", "manifest unknown");
  const throttled = resolveFailure("RateLimited", "slow down", 30);
  const ok = { inspection: inspection() };
  it.each<[string, Parameters<typeof nextStep>[0], object | string]>([
    ["resolved, digest: done", { outcome: ok, plan: {}, blockedRecheckMs: 60_000 }, {}],
    [
      "resolved tag: its refresh interval",
      { outcome: ok, plan: { requeueAfterMs: 300_000 }, blockedRecheckMs: 60_000 },
      { requeueAfterMs: 300_000 },
    ],
    [
      "CA bundle not written: retried with backoff, whatever else",
      { outcome: ok, plan: {}, caBundleFailure: "forbidden", blockedRecheckMs: 60_000 },
      "CABundleUnavailable",
    ],
    [
      "registry said when: then",
      { outcome: { failure: throttled }, plan: {}, blockedRecheckMs: 60_000 },
      { requeueAfterMs: 30_000 },
    ],
    [
      "transient registry failure: retried with backoff",
      { outcome: { failure: transient }, plan: {}, blockedRecheckMs: 60_000 },
      "Unreachable",
    ],
    [
      "a person must fix it: re-checked every minute",
      { outcome: { failure: blocked }, plan: { requeueAfterMs: 300_000 }, blockedRecheckMs: 60_000 },
      { requeueAfterMs: 60_000 },
    ],
    [
      "a person must fix it, refresh sooner: the refresh",
      { outcome: { failure: blocked }, plan: { requeueAfterMs: 5_000 }, blockedRecheckMs: 60_000 },
      { requeueAfterMs: 5_000 },
    ],
  ])("%s", (_what, input, expected) => {
    const next = nextStep(input);
    if (typeof expected === "string") {
      expect(next).toBeInstanceOf(Error);
      expect((next as OperatorError<string>).code).toBe(expected);
    } else expect(next).toEqual(expected);
  });
  it("a transient failure is thrown as a retryable RegistryError", () => {
    const next = nextStep({ outcome: { failure: transient }, plan: {}, blockedRecheckMs: 1 });
    expect(next).toBeInstanceOf(RegistryError);
    expect((next as RegistryError).retryable).toBe(true);
  });
});

describe("rolloutDigest (whether stale pods are rolled, and to what)", () => {
  const planned = (digest: string | undefined): Plan => ({
    status: digest === undefined ? {} : ({ resolved: { digest } } as ModelDeploymentStatus),
    events: [],
  });
  const cached = (digest: string) => ({ resolved: { digest } }) as ModelDeploymentStatus;
  it.each<[string, Parameters<typeof rolloutDigest>[0], string | undefined]>([
    [
      "Rollout, cache has the digest: roll",
      {
        modelDeployment: md({ updatePolicy: "Rollout", status: cached(D1) }),
        plan: planned(D1),
        podsKnown: true,
        workloadRollout: true,
      },
      D1,
    ],
    [
      "cache behind the status just written: wait for its watch event",
      {
        modelDeployment: md({ updatePolicy: "Rollout", status: cached(D2) }),
        plan: planned(D1),
        podsKnown: true,
        workloadRollout: true,
      },
      undefined,
    ],
    [
      "pods not listed yet",
      {
        modelDeployment: md({ updatePolicy: "Rollout", status: cached(D1) }),
        plan: planned(D1),
        podsKnown: false,
        workloadRollout: true,
      },
      undefined,
    ],
    [
      "--workload-rollout=false",
      {
        modelDeployment: md({ updatePolicy: "Rollout", status: cached(D1) }),
        plan: planned(D1),
        podsKnown: true,
        workloadRollout: false,
      },
      undefined,
    ],
    [
      "updatePolicy Pinned",
      {
        modelDeployment: md({ updatePolicy: "Pinned", status: cached(D1) }),
        plan: planned(D1),
        podsKnown: true,
        workloadRollout: true,
      },
      undefined,
    ],
    [
      "nothing resolved",
      {
        modelDeployment: md({ updatePolicy: "Rollout", status: cached(D1) }),
        plan: planned(undefined),
        podsKnown: true,
        workloadRollout: true,
      },
      undefined,
    ],
  ])("%s", (_what, input, expected) => expect(rolloutDigest(input)).toBe(expected));
});

describe("createModelDeploymentReconciler over fake interfaces", () => {
  it("does nothing for a deleted ModelDeployment", async () => {
    const { kube, run } = setup({});
    expect(await run()).toEqual({});
    expect(kube.statuses).toEqual([]);
  });

  it("writes status once: a second reconcile of the written status changes nothing", async () => {
    const first = setup({ object: md() });
    expect(await first.run()).toEqual({ requeueAfterMs: 600_000 }); // the tag's default refresh
    expect(first.kube.statuses).toHaveLength(1);
    const written = first.kube.statuses[0];
    expect(written?.resolved?.digest).toBe(D1);
    expect(ready(written)).toBe("True");
    const second = setup({ object: md({ ...(written !== undefined && { status: written }) }) });
    await second.run();
    expect(second.kube.statuses).toEqual([]);
  });

  it("writes a transient registry failure to status, then throws it for backoff", async () => {
    const { kube, run } = setup({
      object: md(),
      inspect: () =>
        Promise.reject(new RegistryError("Unreachable", "connection refused", { retryable: true })),
    });
    await expect(run()).rejects.toBeInstanceOf(RegistryError);
    expect(kube.statuses[0]?.conditions?.find((c) => c.type === ConditionType.Resolved)?.reason).toBe(
      Reason.RegistryUnavailable,
    );
  });

  it("requeues without reading the registry when its gate is busy", async () => {
    const gate = new RegistryGate({ clock: new FakeClock(), maxPerRegistry: 1 });
    const held = gate.enter("registry.example.com");
    let asked = 0;
    const { kube, run } = setup({
      object: md(),
      inspect: () => {
        asked++;
        return Promise.resolve(inspection());
      },
      extra: { registryGate: gate },
    });
    const result = await run();
    expect(result).toEqual({ requeueAfterMs: expect.any(Number) });
    expect(asked).toBe(0);
    expect(kube.statuses).toEqual([]);
    if (held.enter) held.release();
  });

  it("says in status when the CA bundle cannot be written, then throws for backoff", async () => {
    const { kube, run } = setup({
      object: md({ strategy: "InitContainer" }),
      extra: { caBundle: { ensure: () => Promise.reject(new Error("configmaps is forbidden")) } },
    });
    await expect(run()).rejects.toMatchObject({ code: "CABundleUnavailable" });
    expect(kube.statuses[0]?.strategy).toBe("InitContainer");
    expect(ready(kube.statuses[0])).toBe("False");
  });

  it("rolls the owner of a stale pod once the cached status carries the digest", async () => {
    const first = setup({ object: md({ updatePolicy: "Rollout" }), pods: [stalePod()] });
    await first.run();
    expect(first.kube.patches).toEqual([]); // status just written: the cache is behind
    const written = first.kube.statuses[0];
    const second = setup({
      object: md({ updatePolicy: "Rollout", ...(written !== undefined && { status: written }) }),
      pods: [stalePod()],
    });
    await second.run();
    expect(second.kube.patches).toEqual(["StatefulSet/llama"]);
    expect(second.events).toContain(Reason.RollingOut);
  });
});
