import type { z } from "zod";

/**
 * How the apiserver words a failed rule (`x-kubernetes-validations[].reason`): `FieldValueInvalid`
 * prints `<field>: Invalid value: "<type>": <message>`, `FieldValueRequired` prints
 * `<field>: Required value: <message>`, `FieldValueForbidden` prints `<field>: Forbidden: <message>`.
 */
export type RuleReason = "FieldValueInvalid" | "FieldValueRequired" | "FieldValueForbidden";

/**
 * One validation rule, said once and enforced twice: by the apiserver as a CEL
 * `x-kubernetes-validations` entry of the CRD, and by zod as a refinement with the same message.
 *
 * Invariants (tested): `check(v)` and the apiserver's verdict on `cel` agree for every example in
 * the tests; `message` says what is wrong and how to fix it, because it is what `kubectl apply`
 * prints after the field path.
 */
export interface Rule<T> {
  /** Stable kebab-case name, used in zod issue params (`params.rule`) and in tests. */
  readonly id: string;
  /** CEL expression, evaluated with `self` bound to the field's value; true means valid. */
  readonly cel: string;
  /** The same predicate in TypeScript; true means valid. */
  readonly check: (value: T) => boolean;
  /** What the user reads, after the field path. One or two sentences, no trailing period needed. */
  readonly message: string;
  /**
   * Where the apiserver and zod report the failure, relative to the field the rule sits on, as a
   * JSON path such as `.values`. Default: the field itself.
   */
  readonly fieldPath?: string;
  /** Default FieldValueInvalid. */
  readonly reason?: RuleReason;
}

/** One `x-kubernetes-validations` entry. Keys in the order the CRD shows them. */
export interface CelValidation {
  readonly rule: string;
  readonly message: string;
  readonly fieldPath?: string;
  readonly reason?: RuleReason;
}

/** The CRD form of a rule. */
export function celValidation(rule: Rule<never>): CelValidation {
  return {
    rule: rule.cel,
    message: rule.message,
    ...(rule.fieldPath !== undefined && { fieldPath: rule.fieldPath }),
    ...(rule.reason !== undefined && { reason: rule.reason }),
  };
}

/**
 * Attaches rules to a schema: each becomes a zod refinement (issue code `custom`, the rule's
 * message, `params.rule` = its id, path extended by `fieldPath`) and an `x-kubernetes-validations`
 * entry in the schema's metadata, which `z.toJSONSchema` copies into the CRD. Call it once per
 * schema (a second call would replace the first call's CEL entries) and before `.describe()`.
 */
export function withRules<S extends z.ZodType>(schema: S, rules: readonly Rule<z.output<S>>[]): S {
  const refined = schema.superRefine((value, ctx) => {
    for (const rule of rules) {
      if (rule.check(value)) continue;
      ctx.addIssue({
        code: "custom",
        message: rule.message,
        params: { rule: rule.id },
        path: fieldPathSegments(rule.fieldPath),
        input: value,
      });
    }
  });
  return refined.meta({ "x-kubernetes-validations": rules.map(celValidation) });
}

/** `.values` → `["values"]`; `.a.b` → `["a", "b"]`. Only dotted names are used by our rules. */
function fieldPathSegments(fieldPath: string | undefined): string[] {
  if (fieldPath === undefined) return [];
  return fieldPath.split(".").filter((segment) => segment !== "");
}

/**
 * A CEL string literal holding `text` verbatim. Raw strings (`r'…'`) keep regular expressions
 * readable in the YAML: no backslash is doubled. Throws if `text` contains a quote, which no rule
 * of ours needs.
 */
export function celRaw(text: string): string {
  if (text.includes("'")) throw new Error(`a CEL raw string cannot contain a quote: ${text}`);
  return `r'${text}'`;
}

/**
 * A rule that a string field must (or, with `forbid`, must not) match a regular expression. The
 * same source text is the CEL `matches()` argument and the JavaScript RegExp, so it must be in the
 * common subset of RE2 and ECMAScript: no lookaround, no backreferences, no flags; `$` means end
 * of text in both. CEL's `matches` searches like `RegExp.test`: anchor with `^…$` for a full match.
 */
export function patternRule(options: {
  id: string;
  pattern: string;
  forbid?: boolean;
  message: string;
  reason?: RuleReason;
}): Rule<string> {
  const { forbid = false } = options;
  const regex = new RegExp(options.pattern);
  const matches = `self.matches(${celRaw(options.pattern)})`;
  return {
    id: options.id,
    cel: forbid ? `!${matches}` : matches,
    check: (value) => regex.test(value) !== forbid,
    message: options.message,
    ...(options.reason !== undefined && { reason: options.reason }),
  };
}
