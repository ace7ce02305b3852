import { describe, expect, it } from "vitest";
import { applyJsonPatch, JsonPatchError } from "./apply-json-patch.js";
import type { JsonPatchOperation } from "./types.js";

const doc = { metadata: { annotations: { "a/b": "1" } }, spec: { list: [1, 2] } };

describe("applyJsonPatch", () => {
  it.each<[string, JsonPatchOperation[], unknown]>([
    ["add a member", [{ op: "add", path: "/spec/x", value: 1 }], { ...doc, spec: { list: [1, 2], x: 1 } }],
    ["append with -", [{ op: "add", path: "/spec/list/-", value: 3 }], { ...doc, spec: { list: [1, 2, 3] } }],
    [
      "insert at an index",
      [{ op: "add", path: "/spec/list/0", value: 0 }],
      { ...doc, spec: { list: [0, 1, 2] } },
    ],
    [
      "insert at the end index",
      [{ op: "add", path: "/spec/list/2", value: 3 }],
      { ...doc, spec: { list: [1, 2, 3] } },
    ],
    [
      "replace an escaped member",
      [{ op: "replace", path: "/metadata/annotations/a~1b", value: "2" }],
      { ...doc, metadata: { annotations: { "a/b": "2" } } },
    ],
    [
      "replace an item",
      [{ op: "replace", path: "/spec/list/1", value: 9 }],
      { ...doc, spec: { list: [1, 9] } },
    ],
    [
      "remove a member",
      [{ op: "remove", path: "/metadata/annotations/a~1b" }],
      { ...doc, metadata: { annotations: {} } },
    ],
    ["remove an item", [{ op: "remove", path: "/spec/list/0" }], { ...doc, spec: { list: [2] } }],
    [
      "add a whole new array",
      [{ op: "add", path: "/spec/volumes", value: [{ name: "v" }] }],
      { ...doc, spec: { list: [1, 2], volumes: [{ name: "v" }] } },
    ],
  ])("%s", (_, patch, expected) => {
    expect(applyJsonPatch(doc, patch)).toEqual(expected);
  });

  it("does not change its input", () => {
    const input = structuredClone(doc);
    applyJsonPatch(input, [{ op: "add", path: "/spec/list/-", value: 3 }]);
    expect(input).toEqual(doc);
  });

  it.each<[string, JsonPatchOperation]>([
    ["replace of an absent member", { op: "replace", path: "/spec/absent", value: 1 }],
    ["remove of an absent member", { op: "remove", path: "/spec/absent" }],
    ["add below an absent parent", { op: "add", path: "/spec/volumes/-", value: 1 }],
    ["add below an absent object", { op: "add", path: "/status/phase", value: 1 }],
    ["an index past the end", { op: "add", path: "/spec/list/3", value: 1 }],
    ["replace at -", { op: "replace", path: "/spec/list/-", value: 1 }],
    ["a leading-zero index", { op: "replace", path: "/spec/list/01", value: 1 }],
    ["the whole document", { op: "replace", path: "", value: 1 }],
  ])("refuses %s", (_, operation) => {
    expect(() => applyJsonPatch(doc, [operation])).toThrow(JsonPatchError);
  });
});
