import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { Condition } from "../api/index.js";
import { isValidAnnotationKey } from "../mount/index.js";
import {
  decideRollout,
  distinctOwners,
  ownerRefusal,
  isReadyToRoll,
  podOwner,
  replicaSetOwner,
  rolloutAnnotation,
  rolloutMessage,
  templatePatch,
  type ObservedWorkload,
} from "./rollout.js";

const D1 = "sha256:" + "1".repeat(64);
const D2 = "sha256:" + "2".repeat(64);
const owned = (kind: string, name: string, o: { controller?: boolean; apiVersion?: string } = {}) => ({
  apiVersion: o.apiVersion ?? "apps/v1",
  kind,
  name,
  uid: `${kind}-${name}`,
  controller: o.controller ?? true,
});
const pod = (...ownerReferences: ReturnType<typeof owned>[]): V1Pod => ({
  metadata: { name: "p", ownerReferences },
});

describe("rolloutAnnotation", () => {
  it.each([
    ["llama", "modelpack.dev/rollout.llama"],
    ["a.b-c", "modelpack.dev/rollout.a.b-c"],
  ])("%s → %s", (name, key) => expect(rolloutAnnotation(name)).toBe(key));
  it.each(["m".repeat(55), "m".repeat(56), "m".repeat(253), "a" + "-".repeat(60) + "b"])(
    "is a valid, deterministic key for %s",
    (name) => {
      const key = rolloutAnnotation(name);
      expect(isValidAnnotationKey(key), key).toBe(true);
      expect(rolloutAnnotation(name)).toBe(key);
    },
  );
  it("distinct long names give distinct keys", () => {
    expect(rolloutAnnotation("m".repeat(100) + "a")).not.toBe(rolloutAnnotation("m".repeat(100) + "b"));
  });
});

describe("podOwner", () => {
  it.each<[string, V1Pod, unknown]>([
    [
      "a Deployment's pod (via its ReplicaSet)",
      pod(owned("ReplicaSet", "web-7d9")),
      { kind: "ReplicaSet", name: "web-7d9", uid: "ReplicaSet-web-7d9" },
    ],
    [
      "a StatefulSet's pod",
      pod(owned("StatefulSet", "db")),
      { kind: "StatefulSet", name: "db", uid: "StatefulSet-db" },
    ],
    [
      "a DaemonSet's pod",
      pod(owned("DaemonSet", "agent")),
      { kind: "DaemonSet", name: "agent", uid: "DaemonSet-agent" },
    ],
    ["a Job's pod", pod(owned("Job", "train", { apiVersion: "batch/v1" })), undefined],
    ["a bare pod", { metadata: { name: "p" } }, undefined],
    ["a non-controller owner only", pod(owned("StatefulSet", "db", { controller: false })), undefined],
    [
      "another group's ReplicaSet",
      pod(owned("ReplicaSet", "x", { apiVersion: "example.com/v1" })),
      undefined,
    ],
    [
      "the controller among several",
      pod(owned("ConfigMap", "c", { controller: false, apiVersion: "v1" }), owned("StatefulSet", "db")),
      { kind: "StatefulSet", name: "db", uid: "StatefulSet-db" },
    ],
  ])("%s", (_what, p, expected) => expect(podOwner(p)).toEqual(expected));
});

describe("replicaSetOwner", () => {
  it("is the controlling Deployment", () =>
    expect(replicaSetOwner([owned("Deployment", "web")])).toEqual({
      kind: "Deployment",
      name: "web",
      uid: "Deployment-web",
    }));
  it("is undefined for a bare ReplicaSet or another owner", () => {
    expect(replicaSetOwner(undefined)).toBeUndefined();
    expect(replicaSetOwner([owned("Rollout", "r", { apiVersion: "argoproj.io/v1alpha1" })])).toBeUndefined();
  });
});

describe("distinctOwners", () => {
  it("deduplicates in first-seen order and skips unowned pods", () => {
    const pods = [
      pod(owned("ReplicaSet", "a")),
      pod(owned("StatefulSet", "db")),
      pod(owned("ReplicaSet", "a")),
      { metadata: { name: "bare" } },
    ];
    expect(distinctOwners(pods)).toEqual([
      { kind: "ReplicaSet", name: "a", uid: "ReplicaSet-a" },
      { kind: "StatefulSet", name: "db", uid: "StatefulSet-db" },
    ]);
  });
});

describe("ownerRefusal", () => {
  const labelled = (labels: Record<string, string>): V1Pod => ({ metadata: { name: "web-1", labels } });
  const claimed = { kind: "StatefulSet", name: "db", uid: "u-1" };
  it.each<
    [
      string,
      { uid: string | undefined; selector: { matchLabels?: Record<string, string> } | undefined },
      V1Pod[],
      string | undefined,
    ]
  >([
    [
      "the owner: same UID, selector selects the pods",
      { uid: "u-1", selector: { matchLabels: { app: "db" } } },
      [labelled({ app: "db", x: "y" })],
      undefined,
    ],
    [
      "another object of that name (UID differs)",
      { uid: "u-2", selector: { matchLabels: { app: "db" } } },
      [labelled({ app: "db" })],
      "StatefulSet db has UID u-2, not the u-1 its pods' ownerReference names",
    ],
    [
      "an object without UID",
      { uid: undefined, selector: { matchLabels: { app: "db" } } },
      [labelled({ app: "db" })],
      "StatefulSet db has UID (none), not the u-1 its pods' ownerReference names",
    ],
    [
      "a selector that does not select the pod",
      { uid: "u-1", selector: { matchLabels: { app: "db" } } },
      [labelled({ app: "db" }), labelled({ app: "evil" })],
      "StatefulSet db's selector does not select pod web-1, which claims it as owner",
    ],
    ["no selector", { uid: "u-1", selector: undefined }, [labelled({})], "StatefulSet db has no selector"],
    ["an empty selector", { uid: "u-1", selector: {} }, [labelled({})], "StatefulSet db has no selector"],
  ])("%s", (_what, object, pods, expected) => expect(ownerRefusal(claimed, object, pods)).toBe(expected));
});

describe("decideRollout", () => {
  const key = rolloutAnnotation("llama");
  const w = (
    kind: ObservedWorkload["kind"],
    name: string,
    annotations?: Record<string, string>,
  ): ObservedWorkload => ({ kind, name, templateAnnotations: annotations });
  const base = { updatePolicy: "Rollout" as const, readyToRoll: true, annotationKey: key, digest: D2 };
  it.each<
    [
      string,
      Partial<typeof base> & { workloads: ObservedWorkload[] },
      { restart: unknown[]; inProgress: unknown[] },
    ]
  >([
    [
      "restarts workloads without the annotation",
      { workloads: [w("Deployment", "web"), w("StatefulSet", "db", { other: "x" })] },
      {
        restart: [
          { kind: "Deployment", name: "web" },
          { kind: "StatefulSet", name: "db" },
        ],
        inProgress: [],
      },
    ],
    [
      "restarts a workload annotated for an earlier digest",
      { workloads: [w("Deployment", "web", { [key]: D1 })] },
      { restart: [{ kind: "Deployment", name: "web" }], inProgress: [] },
    ],
    [
      "never patches a template that has the value (idempotent)",
      { workloads: [w("Deployment", "web", { [key]: D2 }), w("DaemonSet", "agent")] },
      {
        restart: [{ kind: "DaemonSet", name: "agent" }],
        inProgress: [{ kind: "Deployment", name: "web" }],
      },
    ],
    [
      "Pinned never patches",
      { updatePolicy: "Pinned" as never, workloads: [w("Deployment", "web")] },
      { restart: [], inProgress: [] },
    ],
    [
      "not ready to roll: nothing",
      { readyToRoll: false, workloads: [w("Deployment", "web")] },
      { restart: [], inProgress: [] },
    ],
    [
      "duplicates collapse, sorted by kind then name",
      {
        workloads: [w("StatefulSet", "b"), w("Deployment", "z"), w("Deployment", "a"), w("Deployment", "z")],
      },
      {
        restart: [
          { kind: "Deployment", name: "a" },
          { kind: "Deployment", name: "z" },
          { kind: "StatefulSet", name: "b" },
        ],
        inProgress: [],
      },
    ],
    ["no workloads", { workloads: [] }, { restart: [], inProgress: [] }],
  ])("%s", (_what, input, expected) => expect(decideRollout({ ...base, ...input })).toEqual(expected));
});

describe("isReadyToRoll", () => {
  const c = (type: string, status: "True" | "False" | "Unknown", observedGeneration = 2): Condition => ({
    type,
    status,
    reason: "R",
    message: "m",
    observedGeneration,
    lastTransitionTime: "2026-11-25T12:00:00Z",
  });
  it.each<[string, Condition[] | undefined, boolean]>([
    ["every step True", [c("Resolved", "True"), c("Validated", "True"), c("MountSupported", "True")], true],
    ["one step False", [c("Resolved", "True"), c("Validated", "False"), c("MountSupported", "True")], false],
    ["one step missing", [c("Resolved", "True"), c("Validated", "True")], false],
    [
      "a step for an older generation",
      [c("Resolved", "True"), c("Validated", "True"), c("MountSupported", "True", 1)],
      false,
    ],
    ["no conditions", undefined, false],
  ])("%s → %s", (_what, conditions, expected) => expect(isReadyToRoll(conditions, 2)).toBe(expected));
});

describe("templatePatch and rolloutMessage", () => {
  it("annotates only the pod template", () => {
    expect(templatePatch("modelpack.dev/rollout.llama", D2)).toEqual({
      spec: { template: { metadata: { annotations: { "modelpack.dev/rollout.llama": D2 } } } },
    });
  });
  it("names every workload and the digest", () => {
    expect(
      rolloutMessage(
        [
          { kind: "Deployment", name: "web" },
          { kind: "StatefulSet", name: "db" },
        ],
        D2,
      ),
    ).toBe(`restarted Deployment/web, StatefulSet/db to mount ${D2}`);
  });
});
