import { describe, expect, it } from "vitest";
import { isEmptyLabelSelector, matchesLabelSelector, type LabelSelector } from "./label-selector.js";

const labels = { app: "llama", tier: "gpu" };

describe("label selectors", () => {
  it.each<[string, LabelSelector, boolean]>([
    ["empty selects everything", {}, true],
    ["matchLabels all equal", { matchLabels: { app: "llama", tier: "gpu" } }, true],
    ["matchLabels one differs", { matchLabels: { app: "llama", tier: "cpu" } }, false],
    ["In", { matchExpressions: [{ key: "app", operator: "In", values: ["bert", "llama"] }] }, true],
    ["In without the key", { matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] }, false],
    ["NotIn", { matchExpressions: [{ key: "app", operator: "NotIn", values: ["bert"] }] }, true],
    [
      "NotIn without the key",
      { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] },
      true,
    ],
    ["NotIn hit", { matchExpressions: [{ key: "app", operator: "NotIn", values: ["llama"] }] }, false],
    ["Exists", { matchExpressions: [{ key: "tier", operator: "Exists" }] }, true],
    ["DoesNotExist", { matchExpressions: [{ key: "tier", operator: "DoesNotExist" }] }, false],
    [
      "labels AND expressions",
      { matchLabels: { app: "llama" }, matchExpressions: [{ key: "x", operator: "Exists" }] },
      false,
    ],
    [
      "unknown operator fails closed",
      { matchExpressions: [{ key: "app", operator: "Gt", values: ["1"] }] },
      false,
    ],
    ["In without values fails closed", { matchExpressions: [{ key: "app", operator: "In" }] }, false],
  ])("%s", (_name, selector, expected) => {
    expect(matchesLabelSelector(selector, labels)).toBe(expected);
  });

  it("treats missing labels as none", () => {
    expect(matchesLabelSelector({}, undefined)).toBe(true);
    expect(matchesLabelSelector({ matchLabels: { a: "b" } }, undefined)).toBe(false);
    expect(
      matchesLabelSelector({ matchExpressions: [{ key: "a", operator: "DoesNotExist" }] }, undefined),
    ).toBe(true);
  });

  it("does not treat inherited properties as labels", () => {
    expect(matchesLabelSelector({ matchExpressions: [{ key: "toString", operator: "Exists" }] }, {})).toBe(
      false,
    );
  });

  it("recognises the empty selector", () => {
    expect(isEmptyLabelSelector({})).toBe(true);
    expect(isEmptyLabelSelector({ matchLabels: {}, matchExpressions: [] })).toBe(true);
    expect(isEmptyLabelSelector({ matchLabels: { a: "b" } })).toBe(false);
  });
});
