/**
 * Collects the planner's additions and turns them into RFC 6902 operations that are valid for
 * the pod as it is:
 * - items appended to an array that the pod does not have become one `add` of the whole array
 *   (`{op: "add", path: "/spec/volumes", value: [...]}`); otherwise one `add` to `<array>/-` each;
 * - members set on an object that the pod does not have become one `add` of the whole object;
 *   otherwise `add` for a new member and `replace` only for a member that exists;
 * - operations come out in the order of the first addition to each array or object, so the patch
 *   for a given pod and input is always the same.
 */

import type { JsonPatchOperation } from "./types.js";
import { escapePointerToken } from "./json-pointer.js";

type Group =
  | { readonly kind: "array"; readonly path: string; readonly exists: boolean; readonly items: unknown[] }
  | {
      readonly kind: "object";
      readonly path: string;
      readonly current: Readonly<Record<string, unknown>> | undefined;
      readonly members: Map<string, unknown>;
    };

export class PatchBuilder {
  readonly #groups = new Map<string, Group>();

  /**
   * Appends `item` to the array at `path` (a JSON Pointer); `current` is the array in the pod,
   * or undefined when the pod has none (anything that is not an array counts as none).
   */
  append(path: string, current: unknown, item: unknown): void {
    let group = this.#groups.get(path);
    if (group === undefined) {
      group = { kind: "array", path, exists: Array.isArray(current), items: [] };
      this.#groups.set(path, group);
    }
    if (group.kind !== "array") throw new TypeError(`${path} is used both as an array and as an object`);
    group.items.push(item);
  }

  /**
   * Sets member `key` of the object at `path` to `value`; `current` is the object in the pod, or
   * undefined when the pod has none. The caller only sets members whose value changes.
   */
  set(
    path: string,
    current: Readonly<Record<string, unknown>> | undefined,
    key: string,
    value: unknown,
  ): void {
    let group = this.#groups.get(path);
    if (group === undefined) {
      group = { kind: "object", path, current, members: new Map() };
      this.#groups.set(path, group);
    }
    if (group.kind !== "object") throw new TypeError(`${path} is used both as an array and as an object`);
    group.members.set(key, value);
  }

  /** Whether nothing was added. */
  get isEmpty(): boolean {
    return this.#groups.size === 0;
  }

  /** The operations, in the order described in the module header. */
  operations(): JsonPatchOperation[] {
    const ops: JsonPatchOperation[] = [];
    for (const group of this.#groups.values()) {
      if (group.kind === "array") {
        if (!group.exists) ops.push({ op: "add", path: group.path, value: group.items });
        else for (const item of group.items) ops.push({ op: "add", path: `${group.path}/-`, value: item });
        continue;
      }
      if (group.current === undefined || group.current === null || typeof group.current !== "object") {
        ops.push({ op: "add", path: group.path, value: Object.fromEntries(group.members) });
        continue;
      }
      for (const [key, value] of group.members) {
        const exists = Object.hasOwn(group.current, key);
        ops.push({ op: exists ? "replace" : "add", path: `${group.path}/${escapePointerToken(key)}`, value });
      }
    }
    return ops;
  }
}
