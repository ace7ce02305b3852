import { describe, expect, it } from "vitest";
import { escapePointerToken, parsePointer, pointer, unescapePointerToken } from "./json-pointer.js";

describe("JSON Pointer", () => {
  it.each([
    ["plain", "plain"],
    ["modelpack.dev/model.x", "modelpack.dev~1model.x"],
    ["a~b", "a~0b"],
    ["~/", "~0~1"],
    ["~1", "~01"],
  ])("escapes %j as %j and back", (token, escaped) => {
    expect(escapePointerToken(token)).toBe(escaped);
    expect(unescapePointerToken(escaped)).toBe(token);
  });

  it("builds and parses pointers", () => {
    expect(pointer("metadata", "annotations", "a/b")).toBe("/metadata/annotations/a~1b");
    expect(pointer("spec", "containers", 0, "volumeMounts")).toBe("/spec/containers/0/volumeMounts");
    expect(parsePointer("/metadata/annotations/a~1b~0c")).toEqual(["metadata", "annotations", "a/b~c"]);
    expect(parsePointer("")).toEqual([]);
    expect(() => parsePointer("spec")).toThrow(SyntaxError);
  });
});
