import { describe, expect, it } from "vitest";
import { isArchiveRoot, safeRelativePath } from "./paths.js";

describe("isArchiveRoot: the names `tar -C dir .` gives the archive's root", () => {
  it.each([
    [".", true],
    ["./", true],
    [".//", true],
    ["././", true],
    ["./weights/", false],
    ["..", false],
    ["../", false],
    [".hidden/", false],
    ["", false],
    ["/", false],
  ])("%s → %s", (raw, expected) => expect(isArchiveRoot(raw)).toBe(expected));
});

describe("safeRelativePath", () => {
  it.each([
    ["./weights/w.bin", "weights/w.bin"],
    ["weights//w.bin", "weights/w.bin"],
    ["weights/", "weights"],
    ["a/./b", "a/b"],
  ])("normalises %s → %s", (raw, expected) => expect(safeRelativePath(raw, "t")).toBe(expected));

  it.each([
    ["", "is empty"],
    ["./", "is empty"],
    ["/etc/passwd", "is absolute"],
    ["C:/x", "is absolute"],
    ["a/../b", '".." segment'],
    ["a\\b", "backslash"],
    ["a\0b", "NUL"],
    ["./.", "does not name a file"],
  ])("refuses %j (%s)", (raw, why) => expect(() => safeRelativePath(raw, "t")).toThrow(why));
});
