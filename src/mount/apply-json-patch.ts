/**
 * A small, strict RFC 6902 applier for `add`, `replace` and `remove`, for tests: it proves that a
 * planned patch applies to the pod it was planned for, the way the apiserver applies it.
 * Strict means: the parent of every target must exist, `replace` and `remove` need an existing
 * target, an array index must be in range (`-` appends on `add` only); the root itself cannot be
 * replaced.
 */

import { parsePointer } from "./json-pointer.js";
import type { JsonPatchOperation } from "./types.js";
import { OperatorError } from "../errors.js";

/** Thrown for an operation that does not apply; the message names the operation's index and path. */
export class JsonPatchError extends OperatorError<"PatchDoesNotApply"> {
  constructor(message: string) {
    super("PatchDoesNotApply", message);
  }
}

const isContainer = (value: unknown): value is Record<string, unknown> | unknown[] =>
  value !== null && typeof value === "object";

/**
 * A deep copy of `document` with `patch` applied in order; `document` is not changed.
 * Throws JsonPatchError at the first operation that does not apply.
 */
export function applyJsonPatch<T>(document: T, patch: readonly JsonPatchOperation[]): T {
  const root = structuredClone(document);
  patch.forEach((operation, index) => {
    const fail = (why: string): never => {
      throw new JsonPatchError(`operation ${index} (${operation.op} ${operation.path}): ${why}`);
    };
    const tokens = parsePointer(operation.path);
    const value = operation.op === "remove" ? undefined : structuredClone(operation.value);
    const last = tokens.pop();
    if (last === undefined) return fail("changing the whole document is not supported");
    let parent: unknown = root;
    for (const token of tokens) {
      if (!isContainer(parent)) return fail(`"${token}" has no parent object`);
      parent = Array.isArray(parent) ? parent[arrayIndex(token, parent.length - 1, fail)] : parent[token];
    }
    if (!isContainer(parent)) return fail("the parent does not exist");
    if (Array.isArray(parent)) {
      if (operation.op === "add") {
        const at = last === "-" ? parent.length : arrayIndex(last, parent.length, fail);
        parent.splice(at, 0, value);
      } else {
        const at = arrayIndex(last, parent.length - 1, fail);
        if (operation.op === "replace") parent[at] = value;
        else parent.splice(at, 1);
      }
      return;
    }
    if (operation.op !== "add" && !Object.hasOwn(parent, last)) fail(`"${last}" does not exist`);
    if (operation.op === "remove") delete parent[last];
    else parent[last] = value;
  });
  return root;
}

/** The array index that `token` spells, at most `max`; anything else fails. */
function arrayIndex(token: string, max: number, fail: (why: string) => never): number {
  if (!/^(0|[1-9][0-9]*)$/.test(token)) return fail(`"${token}" is not an array index`);
  const index = Number(token);
  return index > max ? fail(`index ${index} is out of range`) : index;
}
