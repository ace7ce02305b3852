import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { createPodProjection, type CachedPod } from "./cached-pod.js";
import { ObjectDecodeError } from "./kube-object.js";

/** A pod as the API serves it, with the parts nobody here reads. */
function apiPod(): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "server-7d9f-abcde",
      generateName: "server-7d9f-",
      namespace: "serving",
      uid: "0b6f-uid",
      resourceVersion: "4711",
      generation: 1,
      creationTimestamp: "2026-12-01T10:00:00Z",
      labels: { app: "server", "pod-template-hash": "7d9f" },
      annotations: {
        "modelpack.dev/model.llama": "sha256:aaa",
        "modelpack.dev/name.long-1a2b": "a-very-long-name",
        "kubectl.kubernetes.io/last-applied-configuration": "{".repeat(3000),
        "prometheus.io/scrape": "true",
      },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "server-7d9f",
          uid: "rs-uid",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      finalizers: ["example.com/keep"],
      managedFields: [{ manager: "kubectl", operation: "Update", fieldsV1: { "f:spec": {} } }],
    },
    spec: {
      containers: [
        { name: "main", image: "registry.example.com/server:1", env: [{ name: "A", value: "1" }] },
      ],
      nodeName: "node-1",
      volumes: [{ name: "data", emptyDir: {} }],
    },
    status: {
      phase: "Running",
      podIP: "10.0.0.1",
      conditions: [{ type: "Ready", status: "True" }],
      containerStatuses: [{ name: "main", ready: true, restartCount: 0, image: "x", imageID: "y" }],
    },
  };
}

const project = createPodProjection({ annotationPrefixes: ["modelpack.dev/"] });

describe("createPodProjection: which fields survive", () => {
  const cached = project(apiPod());
  const cases: [field: string, read: (pod: CachedPod) => unknown, expected: unknown][] = [
    ["metadata.name", (p) => p.metadata?.name, "server-7d9f-abcde"],
    ["metadata.namespace", (p) => p.metadata?.namespace, "serving"],
    ["metadata.uid", (p) => p.metadata?.uid, "0b6f-uid"],
    ["metadata.resourceVersion", (p) => p.metadata?.resourceVersion, "4711"],
    ["metadata.labels", (p) => p.metadata?.labels, { app: "server", "pod-template-hash": "7d9f" }],
    [
      "metadata.annotations under modelpack.dev/ only",
      (p) => p.metadata?.annotations,
      { "modelpack.dev/model.llama": "sha256:aaa", "modelpack.dev/name.long-1a2b": "a-very-long-name" },
    ],
    [
      "metadata.ownerReferences (apiVersion, kind, name, uid, controller)",
      (p) => p.metadata?.ownerReferences,
      [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "server-7d9f", uid: "rs-uid", controller: true }],
    ],
    ["metadata.deletionTimestamp absent", (p) => p.metadata?.deletionTimestamp, undefined],
    ["status.phase", (p) => p.status?.phase, "Running"],
    [
      "metadata keys (generateName, creationTimestamp, finalizers, managedFields, generation gone)",
      (p) => Object.keys(p.metadata ?? {}).sort(),
      ["annotations", "labels", "name", "namespace", "ownerReferences", "resourceVersion", "uid"],
    ],
    ["top-level keys (apiVersion, kind, spec gone)", (p) => Object.keys(p).sort(), ["metadata", "status"]],
    [
      "status keys (conditions, podIP, containerStatuses gone)",
      (p) => Object.keys(p.status ?? {}),
      ["phase"],
    ],
  ];
  it.each(cases)("%s", (_field, read, expected) => {
    expect(read(cached)).toStrictEqual(expected);
  });

  it("keeps a deletionTimestamp as a Date, like client-node's V1Pod", () => {
    const raw = apiPod();
    Object.assign(raw.metadata as object, { deletionTimestamp: "2026-12-01T10:05:00Z" });
    expect(project(raw).metadata?.deletionTimestamp).toStrictEqual(new Date("2026-12-01T10:05:00Z"));
  });

  it("leaves out empty or absent labels, annotations, ownerReferences and status", () => {
    const minimal = project({ metadata: { name: "p", namespace: "ns", resourceVersion: "1", labels: {} } });
    expect(minimal).toStrictEqual({ metadata: { name: "p", namespace: "ns", resourceVersion: "1" } });
    expect(createPodProjection()(apiPod()).metadata).not.toHaveProperty("annotations"); // no prefixes kept
  });

  it("accepts nulls where the API may send them", () => {
    const pod = project({
      metadata: { name: "p", resourceVersion: "1", labels: null, annotations: null, ownerReferences: null },
      status: { phase: null },
    });
    expect(pod).toStrictEqual({ metadata: { name: "p", resourceVersion: "1" } });
  });

  it("shares no object with its input", () => {
    const raw = apiPod();
    const pod = project(raw);
    const meta = raw.metadata as { labels: object; ownerReferences: object[] };
    expect(pod.metadata?.labels).not.toBe(meta.labels);
    expect(pod.metadata?.ownerReferences?.[0]).not.toBe(meta.ownerReferences[0]);
  });

  it.each([
    ["no metadata", {}, "metadata"],
    ["no name", { metadata: { resourceVersion: "1" } }, "metadata.name"],
    ["no resourceVersion", { metadata: { name: "p" } }, "metadata.resourceVersion"],
    [
      "a label that is not a string",
      { metadata: { name: "p", resourceVersion: "1", labels: { a: 1 } } },
      "labels",
    ],
    [
      "a bad deletionTimestamp",
      { metadata: { name: "p", resourceVersion: "1", deletionTimestamp: "yesterday" } },
      "deletionTimestamp",
    ],
  ])("refuses a pod with %s, naming the field", (_case, raw, field) => {
    expect(() => project(raw)).toThrow(ObjectDecodeError);
    expect(() => project(raw)).toThrow(field);
  });

  it("gives what V1Pod readers need: the types are interchangeable", () => {
    const asV1: V1Pod = cached;
    const back: CachedPod = asV1;
    expect(back.metadata?.ownerReferences?.[0]?.kind).toBe("ReplicaSet");
  });
});
