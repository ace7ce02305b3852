import { describe, expect, it } from "vitest";
import type { Mountability } from "../modelpack/index.js";
import {
  compareVersions,
  parseKubernetesVersion,
  parseRuntimeVersion,
  type ClusterCapabilities,
  type NodeRuntime,
} from "./capabilities.js";
import { decideStrategy, nodeCannotMount } from "./strategy.js";

const rawCncf: Mountability = {
  crio: { mountable: true, minVersion: "1.34.0", reason: "raw layers named by org.cncf.model.filepath" },
  containerd: { mountable: false, reason: "containerd mounts only images" },
};
const cnaiOnly: Mountability = {
  crio: {
    mountable: true,
    minVersion: "1.33.0",
    maxVersionExclusive: "1.34.0",
    reason: "only org.cnai.model.filepath",
  },
  containerd: { mountable: false, reason: "containerd mounts only images" },
};
const node = (name: string, runtime: string, kubelet = "v1.35.8"): NodeRuntime => ({
  name,
  containerRuntimeVersion: runtime,
  kubeletVersion: kubelet,
});
const caps = (
  nodes: NodeRuntime[],
  field: ClusterCapabilities["imageVolumeField"] = "kept",
): ClusterCapabilities => ({ imageVolumeField: field, serverVersion: "v1.35.8", nodes });

describe("versions", () => {
  it.each([
    ["containerd://2.1.0", "containerd", [2, 1, 0]],
    ["cri-o://1.34.2", "cri-o", [1, 34, 2]],
    ["containerd://v2.2.3-k3s1", "containerd", [2, 2, 3]],
    ["docker://28.0.1", "other", [28, 0, 1]],
    ["garbage", "other", undefined],
  ])("parseRuntimeVersion(%s)", (raw, runtime, version) => {
    const parsed = parseRuntimeVersion(raw);
    expect([parsed.runtime, parsed.version]).toEqual([runtime, version]);
  });

  it("parses and compares Kubernetes versions", () => {
    expect(parseKubernetesVersion("v1.35.8")).toEqual([1, 35, 8]);
    expect(parseKubernetesVersion("v1.34.1-eks-1")).toEqual([1, 34, 1]);
    expect(parseKubernetesVersion("kwok-v0.8.0")).toBeUndefined();
    expect(compareVersions([1, 34, 0], [1, 33, 9])).toBeGreaterThan(0);
    expect(compareVersions([2, 1], [2, 1, 0])).toBe(0);
  });
});

describe("nodeCannotMount", () => {
  it.each<[NodeRuntime, Mountability, string | undefined]>([
    [node("a", "cri-o://1.34.0"), rawCncf, undefined],
    [node("a", "cri-o://1.33.4"), rawCncf, "older than 1.34.0"],
    [node("a", "cri-o://1.33.4"), cnaiOnly, undefined],
    [node("a", "cri-o://1.34.0"), cnaiOnly, "no longer mounts"],
    [node("a", "containerd://2.1.0"), rawCncf, "containerd 2.1.0 cannot mount this artifact"],
    [node("a", "docker://28.0.1"), rawCncf, "does not mount OCI artifacts"],
    [node("a", "cri-o://1.34.0", "v1.34.2"), rawCncf, "kubelet v1.34.2 has the ImageVolume feature gate off"],
  ])("%j", (n, m, expected) => {
    const reason = nodeCannotMount(n, m);
    if (expected === undefined) expect(reason).toBeUndefined();
    else expect(reason).toContain(expected);
  });
});

describe("decideStrategy", () => {
  it.each<[string, Parameters<typeof decideStrategy>, string | undefined, string, string, string]>([
    [
      "Auto on CRI-O 1.34 nodes",
      ["Auto", caps([node("n1", "cri-o://1.34.0"), node("n2", "cri-o://1.35.1")]), rawCncf],
      "ImageVolume",
      "True",
      "ImageVolumeSupported",
      "every node",
    ],
    [
      "Auto on containerd nodes",
      ["Auto", caps([node("n1", "containerd://2.1.0")]), rawCncf],
      "InitContainer",
      "True",
      "InitContainerFallback",
      "node n1: containerd 2.1.0 cannot mount this artifact: containerd mounts only images; using InitContainer",
    ],
    [
      "Auto on mixed nodes",
      ["Auto", caps([node("n1", "cri-o://1.34.0"), node("n2", "containerd://2.2.0")]), rawCncf],
      "InitContainer",
      "True",
      "InitContainerFallback",
      "node n2",
    ],
    [
      "Auto with the gate off",
      ["Auto", caps([node("n1", "cri-o://1.34.0")], "dropped"), rawCncf],
      "InitContainer",
      "True",
      "InitContainerFallback",
      "silently drops spec.volumes[].image",
    ],
    [
      "Auto with no nodes",
      ["Auto", caps([]), rawCncf],
      "InitContainer",
      "True",
      "InitContainerFallback",
      "no nodes",
    ],
    [
      "Auto before the probe ran",
      ["Auto", caps([node("n1", "cri-o://1.34.0")], "unknown"), rawCncf],
      "InitContainer",
      "True",
      "InitContainerFallback",
      "could not yet check",
    ],
    [
      "ImageVolume forced with the gate off",
      ["ImageVolume", caps([node("n1", "cri-o://1.34.0")], "dropped"), rawCncf],
      undefined,
      "False",
      "ImageVolumeUnsupported",
      "use strategy Auto or InitContainer",
    ],
    [
      "ImageVolume forced on containerd",
      ["ImageVolume", caps([node("n1", "containerd://2.1.0")]), rawCncf],
      undefined,
      "False",
      "RuntimeCannotMount",
      "containerd 2.1.0",
    ],
    [
      "ImageVolume forced before the probe ran",
      ["ImageVolume", caps([node("n1", "cri-o://1.34.0")], "unknown"), rawCncf],
      undefined,
      "Unknown",
      "Progressing",
      "could not yet check",
    ],
    [
      "ImageVolume forced on CRI-O 1.34",
      ["ImageVolume", caps([node("n1", "cri-o://1.34.0")]), rawCncf],
      "ImageVolume",
      "True",
      "ImageVolumeSupported",
      "every node",
    ],
    [
      "InitContainer always works",
      ["InitContainer", caps([], "dropped"), rawCncf],
      "InitContainer",
      "True",
      "InitContainerRequested",
      "init container",
    ],
  ])("%s", (_name, args, strategy, status, reason, message) => {
    const decision = decideStrategy(...args);
    expect(decision.strategy).toBe(strategy);
    expect(decision.mountSupported.status).toBe(status);
    expect(decision.mountSupported.reason).toBe(reason);
    expect(decision.mountSupported.message).toContain(message);
  });

  it("names a few nodes and counts the rest", () => {
    const nodes = Array.from({ length: 5 }, (_, i) => node(`n${i}`, "containerd://2.1.0"));
    expect(decideStrategy("Auto", caps(nodes), rawCncf).mountSupported.message).toContain(
      "nodes n0, n1, n2 and 2 more: containerd 2.1.0",
    );
  });
});
