import { describe, expect, it } from "vitest";
import { checkTarget } from "./check-target.js";
import type { InitContainerSettings, MountTarget } from "./types.js";

const DIGEST = `sha256:${"a".repeat(64)}`;
const settings: InitContainerSettings = {
  image: "operator@sha256:" + "f".repeat(64),
  plainHttpRegistries: [],
};
const target = (overrides: Partial<MountTarget> = {}): MountTarget => ({
  name: "llama",
  namespace: "serving",
  pinnedReference: `registry.example.com/models/llama@${DIGEST}`,
  digest: DIGEST,
  strategy: "ImageVolume",
  mountPath: "/models/llama",
  pullSecrets: [],
  sizeBytes: 1000,
  ...overrides,
});

describe("checkTarget", () => {
  it("normalises paths, finds the registry and drops duplicate secrets", () => {
    const result = checkTarget(
      target({
        mountPath: "/models//llama/",
        subPath: "./weights/",
        pullSecrets: ["a", "b", "a"],
        pinnedReference: `docker.io/m/llama@${DIGEST}`,
      }),
      settings,
    );
    expect(result).toEqual({
      target: expect.objectContaining({
        mountPath: "/models/llama",
        subPath: "weights",
        registry: "docker.io",
        pullSecrets: ["a", "b"],
      }),
    });
  });

  it("keeps a registry port", () => {
    const result = checkTarget(target({ pinnedReference: `localhost:5000/llama@${DIGEST}` }), settings);
    expect("target" in result && result.target.registry).toBe("localhost:5000");
  });

  it.each<[string, Partial<MountTarget>, InitContainerSettings, string]>([
    [
      "a relative mount path",
      { mountPath: "models" },
      settings,
      'ModelDeployment "llama": mount path "models" is not absolute; fix spec.mount.path',
    ],
    ["the root as mount path", { mountPath: "/" }, settings, "is the container's root"],
    ["a mount path with ..", { mountPath: "/a/../b" }, settings, 'contains ".."'],
    ["an absolute sub path", { subPath: "/w" }, settings, 'sub path "/w" is absolute'],
    ["a sub path with ..", { subPath: "w/../../x" }, settings, "fix spec.mount.subPath"],
    [
      "a tag instead of a digest",
      { pinnedReference: "registry.example.com/models/llama:v1" },
      settings,
      "is not pinned to its digest",
    ],
    [
      "another digest",
      { pinnedReference: `r.example.com/m@sha256:${"b".repeat(64)}` },
      settings,
      "is not pinned to its digest",
    ],
    [
      "an invalid reference",
      { pinnedReference: "https://x/y" },
      settings,
      "its resolved reference is unusable: invalid reference",
    ],
    [
      "a negative size for InitContainer",
      { strategy: "InitContainer", sizeBytes: -1 },
      settings,
      "the model size -1 is not a number of bytes",
    ],
    [
      "no image for InitContainer",
      { strategy: "InitContainer" },
      { ...settings, image: "" },
      "the operator has no image configured",
    ],
    ["an empty pull secret name", { pullSecrets: [""] }, settings, "a pull secret has an empty name"],
    [
      "an unknown strategy",
      { strategy: "Auto" as MountTarget["strategy"] },
      settings,
      'unknown mount strategy "Auto"',
    ],
  ])("refuses %s", (_, overrides, s, message) => {
    const result = checkTarget(target(overrides), s);
    expect("problems" in result && result.problems.join("; ")).toContain(message);
  });

  it("accepts a negative size for ImageVolume, which does not use it", () => {
    expect("target" in checkTarget(target({ sizeBytes: -1 }), settings)).toBe(true);
  });
});
