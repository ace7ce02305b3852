import { z } from "zod";
import { detectLegacyConfig } from "./config-legacy.js";
import { DateTime, ModelConfig } from "./config-schema.js";
import { explainDateTime } from "./date-time.js";
import { explainDigest } from "./digest.js";
import {
  describeValue,
  formatPath,
  isJsonObject,
  issuesFromZod,
  quote,
  valueAt,
  type Issue,
  type PathSegment,
  type ZodIssueMapping,
} from "./issues.js";
import { parseJson, type DuplicateKey } from "./json.js";

export * from "./config-schema.js";

/**
 * Result of validateConfig. `valid` is exactly the reference validator's verdict (model-spec
 * `schema/validator.go`); `errors` explain a false verdict, `warnings` never affect it.
 * `config` is set only when valid. `legacy` is set when the document follows an older spec.
 */
export interface ConfigValidation {
  readonly valid: boolean;
  readonly config?: ModelConfig;
  readonly errors: Issue[];
  readonly warnings: Issue[];
  readonly legacy?: { readonly specVersion: string; readonly message: string };
}

/**
 * Validates a ModelPack config blob with the reference validator's verdict. That validator runs
 * two stages and needs both to pass: Go `json.Unmarshal` into `v1.Model` (which decodes every
 * occurrence of a repeated key, fails on ill-typed ones and parses times strictly), then JSON
 * Schema 2020-12 with format assertion on the last-wins value. Mirrored here as: a strict JSON
 * parse that records repeated keys, a Go-typing check of every overwritten occurrence, and the
 * zod schema. Invalid UTF-8 is read as U+FFFD, as Go does (a warning, not an error).
 *
 * Error codes: `config.json.syntax`, `config.json.duplicate-key`, `config.legacy`, and
 * `config.schema.{required,type,additional-property,enum,pattern,date-time,min-length,min-items}`.
 * Warning codes: `config.json.duplicate-key`, `config.json.invalid-utf8`,
 * `config.lint.{param-size,precision,diff-id}`. Never throws.
 */
export function validateConfig(input: string | Uint8Array): ConfigValidation {
  const parsed = parseJson(input, { duplicateKeys: "collect", invalidUtf8: "replace" });
  if (!parsed.ok) {
    const { message, offset } = parsed.error;
    return {
      valid: false,
      errors: [
        {
          code: "config.json.syntax",
          path: "",
          message: `the config is not valid JSON: ${message} (at byte ${offset})`,
        },
      ],
      warnings: [],
    };
  }
  const doc = parsed.value;
  const errors: Issue[] = [];
  const warnings: Issue[] = [];
  if (parsed.invalidUtf8Offset !== undefined) {
    warnings.push({
      code: "config.json.invalid-utf8",
      path: "",
      message: `the config contains invalid UTF-8 (first at byte ${parsed.invalidUtf8Offset}); like the reference validator, each invalid byte is read as U+FFFD`,
    });
  }
  for (const duplicate of parsed.duplicates) {
    const issue = duplicateKeyIssue(duplicate);
    (issue.fatal ? errors : warnings).push(issue.issue);
  }

  const result = ModelConfig.safeParse(doc, { reportInput: true });
  let schemaIssues = result.success ? [] : issuesFromZod(result.error.issues, doc, SCHEMA_MAPPING);
  const legacy = detectLegacyConfig(doc);
  if (legacy !== undefined) {
    errors.unshift(legacy.issue);
    schemaIssues = schemaIssues.filter((issue) => !legacy.explains(issue));
  }
  errors.push(...schemaIssues);
  warnings.push(...documentationWarnings(doc));

  const valid = errors.length === 0 && result.success;
  return {
    valid,
    ...(valid ? { config: result.data } : {}),
    errors,
    warnings,
    ...(legacy === undefined ? {} : { legacy: { specVersion: legacy.specVersion, message: legacy.message } }),
  };
}

const SCHEMA_MAPPING: ZodIssueMapping = {
  prefix: "config.schema",
  root: "the config",
  allowedKeys: (path) => {
    const node = schemaAt(path.filter((segment) => typeof segment === "string"));
    return node instanceof z.ZodObject ? Object.keys(node.shape) : undefined;
  },
  explainCustom: (code, input) => {
    if (code !== "date-time" || typeof input !== "string") return undefined;
    return `${explainDateTime(input) ?? "not a date-time"}; expected an RFC 3339 date-time such as "2025-01-01T00:00:00Z"`;
  },
  explainPattern: (path) =>
    path.at(-2) === "languages" ? 'a two-letter lowercase ISO 639-1 language code such as "en"' : undefined,
};

/**
 * A repeated key is fatal when Go's struct decoding rejects the overwritten value (the schema
 * stage only sees the last one); otherwise it is a warning, because the verdict is unaffected.
 */
function duplicateKeyIssue(duplicate: DuplicateKey): { fatal: boolean; issue: Issue } {
  const path = formatPath([...duplicate.path, duplicate.key]);
  const field = goField(duplicate.path, duplicate.key);
  const goError = field === undefined ? undefined : goDecodeError(field, duplicate.overwritten);
  const where = `${path} appears more than once in one object (repeated at byte ${duplicate.offset})`;
  if (goError !== undefined) {
    return {
      fatal: true,
      issue: {
        code: "config.json.duplicate-key",
        path,
        message: `${where}; the reference validator decodes every occurrence and rejects an earlier one: ${goError}. Keep a single "${duplicate.key}" key.`,
      },
    };
  }
  return {
    fatal: false,
    issue: {
      code: "config.json.duplicate-key",
      path,
      message: `${where}; only the last value counts. Keep a single "${duplicate.key}" key: other JSON readers may pick a different one.`,
    },
  };
}

type Schema = z.core.$ZodType;

function unwrap(node: Schema): Schema {
  return node instanceof z.ZodOptional ? unwrap(node.unwrap()) : node;
}

/** Go matches struct fields by exact name first, then case-insensitively. */
function fieldOf(node: Schema, key: string): Schema | undefined {
  const object = unwrap(node);
  if (!(object instanceof z.ZodObject)) return undefined;
  const shape: Record<string, Schema> = object.shape;
  if (Object.hasOwn(shape, key)) return shape[key];
  const lower = key.toLowerCase();
  const match = Object.keys(shape).find((k) => k.toLowerCase() === lower);
  return match === undefined ? undefined : shape[match];
}

function schemaAt(path: readonly PathSegment[]): Schema | undefined {
  let node: Schema | undefined = ModelConfig;
  for (const segment of path) {
    if (node === undefined || typeof segment !== "string") return undefined;
    node = fieldOf(node, segment);
  }
  return node === undefined ? undefined : unwrap(node);
}

function goField(objectPath: readonly PathSegment[], key: string): Schema | undefined {
  const holder = schemaAt(objectPath);
  return holder === undefined ? undefined : fieldOf(holder, key);
}

/** Why Go's json.Unmarshal into v1.Model would fail on `value` for this field; undefined if it would not. */
function goDecodeError(field: Schema, value: unknown): string | undefined {
  if (value === null) return undefined; // Go leaves the field unchanged on null.
  const node = unwrap(field);
  if (node === DateTime) {
    if (typeof value !== "string") return `${describeValue(value)} is not a time string`;
    const why = explainDateTime(value);
    return why === undefined ? undefined : `${quote(value)} is not an RFC 3339 time (${why})`;
  }
  if (node instanceof z.ZodString || node instanceof z.ZodEnum) {
    return typeof value === "string" ? undefined : `${describeValue(value)} is not a string`;
  }
  if (node instanceof z.ZodBoolean) {
    return typeof value === "boolean" ? undefined : `${describeValue(value)} is not true or false`;
  }
  if (node instanceof z.ZodArray) {
    if (!Array.isArray(value)) return `${describeValue(value)} is not an array`;
    for (const element of value) {
      const error = goDecodeError(node.element, element);
      if (error !== undefined) return error;
    }
    return undefined;
  }
  if (node instanceof z.ZodObject) {
    if (!isJsonObject(value)) return `${describeValue(value)} is not an object`;
    for (const [key, member] of Object.entries(value)) {
      const memberField = fieldOf(node, key);
      const error = memberField === undefined ? undefined : goDecodeError(memberField, member);
      if (error !== undefined) return error;
    }
  }
  return undefined;
}

/** The doc grammar for paramSize (config.md); the schema does not enforce it. */
const PARAM_SIZE = /^\d+(\.\d)?[QqTtBbMmKk]$/;

/** The precision names config.md lists; several are joined by commas. */
export const PRECISIONS: readonly string[] = [
  "float32",
  "float64",
  "float16",
  "bfloat16",
  "float8_e4m3",
  "float8_e5m2",
  "complex32",
  "complex64",
  "complex128",
  "int8",
  "int16",
  "int32",
  "int64",
  "uint8",
  "uint16",
  "uint32",
  "uint64",
  "bool",
];

/** Rules the spec's prose states but its schema does not check: reported, never fatal. */
function documentationWarnings(doc: unknown): Issue[] {
  const warnings: Issue[] = [];
  const paramSize = valueAt(doc, ["config", "paramSize"]);
  if (typeof paramSize === "string" && !PARAM_SIZE.test(paramSize)) {
    warnings.push({
      code: "config.lint.param-size",
      path: "config.paramSize",
      message: `config.paramSize is ${quote(paramSize)}; the spec's form is <count><scale>: a decimal count with at most one digit after the point and one of Q, T, B, M, K (either case), e.g. "8b", "6.7B", "100m"`,
    });
  }
  const precision = valueAt(doc, ["config", "precision"]);
  if (typeof precision === "string") {
    const unknown = precision.split(",").filter((part) => !PRECISIONS.includes(part));
    if (unknown.length > 0) {
      warnings.push({
        code: "config.lint.precision",
        path: "config.precision",
        message: `config.precision is ${quote(precision)}; ${unknown.map(quote).join(", ")} ${unknown.length === 1 ? "is" : "are"} not among the spec's names (${PRECISIONS.join(", ")}); several are joined by commas without spaces, e.g. "float16,float8_e4m3"`,
      });
    }
  }
  const diffIds = valueAt(doc, ["modelfs", "diffIds"]);
  if (Array.isArray(diffIds)) {
    diffIds.forEach((diffId: unknown, index) => {
      if (typeof diffId !== "string") return;
      const why = explainDigest(diffId);
      if (why === undefined) return;
      warnings.push({
        code: "config.lint.diff-id",
        path: `modelfs.diffIds[${index}]`,
        message: `modelfs.diffIds[${index}] is ${quote(diffId)}, not an OCI digest: ${why}; a DiffID is the digest of the layer's uncompressed content`,
      });
    });
  }
  return warnings;
}
