import { describe, expect, it } from "vitest";
import { checkTarget } from "./check-target.js";
import { imageVolumePieces } from "./image-volume.js";
import type { CheckedTarget } from "./pieces.js";
import type { MountTarget } from "./types.js";

const DIGEST = `sha256:${"a".repeat(64)}`;
const checked = (overrides: Partial<MountTarget> = {}): CheckedTarget => {
  const result = checkTarget(
    {
      name: "llama",
      namespace: "serving",
      pinnedReference: `registry.example.com/models/llama@${DIGEST}`,
      digest: DIGEST,
      strategy: "ImageVolume",
      mountPath: "/models/llama",
      pullSecrets: ["regcred"],
      sizeBytes: 1000,
      ...overrides,
    },
    { image: "operator", plainHttpRegistries: [] },
  );
  if (!("target" in result)) throw new Error(result.problems.join("; "));
  return result.target;
};

describe("imageVolumePieces", () => {
  it("pins the image volume to the digest, mounts it read-only and lists the pull secrets", () => {
    expect(imageVolumePieces(checked())).toEqual({
      volumes: [
        {
          volume: {
            name: "modelpack-model-llama",
            image: { reference: `registry.example.com/models/llama@${DIGEST}`, pullPolicy: "IfNotPresent" },
          },
          role: "its model",
        },
      ],
      mount: { name: "modelpack-model-llama", mountPath: "/models/llama", readOnly: true },
      imagePullSecrets: ["regcred"],
    });
  });

  it.each([
    [undefined, undefined],
    ["", undefined],
    ["weights/", "weights"],
    ["a/model.safetensors", "a/model.safetensors"],
  ])("sub path %j mounts as %j", (subPath, expected) => {
    const pieces = imageVolumePieces(checked(subPath === undefined ? {} : { subPath }));
    expect(pieces.mount.subPath).toBe(expected);
    expect(pieces.initContainer).toBeUndefined();
  });
});
