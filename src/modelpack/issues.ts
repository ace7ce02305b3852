import type { z } from "zod";

/**
 * One finding of a validator. `code` is stable and machine-readable (callers branch on it);
 * `path` names the field in the checked document (`descriptor.createdAt`,
 * `config.capabilities.languages[0]`, `layers[2].annotations["org.cncf.model.filepath"]`; empty
 * for the document itself); `message` is for people and says what was found and what is allowed.
 */
export interface Issue {
  readonly code: string;
  readonly path: string;
  readonly message: string;
}

export type PathSegment = string | number;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Renders a path as `a.b[0]["x.y"]`; keys that are not identifiers are quoted in brackets. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (typeof segment === "symbol") out += `[${String(segment)}]`;
    else if (IDENTIFIER.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** `path` for messages: the formatted path, or "the document" for the root. */
export function fieldName(path: string, root = "the document"): string {
  return path === "" ? root : path;
}

const MAX_SHOWN = 80;

/** Describes a JSON value for a message: `string "abc"`, `number 3.1`, `null`, `an array of 2 items`. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (typeof value === "string") return `string ${quote(value)}`;
  if (typeof value === "number" || typeof value === "boolean") return `${typeof value} ${String(value)}`;
  if (Array.isArray(value)) {
    return value.length === 0
      ? "an empty array"
      : `an array of ${value.length} item${value.length === 1 ? "" : "s"}`;
  }
  return "an object";
}

/** A string for a message, JSON-quoted and shortened so a huge value cannot flood a log line. */
export function quote(s: string): string {
  const shown = s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)}…` : s;
  return JSON.stringify(shown);
}

/** Whether a value is a JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value at `path` inside a parsed JSON document, or undefined when the path does not exist. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const segment of path) {
    if (Array.isArray(current) && typeof segment === "number") current = current[segment];
    else if (isJsonObject(current) && typeof segment === "string" && Object.hasOwn(current, segment)) {
      current = current[segment];
    } else return undefined;
  }
  return current;
}

/** Options that let a caller word the issues of its own schema. */
export interface ZodIssueMapping {
  /** Code prefix, e.g. `config.schema` gives `config.schema.type`. */
  readonly prefix: string;
  /** How messages name the document itself (empty path), e.g. "the config". */
  readonly root?: string;
  /** Keys allowed in the object at a path (for additional-property messages). */
  readonly allowedKeys?: (path: readonly PropertyKey[]) => readonly string[] | undefined;
  /** Why a refinement tagged `params.code` rejected a value (one clause, no trailing period). */
  readonly explainCustom?: (code: string, input: unknown) => string | undefined;
  /** Extra explanation for a pattern mismatch at a path. */
  readonly explainPattern?: (path: readonly PropertyKey[]) => string | undefined;
}

const EXPECTED_TEXT: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  array: "an array",
  object: "an object",
  record: "an object",
};

/**
 * Turns zod issues into our Issues with stable codes: `required`, `type`, `additional-property`
 * (one per unknown key), `enum`, `pattern`, `min-length`, `min-items`, `minimum`, `maximum`, and
 * `<params.code>` for tagged refinements. `input` is the document that was parsed: it tells a
 * missing field (`required`) from a present one of the wrong type.
 */
export function issuesFromZod(
  zodIssues: readonly z.core.$ZodIssue[],
  input: unknown,
  mapping: ZodIssueMapping,
): Issue[] {
  const out: Issue[] = [];
  const { prefix } = mapping;
  for (const issue of zodIssues) {
    const path = formatPath(issue.path);
    const name = fieldName(path, mapping.root);
    const parent = valueAt(input, issue.path.slice(0, -1));
    const last = issue.path.at(-1);
    const isMissing =
      issue.path.length > 0 &&
      isJsonObject(parent) &&
      typeof last === "string" &&
      !Object.hasOwn(parent, last);
    const found = valueAt(input, issue.path);
    switch (issue.code) {
      case "invalid_type": {
        const expected = EXPECTED_TEXT[issue.expected] ?? issue.expected;
        if (isMissing) {
          out.push({
            code: `${prefix}.required`,
            path,
            message: `${name} is required but missing; it must be ${expected}`,
          });
        } else {
          const nullHint =
            found === null && path !== "" ? " (fields cannot be null; omit an optional field instead)" : "";
          out.push({
            code: `${prefix}.type`,
            path,
            message: `${name} must be ${expected}, found ${describeValue(found)}${nullHint}`,
          });
        }
        break;
      }
      case "unrecognized_keys": {
        const allowed = mapping.allowedKeys?.(issue.path);
        for (const key of issue.keys) {
          const keyPath = formatPath([...issue.path, key]);
          out.push({
            code: `${prefix}.additional-property`,
            path: keyPath,
            message: additionalPropertyMessage(keyPath, path, key, allowed),
          });
        }
        break;
      }
      case "invalid_value": {
        const allowed = issue.values.map((v) => JSON.stringify(v)).join(", ");
        const code = isMissing ? "required" : "enum";
        const what = isMissing ? "is required but missing" : `is ${describeValue(found)}`;
        const must = issue.values.length === 1 ? `must be ${allowed}` : `must be one of ${allowed}`;
        out.push({ code: `${prefix}.${code}`, path, message: `${name} ${what}; it ${must}` });
        break;
      }
      case "invalid_format": {
        const pattern =
          issue.format === "regex" && issue.pattern !== undefined ? issue.pattern : issue.format;
        const hint = mapping.explainPattern?.(issue.path);
        out.push({
          code: `${prefix}.pattern`,
          path,
          message: `${name} must match ${pattern}${hint === undefined ? "" : ` (${hint})`}, found ${describeValue(found)}`,
        });
        break;
      }
      case "too_small": {
        if (issue.origin === "string") {
          out.push({ code: `${prefix}.min-length`, path, message: `${name} must not be empty` });
        } else if (issue.origin === "array") {
          const n = Number(issue.minimum);
          out.push({
            code: `${prefix}.min-items`,
            path,
            message: `${name} must contain at least ${n} item${n === 1 ? "" : "s"}, found ${describeValue(found)}`,
          });
        } else {
          out.push({
            code: `${prefix}.minimum`,
            path,
            message: `${name} must be at least ${String(issue.minimum)}, found ${describeValue(found)}`,
          });
        }
        break;
      }
      case "too_big": {
        out.push({
          code: `${prefix}.maximum`,
          path,
          message: `${name} must be at most ${String(issue.maximum)}, found ${describeValue(found)}`,
        });
        break;
      }
      case "not_multiple_of":
      case "invalid_key":
      case "invalid_element":
      case "invalid_union":
        out.push({ code: `${prefix}.invalid`, path, message: `${name} is invalid: ${issue.message}` });
        break;
      case "custom": {
        const params: unknown = issue.params;
        const tag = isJsonObject(params) && typeof params["code"] === "string" ? params["code"] : "invalid";
        const why = mapping.explainCustom?.(tag, found) ?? issue.message;
        out.push({ code: `${prefix}.${tag}`, path, message: `${name} is ${describeValue(found)}: ${why}` });
        break;
      }
    }
  }
  return out;
}

function additionalPropertyMessage(
  keyPath: string,
  objectPath: string,
  key: string,
  allowed: readonly string[] | undefined,
): string {
  const where = objectPath === "" ? "the top level" : objectPath;
  let message = `${keyPath} is not allowed: ${where} is a closed object`;
  if (allowed !== undefined) {
    message += allowed.length === 0 ? " with no properties" : ` that accepts only ${allowed.join(", ")}`;
    const lower = key.toLowerCase();
    const near = allowed.find(
      (a) => a.toLowerCase() === lower || a.toLowerCase() === lower.replaceAll("_", ""),
    );
    if (near !== undefined) message += `; did you mean ${near}?`;
  }
  return message;
}
