import { describe, expect, it } from "vitest";
import { matchesLabelSelector, type LabelSelector } from "../runtime/label-selector.js";
import { compileLabelSelector } from "./selector.js";

const selectors: [string, LabelSelector][] = [
  ["empty", {}],
  ["matchLabels", { matchLabels: { app: "llama", tier: "gpu" } }],
  ["In", { matchExpressions: [{ key: "app", operator: "In", values: ["llama", "mistral"] }] }],
  ["NotIn", { matchExpressions: [{ key: "app", operator: "NotIn", values: ["llama"] }] }],
  ["Exists", { matchExpressions: [{ key: "tier", operator: "Exists" }] }],
  ["DoesNotExist", { matchExpressions: [{ key: "tier", operator: "DoesNotExist" }] }],
  ["In without values", { matchExpressions: [{ key: "app", operator: "In", values: [] }] }],
  ["NotIn without values", { matchExpressions: [{ key: "app", operator: "NotIn" }] }],
  ["unknown operator", { matchExpressions: [{ key: "app", operator: "Gt", values: ["1"] }] }],
  [
    "labels and expressions",
    { matchLabels: { app: "llama" }, matchExpressions: [{ key: "tier", operator: "In", values: ["gpu"] }] },
  ],
  ["inherited key", { matchLabels: { toString: "x" } }],
  ["inherited key Exists", { matchExpressions: [{ key: "constructor", operator: "Exists" }] }],
];

const labelSets: [string, Record<string, string> | undefined][] = [
  ["none", undefined],
  ["empty", {}],
  ["llama", { app: "llama" }],
  ["llama gpu", { app: "llama", tier: "gpu" }],
  ["mistral cpu", { app: "mistral", tier: "cpu" }],
  ["other", { app: "other" }],
  ["toString", { toString: "x" }],
];

describe("compileLabelSelector", () => {
  for (const [selectorName, selector] of selectors) {
    it.each(labelSets)(`${selectorName} agrees with matchesLabelSelector on %s labels`, (_, labels) => {
      expect(compileLabelSelector(selector)(labels)).toBe(matchesLabelSelector(selector, labels));
    });
  }

  it("treats null labels as none", () => {
    expect(compileLabelSelector({ matchExpressions: [{ key: "a", operator: "DoesNotExist" }] })(null)).toBe(
      true,
    );
    expect(compileLabelSelector({ matchLabels: { a: "b" } })(null)).toBe(false);
  });
});
