/** Plain JSON values, as documents such as a CRD are built from. */
export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/**
 * Checks that `value` is plain JSON (no undefined, functions, symbols, bigints, non-finite numbers
 * or class instances) and returns it typed as such, copying nothing. Throws naming the first path
 * that is not JSON.
 */
export function asJson(value: unknown, path = "$"): Json {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value;
    throw new TypeError(`${path} is ${value}, which JSON cannot represent`);
  }
  if (Array.isArray(value)) return value.map((item, index) => asJson(item, `${path}[${index}]`));
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value)) out[key] = asJson(item, `${path}.${key}`);
    return out;
  }
  throw new TypeError(`${path} is a ${typeof value}, which is not JSON`);
}

/**
 * A copy of `value` as a JSON document carries it: fields that are undefined are dropped (zod's
 * parsed optional fields, client-node's models). For comparing with, or storing, what the API holds.
 */
export function viaJson(value: object): Record<string, unknown>;
export function viaJson(value: object | undefined): Record<string, unknown> | undefined;
export function viaJson(value: object | undefined): Record<string, unknown> | undefined {
  return value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as Record<string, unknown>);
}

/** Whether a JSON value is an object (not null, not an array). */
export function isJsonObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
