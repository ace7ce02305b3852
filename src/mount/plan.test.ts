import type { V1Volume, V1Container, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import {
  isValidAnnotationKey,
  podDigestAnnotation,
  podModelDigests,
  podNameAnnotation,
} from "./annotations.js";
import { applyJsonPatch } from "./apply-json-patch.js";
import { isDnsLabel, modelVolumeName, pullContainerName } from "./names.js";
import { planMounts } from "./plan.js";
import type { InitContainerSettings, MountPlan, MountTarget } from "./types.js";

const DIGEST_A = `sha256:${"a".repeat(64)}`;
const DIGEST_B = `sha256:${"b".repeat(64)}`;
const IMAGE = `registry.example.com/modelpack/operator@sha256:${"f".repeat(64)}`;
const SETTINGS: InitContainerSettings = { image: IMAGE, plainHttpRegistries: ["localhost:5000"] };
const SECURITY_CONTEXT = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 0,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};
const RESOURCES = { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } };

const target = (name: string, overrides: Partial<MountTarget> = {}): MountTarget => {
  const digest = overrides.digest ?? DIGEST_A;
  return {
    name,
    namespace: "serving",
    pinnedReference: `registry.example.com/models/${name.replace(/[^a-z0-9]/g, "")}@${digest}`,
    digest,
    strategy: "ImageVolume",
    mountPath: `/models/${name}`,
    pullSecrets: [],
    sizeBytes: 100 * 1024 * 1024,
    ...overrides,
  };
};

/** A pod with a `server` container (mounting an emptyDir at /cache) and a bare `sidecar`. */
const podWith = (
  spec: Partial<V1Pod["spec"]> = {},
  metadata: V1Pod["metadata"] = { name: "p", namespace: "serving" },
): V1Pod => ({
  metadata,
  spec: {
    containers: [
      { name: "server", image: "vllm", volumeMounts: [{ name: "cache", mountPath: "/cache" }] },
      { name: "sidecar", image: "proxy" },
    ],
    volumes: [{ name: "cache", emptyDir: {} }],
    ...spec,
  },
});
const barePod = (): V1Pod => ({
  metadata: { name: "p" },
  spec: { containers: [{ name: "server", image: "vllm" }] },
});

/**
 * Plans, applies the patch strictly (every add has a parent, every replace a target), checks that
 * the plan does not depend on the order of the targets and that planning the result again gives
 * an empty patch, and returns the plan and the mutated pod.
 */
function mutate(
  pod: V1Pod,
  targets: readonly MountTarget[],
  settings = SETTINGS,
): { plan: MountPlan & { allowed: true }; pod: V1Pod } {
  const plan = planMounts(pod, targets, settings);
  if (!plan.allowed) throw new Error(`refused: ${plan.message}`);
  expect(plan.patch.filter((op) => op.op === "remove")).toEqual([]);
  expect(planMounts(pod, [...targets].reverse(), settings)).toEqual(plan);
  const result = applyJsonPatch(pod, plan.patch);
  expect(planMounts(result, targets, settings)).toEqual({ allowed: true, patch: [] });
  for (const key of Object.keys(result.metadata?.annotations ?? {}))
    expect(isValidAnnotationKey(key)).toBe(true);
  for (const volume of result.spec?.volumes ?? []) expect(isDnsLabel(volume.name)).toBe(true);
  for (const c of result.spec?.initContainers ?? []) expect(isDnsLabel(c.name)).toBe(true);
  return { plan, pod: result };
}

/** The pod with the plan applied, without checks (for building inputs). */
function planned(pod: V1Pod, targets: readonly MountTarget[]): V1Pod {
  const plan = planMounts(pod, targets, SETTINGS);
  if (!plan.allowed) throw new Error(`refused: ${plan.message}`);
  return applyJsonPatch(pod, plan.patch);
}

function refusal(pod: V1Pod, targets: readonly MountTarget[], settings = SETTINGS): string {
  const plan = planMounts(pod, targets, settings);
  if (plan.allowed) throw new Error(`allowed with patch ${JSON.stringify(plan.patch)}`);
  return plan.message;
}

/** What the apiserver adds to containers after a mutating webhook: defaults the planner never sets. */
function defaulted(pod: V1Pod): V1Pod {
  const copy = structuredClone(pod);
  const fill = (c: V1Container) =>
    Object.assign(c, {
      terminationMessagePath: "/dev/termination-log",
      terminationMessagePolicy: "File",
      imagePullPolicy: "IfNotPresent",
    });
  copy.spec?.containers.forEach(fill);
  copy.spec?.initContainers?.forEach(fill);
  return copy;
}

describe("planMounts: ImageVolume", () => {
  it("creates absent arrays and objects whole and appends to existing ones", () => {
    const llama = target("llama", { pullSecrets: ["regcred"] });
    const { plan } = mutate(podWith(), [llama]);
    const volume = {
      name: "modelpack-model-llama",
      image: { reference: llama.pinnedReference, pullPolicy: "IfNotPresent" },
    };
    const mount = { name: "modelpack-model-llama", mountPath: "/models/llama", readOnly: true };
    expect(plan.patch).toEqual([
      { op: "add", path: "/spec/volumes/-", value: volume },
      { op: "add", path: "/spec/containers/0/volumeMounts/-", value: mount },
      { op: "add", path: "/spec/containers/1/volumeMounts", value: [mount] },
      { op: "add", path: "/spec/imagePullSecrets", value: [{ name: "regcred" }] },
      { op: "add", path: "/metadata/annotations", value: { "modelpack.dev/model.llama": DIGEST_A } },
    ]);
  });

  it("gives a pod without volumes, annotations or imagePullSecrets exactly the image volume", () => {
    const llama = target("llama");
    expect(mutate(barePod(), [llama]).pod).toEqual({
      metadata: { name: "p", annotations: { "modelpack.dev/model.llama": DIGEST_A } },
      spec: {
        containers: [
          {
            name: "server",
            image: "vllm",
            volumeMounts: [{ name: "modelpack-model-llama", mountPath: "/models/llama", readOnly: true }],
          },
        ],
        volumes: [
          {
            name: "modelpack-model-llama",
            image: { reference: llama.pinnedReference, pullPolicy: "IfNotPresent" },
          },
        ],
      },
    });
  });

  it("escapes annotation keys, appends pull secrets without duplicates and keeps the pod's own", () => {
    const pod = podWith(
      { imagePullSecrets: [{ name: "regcred" }] },
      { name: "p", annotations: { "team.example/owner": "ml" } },
    );
    const { plan, pod: result } = mutate(pod, [
      target("llama", { pullSecrets: ["regcred", "mirror", "mirror"] }),
    ]);
    expect(plan.patch).toContainEqual({
      op: "add",
      path: "/spec/imagePullSecrets/-",
      value: { name: "mirror" },
    });
    expect(plan.patch).toContainEqual({
      op: "add",
      path: "/metadata/annotations/modelpack.dev~1model.llama",
      value: DIGEST_A,
    });
    expect(result.spec?.imagePullSecrets).toEqual([{ name: "regcred" }, { name: "mirror" }]);
    expect(result.metadata?.annotations).toEqual({
      "team.example/owner": "ml",
      "modelpack.dev/model.llama": DIGEST_A,
    });
  });

  it("adds metadata when the pod has none", () => {
    const pod: V1Pod = { spec: { containers: [{ name: "server" }] } };
    const { plan } = mutate(pod, [target("llama")]);
    expect(plan.patch.at(-1)).toEqual({
      op: "add",
      path: "/metadata",
      value: { annotations: { "modelpack.dev/model.llama": DIGEST_A } },
    });
  });

  it.each([
    ["no sub path", undefined, undefined],
    ["an empty sub path", "", undefined],
    ["a folder", "weights/", "weights"],
    ["a file", "a/model.safetensors", "a/model.safetensors"],
  ])("mounts %s", (_, subPath, expected) => {
    const { pod } = mutate(barePod(), [target("llama", subPath === undefined ? {} : { subPath })]);
    expect(pod.spec?.containers[0]?.volumeMounts?.[0]?.subPath).toBe(expected);
  });

  it.each([
    ["every container by default", undefined, ["server", "sidecar"]],
    ["every container for an empty list", [], ["server", "sidecar"]],
    ["only the named containers", ["sidecar"], ["sidecar"]],
    ["each named container once", ["server", "server"], ["server"]],
  ])("mounts into %s", (_, containers, expected) => {
    const pod = podWith({ initContainers: [{ name: "setup", image: "busybox" }] });
    const { pod: result } = mutate(pod, [target("llama", containers === undefined ? {} : { containers })]);
    const mounted = result.spec?.containers
      .filter((c) => c.volumeMounts?.some((m) => m.name === "modelpack-model-llama"))
      .map((c) => c.name);
    expect(mounted).toEqual(expected);
    expect(result.spec?.initContainers).toEqual([{ name: "setup", image: "busybox" }]);
  });
});

describe("planMounts: InitContainer", () => {
  const llama = (overrides: Partial<MountTarget> = {}) =>
    target("llama", { strategy: "InitContainer", ...overrides });

  it("adds the emptyDir, the pull init container and read-only mounts of the model folder", () => {
    const t = llama();
    expect(mutate(barePod(), [t]).pod).toEqual({
      metadata: { name: "p", annotations: { "modelpack.dev/model.llama": DIGEST_A } },
      spec: {
        containers: [
          {
            name: "server",
            image: "vllm",
            volumeMounts: [
              { name: "modelpack-model-llama", mountPath: "/models/llama", readOnly: true, subPath: "model" },
            ],
          },
        ],
        volumes: [{ name: "modelpack-model-llama", emptyDir: { sizeLimit: "356Mi" } }],
        initContainers: [
          {
            name: "modelpack-pull-llama",
            image: IMAGE,
            args: [
              "pull",
              t.pinnedReference,
              "--dest",
              "/modelpack/volume/model",
              "--state-file",
              "/modelpack/volume/.modelpack-pull.json",
              "--world-readable",
              "--max-bytes",
              "356Mi",
            ],
            volumeMounts: [{ name: "modelpack-model-llama", mountPath: "/modelpack/volume" }],
            resources: RESOURCES,
            securityContext: SECURITY_CONTEXT,
          },
        ],
      },
    });
  });

  it("runs after the pod's own init containers, which get no mount", () => {
    const pod = podWith({ initContainers: [{ name: "setup", image: "busybox" }] });
    const { plan, pod: result } = mutate(pod, [llama()]);
    expect(plan.patch).toContainEqual(expect.objectContaining({ op: "add", path: "/spec/initContainers/-" }));
    expect(result.spec?.initContainers?.map((c) => c.name)).toEqual(["setup", "modelpack-pull-llama"]);
    expect(result.spec?.initContainers?.[0]).toEqual({ name: "setup", image: "busybox" });
  });

  it("mounts pull secrets and the CA bundle only into the init container, and speaks plain HTTP where told", () => {
    const t = llama({ pinnedReference: `localhost:5000/models/llama@${DIGEST_A}`, pullSecrets: ["regcred"] });
    const { pod } = mutate(podWith(), [t], { ...SETTINGS, caBundleConfigMap: "trust-bundle" });
    expect(pod.spec?.volumes?.map((v) => v.name)).toEqual([
      "cache",
      "modelpack-model-llama",
      "modelpack-secret-regcred",
      "modelpack-ca",
    ]);
    expect(pod.spec?.initContainers?.[0]?.args).toEqual([
      "pull",
      t.pinnedReference,
      "--dest",
      "/modelpack/volume/model",
      "--state-file",
      "/modelpack/volume/.modelpack-pull.json",
      "--world-readable",
      "--max-bytes",
      "356Mi",
      "--plain-http",
      "--ca-file",
      "/modelpack/ca/ca.crt",
      "--registry-config",
      "/modelpack/registry-config/regcred/config.json",
    ]);
    for (const c of pod.spec?.containers ?? []) {
      expect(c.volumeMounts?.map((m) => m.name).filter((n) => n.startsWith("modelpack-"))).toEqual([
        "modelpack-model-llama",
      ]);
    }
    expect(pod.spec?.imagePullSecrets).toBeUndefined();
  });

  it.each([
    ["the whole model", undefined, "model"],
    ["a folder", "weights", "model/weights"],
    ["a file", "a/b.safetensors", "model/a/b.safetensors"],
  ])("shows %s at the same path as an image volume", (_, subPath, expected) => {
    const { pod } = mutate(barePod(), [llama(subPath === undefined ? {} : { subPath })]);
    expect(pod.spec?.containers[0]?.volumeMounts).toEqual([
      { name: "modelpack-model-llama", mountPath: "/models/llama", readOnly: true, subPath: expected },
    ]);
  });

  it("sizes the emptyDir from the model", () => {
    const { pod } = mutate(barePod(), [llama({ sizeBytes: 15_000_000_000 })]);
    expect(pod.spec?.volumes?.[0]?.emptyDir?.sizeLimit).toBe("18Gi");
  });
});

describe("planMounts: several ModelDeployments", () => {
  it("gives each its own volume, plans them in name order and shares pull-secret volumes", () => {
    const targets = [
      target("zephyr", { strategy: "InitContainer", pullSecrets: ["regcred"] }),
      target("llama", { pullSecrets: ["regcred"] }),
      target("mistral", { strategy: "InitContainer", pullSecrets: ["regcred", "extra"] }),
      target("gemma", { pullSecrets: ["regcred", "extra"] }),
    ];
    const { pod } = mutate(podWith(), targets);
    expect(pod.spec?.volumes?.map((v) => v.name)).toEqual([
      "cache",
      "modelpack-model-gemma",
      "modelpack-model-llama",
      "modelpack-model-mistral",
      "modelpack-secret-regcred",
      "modelpack-secret-extra",
      "modelpack-model-zephyr",
    ]);
    expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual([
      "modelpack-pull-mistral",
      "modelpack-pull-zephyr",
    ]);
    expect(pod.spec?.imagePullSecrets).toEqual([{ name: "regcred" }, { name: "extra" }]);
    expect(pod.spec?.containers[1]?.volumeMounts?.map((m) => m.mountPath)).toEqual([
      "/models/gemma",
      "/models/llama",
      "/models/mistral",
      "/models/zephyr",
    ]);
    expect(podModelDigests(pod)).toEqual(new Map(targets.map((t) => [t.name, t.digest])));
  });

  it("allows one mount path for two models in different containers", () => {
    const { pod } = mutate(podWith(), [
      target("a", { mountPath: "/model", containers: ["server"] }),
      target("b", { mountPath: "/model", containers: ["sidecar"] }),
    ]);
    expect(pod.spec?.containers.map((c) => c.volumeMounts?.at(-1)?.name)).toEqual([
      "modelpack-model-a",
      "modelpack-model-b",
    ]);
  });

  it.each([
    ["/models", "/models2"],
    ["/cache/llama", "/data"],
  ])("allows %s next to %s (and inside a writable mount of the pod)", (a, b) => {
    expect(
      mutate(podWith(), [target("a", { mountPath: a }), target("b", { mountPath: b })]).plan.allowed,
    ).toBe(true);
  });
});

describe("planMounts: long and unusual names", () => {
  it("derives valid, stable names and reads the long name back", () => {
    const name = `${"very-long-model-deployment-name.".repeat(3)}v1`;
    const { pod } = mutate(barePod(), [target(name, { strategy: "InitContainer", mountPath: "/m" })]);
    const volume = pod.spec?.volumes?.[0]?.name ?? "";
    expect(volume).toBe(modelVolumeName(name));
    expect(volume).toMatch(/^modelpack-model-very-long-model-deployment-name-very-[0-9a-f]{10}$/);
    expect(volume).toHaveLength(63);
    expect(pod.spec?.initContainers?.[0]?.name).toBe(pullContainerName(name));
    expect(pod.metadata?.annotations).toEqual({
      [podDigestAnnotation(name)]: DIGEST_A,
      [podNameAnnotation(name) ?? ""]: name,
    });
    expect(podModelDigests(pod)).toEqual(new Map([[name, DIGEST_A]]));
  });
});

describe("planMounts: conflicts are refused, naming both sides", () => {
  it.each<[string, V1Pod, MountTarget[], string]>([
    [
      "two models at one path in one container",
      podWith(),
      [target("a", { mountPath: "/models" }), target("b", { mountPath: "/models/" })],
      'ModelDeployment "a" and ModelDeployment "b" both mount a model into container "server", both at /models; give them separate mount paths',
    ],
    [
      "one model inside another",
      podWith(),
      [
        target("outer", { mountPath: "/models" }),
        target("inner", { mountPath: "/models/inner", containers: ["sidecar"] }),
      ],
      'ModelDeployment "inner" and ModelDeployment "outer" both mount a model into container "sidecar", at /models/inner and /models, one inside the other',
    ],
    [
      "a path a container already mounts",
      podWith(),
      [target("llama", { mountPath: "/cache/" })],
      'ModelDeployment "llama" mounts its model at /cache in container "server", which already mounts volume "cache" there; change spec.mount.path or the pod',
    ],
    [
      "a mount of the pod inside the model",
      podWith({
        containers: [{ name: "server", volumeMounts: [{ name: "cache", mountPath: "/models/llama/cache" }] }],
      }),
      [target("llama")],
      'ModelDeployment "llama" mounts its model at /models/llama in container "server", which already mounts volume "cache" at /models/llama/cache, inside it',
    ],
    [
      "a block device at the path",
      podWith({
        containers: [{ name: "server", volumeDevices: [{ name: "disk", devicePath: "/models/llama" }] }],
      }),
      [target("llama")],
      'ModelDeployment "llama" mounts its model at /models/llama in container "server", which already has block device volume "disk" at /models/llama',
    ],
    [
      "a volume name the pod uses for something else",
      podWith({ volumes: [{ name: "modelpack-model-llama", emptyDir: {} }] }),
      [target("llama")],
      'the pod already has a volume named "modelpack-model-llama" (emptyDir), which ModelDeployment "llama" needs for its model; rename the pod\'s volume',
    ],
    [
      "a pull-secret volume name the pod uses for something else",
      podWith({ volumes: [{ name: "modelpack-secret-regcred", secret: { secretName: "other" } }] }),
      [target("llama", { strategy: "InitContainer", pullSecrets: ["regcred"] })],
      'the pod already has a volume named "modelpack-secret-regcred" (secret), which ModelDeployment "llama" needs for pull secret "regcred"',
    ],
    [
      "an init container name the pod uses",
      podWith({ initContainers: [{ name: "modelpack-pull-llama", image: "busybox" }] }),
      [target("llama", { strategy: "InitContainer" })],
      'the pod already has an init container named "modelpack-pull-llama", which ModelDeployment "llama" needs for pulling its model',
    ],
    [
      "a container name the pod uses",
      podWith({ containers: [{ name: "modelpack-pull-llama" }] }),
      [target("llama", { strategy: "InitContainer" })],
      'the pod already has a container named "modelpack-pull-llama", which ModelDeployment "llama" needs',
    ],
    [
      "a container the pod does not have",
      podWith(),
      [target("llama", { containers: ["server", "vllm"] })],
      'ModelDeployment "llama" mounts into container "vllm", which the pod does not have (its containers: "server", "sidecar")',
    ],
    [
      "an init container as target",
      podWith({ initContainers: [{ name: "setup" }] }),
      [target("llama", { containers: ["setup"] })],
      'ModelDeployment "llama" mounts into container "setup", which is an init container of the pod',
    ],
    [
      "a ModelDeployment of another namespace",
      podWith(),
      [target("llama", { namespace: "other" })],
      'ModelDeployment "llama" is in namespace "other", but the pod is in "serving"',
    ],
    [
      "ModelDeployments of two namespaces for a pod without one",
      barePod(),
      [target("a"), target("b", { namespace: "other" })],
      'ModelDeployment "b" is in namespace "other", but ModelDeployment "a" is in "serving"',
    ],
    [
      "one ModelDeployment twice with different settings",
      podWith(),
      [target("llama"), target("llama", { mountPath: "/other" })],
      'ModelDeployment "llama" is listed twice with different settings',
    ],
    [
      "an invalid target",
      podWith(),
      [target("llama", { mountPath: "models" })],
      'ModelDeployment "llama": mount path "models" is not absolute; fix spec.mount.path',
    ],
    [
      "a new model where an already mounted one is",
      planned(podWith(), [target("old", { mountPath: "/m" })]),
      [target("old", { mountPath: "/m" }), target("new", { mountPath: "/m/new" })],
      'ModelDeployment "new" mounts its model at /m/new in container "server", inside the model of ModelDeployment "old" (volume "modelpack-model-old") at /m, which is read-only',
    ],
    [
      "a model inside a read-only mount of the pod",
      podWith({
        containers: [
          { name: "server", volumeMounts: [{ name: "cache", mountPath: "/data", readOnly: true }] },
        ],
      }),
      [target("llama", { mountPath: "/data/llama" })],
      'ModelDeployment "llama" mounts its model at /data/llama in container "server", inside volume "cache" at /data, which is read-only',
    ],
    [
      "a model inside a ConfigMap mount",
      podWith({
        volumes: [{ name: "config", configMap: { name: "c" } }],
        containers: [{ name: "server", volumeMounts: [{ name: "config", mountPath: "/etc/app" }] }],
      }),
      [target("llama", { mountPath: "/etc/app/model" })],
      'inside volume "config" at /etc/app, which is read-only',
    ],
  ])("%s", (_, pod, targets, expected) => {
    expect(refusal(pod, targets)).toContain(expected);
  });

  it("lists every problem at once", () => {
    const message = refusal(podWith(), [
      target("a", { mountPath: "/cache", containers: ["nope"] }),
      target("b", { mountPath: "/cache" }),
    ]);
    expect(message).toContain(
      'ModelDeployment "a" mounts into container "nope", which the pod does not have',
    );
    expect(message).toContain('ModelDeployment "b" mounts its model at /cache in container "server"');
  });

  it("refuses a pod without a spec, and plans nothing for no targets", () => {
    expect(planMounts({ metadata: { name: "p" } }, [target("llama")], SETTINGS)).toEqual({
      allowed: false,
      message: "the pod has no spec, so no model can be mounted",
    });
    expect(planMounts({ metadata: { name: "p" } }, [], SETTINGS)).toEqual({ allowed: true, patch: [] });
  });

  it("accepts one ModelDeployment listed twice with the same settings", () => {
    const { pod } = mutate(podWith(), [target("llama"), target("llama")]);
    expect(pod.spec?.volumes).toHaveLength(2);
  });
});

describe("planMounts: idempotency", () => {
  it("leaves a pod mounted at an earlier digest as it is, with a warning", () => {
    const { pod } = mutate(podWith(), [target("llama", { strategy: "InitContainer" })]);
    const newer = target("llama", { digest: DIGEST_B });
    const plan = planMounts(pod, [newer], SETTINGS);
    expect(plan).toEqual({
      allowed: true,
      patch: [],
      warnings: [
        `ModelDeployment "llama" is already mounted at digest ${DIGEST_A}, not the current ${DIGEST_B}; left as is ` +
          "(a pod's volumes cannot change): recreate the pod to get the current model",
      ],
    });
    expect(podModelDigests(pod).get("llama")).toBe(DIGEST_A);
  });

  it.each([
    [
      "an image volume by tag",
      (v: V1Volume) => ({ ...v, image: { reference: "registry.example.com/models/llama:v1" } }),
    ],
    [
      "an image volume of another repository",
      (v: V1Volume) => ({ ...v, image: { reference: `registry.example.com/evil/x@${DIGEST_A}` } }),
    ],
    ["an emptyDir instead of the image", (v: V1Volume) => ({ name: v.name, emptyDir: {} })],
  ])("plans a pod again that carries our annotation beside %s, and refuses the clash", (_what, tamper) => {
    const { pod } = mutate(podWith(), [target("llama")]);
    const hostile = {
      ...pod,
      spec: {
        ...pod.spec!,
        volumes: pod.spec!.volumes!.map((v) => (v.name === "modelpack-model-llama" ? tamper(v) : v)),
      },
    };
    expect(podModelDigests(hostile).get("llama")).toBe(DIGEST_A);
    const plan = planMounts(hostile, [target("llama")], SETTINGS);
    expect(plan.allowed).toBe(false);
    expect(!plan.allowed && plan.message).toMatch(/already has a volume named "modelpack-model-llama"/);
  });

  it("still counts as mounted after the ServiceAccount plugin mounted its token into the pull init container (reinvocation)", () => {
    const targets = [target("llama", { strategy: "InitContainer" })];
    const { pod } = mutate(podWith(), targets);
    const token = {
      name: "kube-api-access-x",
      mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
      readOnly: true,
    };
    const reinvoked = {
      ...pod,
      spec: {
        ...pod.spec!,
        volumes: [...pod.spec!.volumes!, { name: "kube-api-access-x", projected: { sources: [] } }],
        initContainers: pod.spec!.initContainers!.map((c) => ({
          ...c,
          volumeMounts: [...(c.volumeMounts ?? []), token],
        })),
        containers: pod.spec!.containers.map((c) => ({
          ...c,
          volumeMounts: [...(c.volumeMounts ?? []), token],
        })),
      },
    };
    expect(planMounts(reinvoked, targets, SETTINGS)).toEqual({ allowed: true, patch: [] });
  });

  it("plans a pod again whose pull init container was swapped for another image", () => {
    const { pod } = mutate(podWith(), [target("llama", { strategy: "InitContainer" })]);
    const hostile = {
      ...pod,
      spec: {
        ...pod.spec!,
        initContainers: pod.spec!.initContainers!.map((c) => ({ ...c, image: "evil.example/puller:latest" })),
      },
    };
    const plan = planMounts(hostile, [target("llama", { strategy: "InitContainer" })], SETTINGS);
    expect(plan.allowed).toBe(false);
  });

  it("leaves a model mounted with another strategy as it is", () => {
    const { pod } = mutate(podWith(), [target("llama")]);
    expect(planMounts(pod, [target("llama", { strategy: "InitContainer" })], SETTINGS)).toEqual({
      allowed: true,
      patch: [],
    });
    const moved = planMounts(
      pod,
      [target("llama", { strategy: "InitContainer", digest: DIGEST_B })],
      SETTINGS,
    );
    expect(moved.allowed && moved.patch).toEqual([]);
    expect(moved.allowed && moved.warnings).toHaveLength(1);
  });

  it("gives an empty patch after apiserver defaulting", () => {
    const targets = [target("a", { strategy: "InitContainer", pullSecrets: ["regcred"] }), target("b")];
    const { pod } = mutate(podWith(), targets, { ...SETTINGS, caBundleConfigMap: "ca" });
    expect(planMounts(defaulted(pod), targets, { ...SETTINGS, caBundleConfigMap: "ca" })).toEqual({
      allowed: true,
      patch: [],
    });
  });

  it("only writes the annotations back when another webhook dropped them", () => {
    const targets = [target("a", { strategy: "InitContainer", pullSecrets: ["regcred"] }), target("b")];
    const { pod } = mutate(podWith(), targets);
    const stripped = defaulted(pod);
    if (stripped.metadata !== undefined) stripped.metadata.annotations = { "team.example/owner": "ml" };
    const plan = planMounts(stripped, targets, SETTINGS);
    expect(plan).toEqual({
      allowed: true,
      patch: [
        { op: "add", path: "/metadata/annotations/modelpack.dev~1model.a", value: DIGEST_A },
        { op: "add", path: "/metadata/annotations/modelpack.dev~1model.b", value: DIGEST_A },
      ],
    });
  });

  it("mounts a pod whose template carried the annotation without the volume, replacing the value", () => {
    const pod = podWith({}, { name: "p", annotations: { "modelpack.dev/model.llama": DIGEST_B } });
    const { plan, pod: result } = mutate(pod, [target("llama")]);
    expect(plan.patch).toContainEqual({
      op: "replace",
      path: "/metadata/annotations/modelpack.dev~1model.llama",
      value: DIGEST_A,
    });
    expect(result.spec?.volumes?.map((v) => v.name)).toEqual(["cache", "modelpack-model-llama"]);
  });

  it("adds a ModelDeployment that appears on reinvocation and leaves the mounted one", () => {
    const { pod } = mutate(podWith(), [target("a", { strategy: "InitContainer", pullSecrets: ["regcred"] })]);
    const { plan } = mutate(pod, [
      target("a", { strategy: "InitContainer", pullSecrets: ["regcred"] }),
      target("b", { strategy: "InitContainer", pullSecrets: ["regcred"] }),
    ]);
    expect(plan.patch.map((op) => op.path)).toEqual([
      "/spec/volumes/-",
      "/spec/initContainers/-",
      "/spec/containers/0/volumeMounts/-",
      "/spec/containers/1/volumeMounts/-",
      "/metadata/annotations/modelpack.dev~1model.b",
    ]);
  });

  it("does not mount into a container another webhook added after the first pass", () => {
    const { pod } = mutate(podWith(), [target("llama")]);
    pod.spec?.containers.push({ name: "istio-proxy", image: "proxyv2" });
    expect(planMounts(pod, [target("llama")], SETTINGS)).toEqual({ allowed: true, patch: [] });
  });

  it("keeps a mount the pod already has exactly, without our annotation", () => {
    const pod = podWith({
      volumes: [
        {
          name: "modelpack-model-llama",
          image: { reference: target("llama").pinnedReference, pullPolicy: "IfNotPresent" },
        },
      ],
      containers: [
        {
          name: "server",
          volumeMounts: [{ name: "modelpack-model-llama", mountPath: "/models/llama", readOnly: true }],
        },
      ],
    });
    expect(mutate(pod, [target("llama")]).plan.patch).toEqual([
      { op: "add", path: "/metadata/annotations", value: { "modelpack.dev/model.llama": DIGEST_A } },
    ]);
  });
});

describe("an image variant (MountTarget.imageReference)", () => {
  const VARIANT = `sha256:${"9".repeat(64)}`;

  it("the image volume names the variant, the pod's annotation the artifact's digest; planning it again changes nothing", () => {
    const { pod } = mutate(podWith(), [
      target("llama", { imageReference: `registry.example.com/models/llama@${VARIANT}` }),
    ]);
    const volume = pod.spec?.volumes?.find((v) => v.name === modelVolumeName("llama"));
    expect(volume?.image?.reference).toBe(`registry.example.com/models/llama@${VARIANT}`);
    expect(Object.values(pod.metadata?.annotations ?? {})).toContain(DIGEST_A);
  });

  it("a pod mounted with the artifact before the variant was published counts as mounted", () => {
    const before = planned(podWith(), [target("llama")]);
    const now = [target("llama", { imageReference: `registry.example.com/models/llama@${VARIANT}` })];
    expect(planMounts(before, now, SETTINGS)).toEqual({ allowed: true, patch: [] });
  });

  it.each([
    ["in another repository", `registry.example.com/models/other@${VARIANT}`, "ImageVolume"],
    ["by tag", "registry.example.com/models/llama:v1", "ImageVolume"],
    ["under InitContainer", `registry.example.com/models/llama@${VARIANT}`, "InitContainer"],
  ] as const)("refuses a variant %s", (_name, imageReference, strategy) => {
    expect(refusal(podWith(), [target("llama", { imageReference, strategy })])).toMatch(
      /its image variant .* is not pinned by digest in the artifact's repository/,
    );
  });
});
