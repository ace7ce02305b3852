import { loadYaml } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { Json } from "./json.js";
import { toYaml } from "./yaml.js";

/** js-yaml (through client-node) reads documents without apiVersion/kind as plain data. */
const roundTrip = (value: Json): unknown => loadYaml(toYaml({ doc: value }));

describe("toYaml", () => {
  it("writes block style, sequences level with their key", () => {
    expect(toYaml({ a: 1, b: { c: [true, null, "x"], d: [] }, e: {}, f: [{ g: "h", i: [1] }, [2, 3]] })).toBe(
      [
        "a: 1",
        "b:",
        "  c:",
        "  - true",
        "  - null",
        "  - x",
        "  d: []",
        "e: {}",
        "f:",
        "- g: h",
        "  i:",
        "  - 1",
        "- - 2",
        "  - 3",
        "",
      ].join("\n"),
    );
  });

  it.each([
    ["plain", "Ready", "Ready"],
    ["plain with spaces and apostrophe", "the model's files", "the model's files"],
    ["a path", "/models/llama3", "/models/llama3"],
    ["a JSONPath", ".spec.model.reference", ".spec.model.reference"],
    ["a YAML 1.1 boolean", "on", '"on"'],
    ["another", "No", '"No"'],
    ["null", "null", '"null"'],
    ["a number", "10", '"10"'],
    ["a duration", "10m", '"10m"'],
    ["a colon and space", "a: b", '"a: b"'],
    ["a comment marker", "a #b", '"a #b"'],
    ["a leading dash", "-a", '"-a"'],
    ["an empty string", "", '""'],
    ["trailing space", "a ", '"a "'],
    ["a newline", "a\nb", '"a\\nb"'],
    ["backslashes", "self.matches(r'\\[')", "|-\n  self.matches(r'\\[')"],
    ["double quotes", '@.type=="Ready"', '|-\n  @.type=="Ready"'],
  ])("quotes %s only when needed", (_name, value, rendered) => {
    expect(toYaml({ k: value })).toBe(`k: ${rendered}\n`);
    expect(roundTrip(value)).toEqual({ doc: value });
  });

  it("indents literal blocks inside sequences deeper than the dash", () => {
    const value = { list: [{ rule: "a\\b", message: "m" }, "c\\d"] };
    expect(toYaml(value)).toBe("list:\n- rule: |-\n    a\\b\n  message: m\n- |-\n    c\\d\n");
    expect(roundTrip(value)).toEqual({ doc: value });
  });

  it("quotes keys that are not plain", () => {
    expect(toYaml({ "a: b": 1, "x-kubernetes-validations": 2 })).toBe(
      '"a: b": 1\nx-kubernetes-validations: 2\n',
    );
  });
});
