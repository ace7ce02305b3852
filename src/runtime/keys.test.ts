import { describe, expect, it } from "vitest";
import { joinObjectKey, objectKey, splitObjectKey } from "./keys.js";

describe("object keys", () => {
  it("are namespace/name, or name for cluster-scoped objects, and split back", () => {
    expect(objectKey({ metadata: { namespace: "ml", name: "llama" } })).toBe("ml/llama");
    expect(objectKey({ metadata: { name: "node-1" } })).toBe("node-1");
    expect(joinObjectKey("", "node-1")).toBe("node-1");
    expect(splitObjectKey("ml/llama")).toEqual({ namespace: "ml", name: "llama" });
    expect(splitObjectKey("node-1")).toEqual({ name: "node-1" });
  });

  it("refuse objects without a name", () => {
    expect(() => objectKey({ metadata: { namespace: "ml" } })).toThrow(/no metadata.name/);
    expect(() => objectKey({})).toThrow(/no metadata.name/);
  });
});
