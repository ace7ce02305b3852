import { describe, expect, it } from "vitest";
import { explainUnsafePath, isSafeRelativePath, layerFilePath } from "./file-path.js";

describe("layerFilePath", () => {
  it.each([
    [
      {
        "org.cncf.model.filepath": "a.bin",
        "org.cnai.model.filepath": "b.bin",
        "org.opencontainers.image.title": "c.bin",
      },
      "a.bin",
    ],
    [{ "org.cnai.model.filepath": "b.bin", "org.opencontainers.image.title": "c.bin" }, "b.bin"],
    [{ "org.opencontainers.image.title": "c.bin" }, "c.bin"],
    [{ "org.cncf.model.filepath": "", "org.opencontainers.image.title": "c.bin" }, "c.bin"],
    [{ other: "x" }, undefined],
    [{}, undefined],
    [undefined, undefined],
  ])("%j → %s", (annotations, expected) => {
    expect(layerFilePath({ annotations })).toBe(expected);
  });
});

describe("isSafeRelativePath", () => {
  it.each(["model.safetensors", "sub/dir/config.json", "a..b", "..a", "a/.hidden", "ü/名前.txt", "a b"])(
    "accepts %j",
    (p) => {
      expect(isSafeRelativePath(p)).toBe(true);
    },
  );

  it.each([
    ["", "empty"],
    ["/etc/passwd", "absolute"],
    ["../x", ".. segment"],
    ["a/../../x", ".. segment"],
    ["a/..", ".. segment"],
    ["..", ".. segment"],
    ["a\\b", "backslash"],
    ["..\\x", "backslash"],
    ["a//b", "empty segment"],
    ["a/", "empty segment"],
    ["a\0b", "NUL"],
    ["./a", ". segment"],
    ["a/./b", ". segment"],
  ])("rejects %j (%s)", (p, why) => {
    expect(isSafeRelativePath(p)).toBe(false);
    expect(explainUnsafePath(p)).toContain(why);
  });
});
