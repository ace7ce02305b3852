import { isJsonObject, type Json, type JsonObject } from "./json.js";

/**
 * Turns the OpenAPI 3.0 output of `z.toJSONSchema(…, { target: "openapi-3.0", io: "input" })` into a
 * Kubernetes structural schema (apiextensions.k8s.io/v1 "Specifying a structural schema"):
 *
 * - `additionalProperties: false` (what zod writes for strict objects) is dropped: Kubernetes
 *   forbids it and prunes unknown fields anyway;
 * - `format: date-time` strings lose zod's long `pattern`: the apiserver checks the format itself;
 * - integers lose zod's ±2^53−1 bounds (the JavaScript safe range, not a rule of ours) and get
 *   `format: int64`;
 * - keys of every node come in one fixed order, so the generated YAML is stable across zod releases.
 *
 * Throws, naming the path, on anything that has no structural form or that we do not mean to emit:
 * `$ref`/`$defs` (cycles or reuse), `anyOf`/`oneOf`/`allOf`/`not`, `const`, `nullable`, a loose
 * object (`additionalProperties: {}` beside `properties`), or a node without `type`.
 */
export function toStructuralSchema(schema: Json): JsonObject {
  return visit(schema, "$");
}

const FORBIDDEN_KEYS = [
  "$ref",
  "$defs",
  "definitions",
  "anyOf",
  "oneOf",
  "allOf",
  "not",
  "const",
  "nullable",
];
const DROPPED_KEYS = new Set(["$schema", "id", "$id"]);

/** The order keys appear in, for readability of the YAML: what it is, then its limits, then children. */
const KEY_ORDER = [
  "description",
  "type",
  "format",
  "enum",
  "default",
  "minimum",
  "maximum",
  "minLength",
  "maxLength",
  "pattern",
  "minItems",
  "maxItems",
  "minProperties",
  "maxProperties",
  "required",
  "properties",
  "additionalProperties",
  "items",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-validations",
];

function visit(node: Json, path: string): JsonObject {
  if (!isJsonObject(node)) throw new Error(`${path}: a schema must be an object`);
  for (const key of FORBIDDEN_KEYS) {
    if (key in node) throw new Error(`${path}: "${key}" has no structural form; change the zod schema`);
  }
  if (typeof node["type"] !== "string") throw new Error(`${path}: every node needs a type`);
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (DROPPED_KEYS.has(key)) continue;
    if (key === "properties") {
      if (!isJsonObject(value)) throw new Error(`${path}.properties must be an object`);
      const properties: JsonObject = {};
      for (const [name, child] of Object.entries(value)) properties[name] = visit(child, `${path}.${name}`);
      out[key] = properties;
    } else if (key === "items") {
      out[key] = visit(value, `${path}[]`);
    } else if (key === "additionalProperties") {
      if (value === false) continue;
      // An object kept as it is: the apiserver neither prunes nor types what is inside.
      if (node["x-kubernetes-preserve-unknown-fields"] === true) continue;
      if ("properties" in node) throw new Error(`${path}: a loose object is not structural`);
      out[key] = visit(value, `${path}.*`);
    } else {
      out[key] = value;
    }
  }
  if (out["format"] === "date-time") delete out["pattern"];
  if (out["type"] === "integer") {
    if (out["minimum"] === Number.MIN_SAFE_INTEGER) delete out["minimum"];
    if (out["maximum"] === Number.MAX_SAFE_INTEGER) delete out["maximum"];
    out["format"] = "int64";
  }
  return sortKeys(out);
}

function sortKeys(node: JsonObject): JsonObject {
  const rank = (key: string) => {
    const index = KEY_ORDER.indexOf(key);
    return index === -1 ? KEY_ORDER.length : index;
  };
  const keys = Object.keys(node).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const out: JsonObject = {};
  for (const key of keys) {
    const value = node[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
