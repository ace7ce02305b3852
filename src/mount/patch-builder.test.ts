import { describe, expect, it } from "vitest";
import { PatchBuilder } from "./patch-builder.js";

describe("PatchBuilder", () => {
  it("is empty until something is added", () => {
    const builder = new PatchBuilder();
    expect(builder.isEmpty).toBe(true);
    expect(builder.operations()).toEqual([]);
  });

  it.each([
    [
      "an absent array is created whole",
      undefined,
      [{ op: "add", path: "/spec/volumes", value: [{ name: "a" }, { name: "b" }] }],
    ],
    [
      "a non-array counts as absent",
      null,
      [{ op: "add", path: "/spec/volumes", value: [{ name: "a" }, { name: "b" }] }],
    ],
    [
      "an existing array is appended to",
      [],
      [
        { op: "add", path: "/spec/volumes/-", value: { name: "a" } },
        { op: "add", path: "/spec/volumes/-", value: { name: "b" } },
      ],
    ],
  ])("%s", (_, current, expected) => {
    const builder = new PatchBuilder();
    builder.append("/spec/volumes", current, { name: "a" });
    builder.append("/spec/volumes", current, { name: "b" });
    expect(builder.operations()).toEqual(expected);
  });

  it("adds an absent object whole and sets members of an existing one with add or replace", () => {
    const absent = new PatchBuilder();
    absent.set("/metadata/annotations", undefined, "a/b", "1");
    absent.set("/metadata/annotations", undefined, "c", "2");
    expect(absent.operations()).toEqual([
      { op: "add", path: "/metadata/annotations", value: { "a/b": "1", c: "2" } },
    ]);

    const present = new PatchBuilder();
    present.set("/metadata/annotations", { "a/b": "0" }, "a/b", "1");
    present.set("/metadata/annotations", { "a/b": "0" }, "c~d", "2");
    expect(present.operations()).toEqual([
      { op: "replace", path: "/metadata/annotations/a~1b", value: "1" },
      { op: "add", path: "/metadata/annotations/c~0d", value: "2" },
    ]);
  });

  it("keeps the order of first use and refuses one path as both kinds", () => {
    const builder = new PatchBuilder();
    builder.append("/spec/volumes", [], 1);
    builder.append("/spec/initContainers", undefined, 2);
    builder.append("/spec/volumes", [], 3);
    expect(builder.operations().map((op) => op.path)).toEqual([
      "/spec/volumes/-",
      "/spec/volumes/-",
      "/spec/initContainers",
    ]);
    expect(() => builder.set("/spec/volumes", {}, "x", 1)).toThrow(TypeError);
  });
});
