import { describe, expect, it } from "vitest";
import {
  compileLabelSelector,
  isEmptyLabelSelector,
  matchesLabelSelector,
  type LabelSelector,
} from "./label-selector.js";

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

// The webhook's table (it compiled selectors with its own engine before this module owned both
// forms): every selector against every label set, with the answer the apiserver gives.
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

// Which label sets (by name) each selector selects.
const selected: Record<string, string[]> = {
  empty: ["none", "empty", "llama", "llama gpu", "mistral cpu", "other", "toString"],
  matchLabels: ["llama gpu"],
  In: ["llama", "llama gpu", "mistral cpu"],
  NotIn: ["none", "empty", "mistral cpu", "other", "toString"],
  Exists: ["llama gpu", "mistral cpu"],
  DoesNotExist: ["none", "empty", "llama", "other", "toString"],
  "In without values": [],
  "NotIn without values": [],
  "unknown operator": [],
  "labels and expressions": ["llama gpu"],
  "inherited key": ["toString"],
  "inherited key Exists": [],
};

describe("compileLabelSelector", () => {
  for (const [selectorName, selector] of selectors) {
    it.each(labelSets)(`${selectorName} on %s labels`, (labelsName, labels) => {
      const expected = selected[selectorName]!.includes(labelsName);
      expect(compileLabelSelector(selector)(labels)).toBe(expected);
      expect(matchesLabelSelector(selector, labels)).toBe(expected);
    });
  }

  it("treats null labels as none", () => {
    expect(compileLabelSelector({ matchExpressions: [{ key: "a", operator: "DoesNotExist" }] })(null)).toBe(
      true,
    );
    expect(compileLabelSelector({ matchLabels: { a: "b" } })(null)).toBe(false);
  });
});
