import { describe, expect, it } from "vitest";
import { REFERENCE_CASES } from "../../test/api/reference-cases.js";
import { RULE_CASES } from "../../test/api/rule-cases.js";
import { parseReference } from "../oci/reference.js";
import { modelDeploymentSchema } from "./crd.js";
import { isJsonObject, type Json } from "./json.js";
import { ModelDeploymentSpec } from "./v1alpha1.js";
import { celRaw, celValidation, patternRule } from "./rule.js";
import {
  expressionValuesRequiredRule,
  mountPathAbsoluteRule,
  referenceRegistryRule,
  referenceSyntaxRule,
  RULES,
} from "./validation-rules.js";

describe("each rule's TypeScript check", () => {
  it("has a case in this table for every rule, and every id is unique", () => {
    const ids = RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(RULE_CASES.map((c) => c.id).sort()).toEqual([...ids].sort());
  });

  for (const c of RULE_CASES) {
    it(c.title, () => {
      expect(c.wronglyRejected()).toEqual([]);
      expect(c.wronglyAccepted()).toEqual([]);
    });
  }
});

describe("zod, on a whole spec", () => {
  const cases = RULE_CASES.flatMap((c) =>
    c.examples.map((e) => [`${c.id}: ${JSON.stringify(e.value).slice(0, 60)}`, c.message, e] as const),
  );
  it.each(cases)("%s", (_title, message, example) => {
    const result = ModelDeploymentSpec.safeParse(example.spec);
    const reported = (result.error?.issues ?? [])
      .filter((issue) => issue.message === message)
      .map((issue) => fieldPath(issue.path));
    expect(reported).toEqual(example.valid ? [] : [example.field]);
  });
});

/** A zod issue path in the apiserver's notation: `spec.model.pullSecrets[0].name`. */
function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, segment) => (typeof segment === "number" ? `${out}[${segment}]` : `${out}.${String(segment)}`),
    "spec",
  );
}

describe("references: the zod side of the CEL/TypeScript agreement table", () => {
  it.each(REFERENCE_CASES.map((c) => [c.why, c] as const))("%s", (_why, c) => {
    const zodVerdict = referenceRegistryRule.check(c.reference) && referenceSyntaxRule.check(c.reference);
    expect(zodVerdict).toBe(c.valid);
    expect(parses(c.reference)).toBe(c.parses);
  });

  it("a short name gets one message (the registry rule), not two", () => {
    const failing = [referenceRegistryRule, referenceSyntaxRule].filter((r) => !r.check("llama3"));
    expect(failing.map((r) => r.id)).toEqual(["reference-registry"]);
  });
});

function parses(reference: string): boolean {
  try {
    parseReference(reference);
    return true;
  } catch {
    return false;
  }
}

describe("the CRD carries exactly the rules of the table", () => {
  const found: Json[] = [];
  const collect = (node: Json): void => {
    if (Array.isArray(node)) node.forEach(collect);
    else if (isJsonObject(node)) {
      for (const [key, value] of Object.entries(node)) {
        if (key === "x-kubernetes-validations" && Array.isArray(value)) found.push(...value);
        else collect(value);
      }
    }
  };
  collect(modelDeploymentSchema());

  it("every rule is in the CRD, with its message", () => {
    for (const rule of RULES) expect(found).toContainEqual(celValidation(rule));
  });

  it("every CEL rule in the CRD comes from the table", () => {
    const known = RULES.map((rule) => JSON.stringify(celValidation(rule)));
    expect(found.filter((v) => !known.includes(JSON.stringify(v)))).toEqual([]);
  });
});

describe("rule helpers", () => {
  it("patternRule uses one source for CEL and RegExp, negated with forbid", () => {
    const rule = patternRule({ id: "x", pattern: "^[.]", forbid: true, message: "m" });
    expect(rule.cel).toBe("!self.matches(r'^[.]')");
    expect([rule.check(".a"), rule.check("a")]).toEqual([false, true]);
  });

  it("celRaw refuses a quote, which a raw string cannot hold", () => {
    expect(() => celRaw("a'b")).toThrow("cannot contain a quote");
    expect(celRaw("a\\[b")).toBe("r'a\\[b'");
  });

  it("celValidation keeps optional keys out unless set", () => {
    expect(celValidation(mountPathAbsoluteRule)).toEqual({
      rule: "self.matches(r'^/')",
      message: "must be an absolute path such as /models/llama3",
    });
    expect(celValidation(expressionValuesRequiredRule)).toMatchObject({
      fieldPath: ".values",
      reason: "FieldValueRequired",
    });
  });
});
