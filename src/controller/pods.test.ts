import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { podAnnotationsFor } from "../mount/index.js";
import { countPods, isCountedPod, modelDeploymentKeysForPod, stalePods } from "./pods.js";

const D1 = "sha256:" + "1".repeat(64);
const D2 = "sha256:" + "2".repeat(64);
const LONG = "m".repeat(80);

const pod = (
  name: string,
  o: {
    digests?: Record<string, string>;
    phase?: string;
    deleting?: boolean;
    labels?: Record<string, string>;
    namespace?: string;
  } = {},
): V1Pod => ({
  metadata: {
    name,
    namespace: o.namespace ?? "serving",
    labels: o.labels ?? { app: "llama" },
    annotations: Object.assign(
      {},
      ...Object.entries(o.digests ?? {}).map(([md, d]) => podAnnotationsFor(md, d)),
    ),
    ...(o.deleting === true && { deletionTimestamp: new Date("2026-11-25T12:00:00Z") }),
  },
  ...(o.phase !== undefined && { status: { phase: o.phase } }),
});

describe("isCountedPod", () => {
  it.each([
    ["a pending pod", pod("p", { phase: "Pending" }), true],
    ["a running pod", pod("p", { phase: "Running" }), true],
    ["a pod without status", pod("p"), true],
    ["a terminating pod", pod("p", { phase: "Running", deleting: true }), false],
    ["a succeeded pod", pod("p", { phase: "Succeeded" }), false],
    ["a failed pod", pod("p", { phase: "Failed" }), false],
  ])("%s → %s", (_what, p, expected) => expect(isCountedPod(p)).toBe(expected));
});

describe("countPods", () => {
  it.each<[string, V1Pod[], string, string | undefined, { matched: number; current: number; stale: number }]>(
    [
      ["no pods", [], "llama", D1, { matched: 0, current: 0, stale: 0 }],
      [
        "all current",
        [pod("a", { digests: { llama: D1 } }), pod("b", { digests: { llama: D1 } })],
        "llama",
        D1,
        { matched: 2, current: 2, stale: 0 },
      ],
      [
        "all stale after the tag moved",
        [pod("a", { digests: { llama: D1 } }), pod("b", { digests: { llama: D1 } })],
        "llama",
        D2,
        { matched: 2, current: 0, stale: 2 },
      ],
      [
        "half rolled",
        [pod("a", { digests: { llama: D2 } }), pod("b", { digests: { llama: D1 } })],
        "llama",
        D2,
        { matched: 2, current: 1, stale: 1 },
      ],
      ["a pod without annotation is stale", [pod("a")], "llama", D1, { matched: 1, current: 0, stale: 1 }],
      [
        "another ModelDeployment's digest does not count",
        [pod("a", { digests: { other: D1 } })],
        "llama",
        D1,
        { matched: 1, current: 0, stale: 1 },
      ],
      [
        "two ModelDeployments on one pod",
        [pod("a", { digests: { other: D2, llama: D1 } })],
        "llama",
        D1,
        { matched: 1, current: 1, stale: 0 },
      ],
      [
        "terminating and finished pods are not matched",
        [
          pod("a", { digests: { llama: D1 } }),
          pod("b", { digests: { llama: D1 }, deleting: true }),
          pod("c", { phase: "Succeeded" }),
        ],
        "llama",
        D1,
        { matched: 1, current: 1, stale: 0 },
      ],
      [
        "nothing resolved: all stale",
        [pod("a", { digests: { llama: D1 } })],
        "llama",
        undefined,
        { matched: 1, current: 0, stale: 1 },
      ],
      [
        "a long (hashed) name",
        [pod("a", { digests: { [LONG]: D1 } })],
        LONG,
        D1,
        { matched: 1, current: 1, stale: 0 },
      ],
    ],
  )("%s", (_what, pods, name, digest, expected) => expect(countPods(pods, name, digest)).toEqual(expected));
});

describe("stalePods", () => {
  it("returns the counted pods that do not mount the digest, in order", () => {
    const pods = [
      pod("a", { digests: { llama: D1 } }),
      pod("b", { digests: { llama: D2 } }),
      pod("c"),
      pod("d", { deleting: true }),
    ];
    expect(stalePods(pods, "llama", D2).map((p) => p.metadata?.name)).toEqual(["a", "c"]);
  });
});

describe("modelDeploymentKeysForPod", () => {
  const md = (name: string, selector: unknown, namespace = "serving"): unknown => ({
    metadata: { name, namespace },
    spec: { selector },
  });
  const mds = [
    md("llama", { matchLabels: { app: "llama" } }),
    md("by-expression", { matchExpressions: [{ key: "app", operator: "In", values: ["llama", "qwen"] }] }),
    md("qwen", { matchLabels: { app: "qwen" } }),
    md("elsewhere", { matchLabels: { app: "llama" } }, "other"),
    { metadata: { name: "broken", namespace: "serving" }, spec: { selector: "nope" } },
    { metadata: { namespace: "serving" }, spec: { selector: { matchLabels: { app: "llama" } } } },
  ];
  it.each<[string, V1Pod, string[]]>([
    ["a pod selected by two", pod("p"), ["serving/llama", "serving/by-expression"]],
    [
      "a pod selected by one",
      pod("p", { labels: { app: "qwen" } }),
      ["serving/by-expression", "serving/qwen"],
    ],
    ["a pod selected by none", pod("p", { labels: { app: "web" } }), []],
    ["a pod without labels", pod("p", { labels: {} }), []],
    [
      "a pod in another namespace sees only that namespace's",
      pod("p", { namespace: "other" }),
      ["other/elsewhere"],
    ],
  ])("%s", (_what, p, expected) => expect(modelDeploymentKeysForPod(p, mds)).toEqual(expected));
  it("a pod without namespace maps to nothing", () => {
    expect(modelDeploymentKeysForPod({ metadata: { name: "p", labels: { app: "llama" } } }, mds)).toEqual([]);
  });
});
