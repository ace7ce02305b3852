import { describe, expect, it } from "vitest";
import {
  isSameOrInside,
  normaliseMountPath,
  normalisePodPath,
  normaliseSubPath,
  pathsOverlap,
} from "./paths.js";

describe("normaliseMountPath", () => {
  it.each([
    ["/models", { path: "/models" }],
    ["/models/", { path: "/models" }],
    ["//models//llama/./", { path: "/models/llama" }],
    ["models", { problem: 'mount path "models" is not absolute' }],
    ["/", { problem: 'mount path "/" is the container\'s root' }],
    ["/models/../etc", { problem: 'mount path "/models/../etc" contains ".."' }],
    ["", { problem: 'mount path "" is not absolute' }],
  ])("%j", (input, expected) => expect(normaliseMountPath(input)).toEqual(expected));
});

describe("normaliseSubPath", () => {
  it.each([
    ["", { subPath: "" }],
    ["weights", { subPath: "weights" }],
    ["./weights/", { subPath: "weights" }],
    ["a//b/model.safetensors", { subPath: "a/b/model.safetensors" }],
    ["/weights", { problem: 'sub path "/weights" is absolute; it must be relative to the model' }],
    ["../x", { problem: 'sub path "../x" contains ".."' }],
    ["a/../../x", { problem: 'sub path "a/../../x" contains ".."' }],
  ])("%j", (input, expected) => expect(normaliseSubPath(input)).toEqual(expected));
});

describe("isSameOrInside and pathsOverlap", () => {
  it.each([
    ["/models", "/models", true, true],
    ["/models/a", "/models", true, true],
    ["/models", "/models/a", false, true],
    ["/models2", "/models", false, false],
    ["/modelsx/a", "/models", false, false],
    ["/data", "/models", false, false],
    ["/anything", "/", true, true],
  ])("%s in %s: %s, overlap %s", (inner, outer, inside, overlap) => {
    expect(isSameOrInside(inner, outer)).toBe(inside);
    expect(pathsOverlap(inner, outer)).toBe(overlap);
  });

  it("normalises pod paths without failing", () => {
    expect(normalisePodPath("/a//b/")).toBe("/a/b");
    expect(normalisePodPath("/")).toBe("/");
  });
});
