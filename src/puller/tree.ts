import { PullError } from "./errors.js";

/**
 * The pure decision of what a pull places: the layers' entries merged in manifest order over what
 * the destination already holds, every conflict and unsafe symlink refused before anything is
 * placed. Paths are normalised relative POSIX paths (see safeRelativePath).
 */

/** A node of the destination as it will be; `origin` names the layer, undefined = already there. */
export type TreeNode =
  | { readonly type: "file"; readonly sha256?: string; readonly origin?: string }
  | { readonly type: "directory"; readonly origin?: string }
  | { readonly type: "symlink"; readonly target: string; readonly origin?: string };

export type EntryShape =
  | { readonly type: "file"; readonly path: string; readonly sha256: string }
  | { readonly type: "directory"; readonly path: string }
  | { readonly type: "symlink"; readonly path: string; readonly target: string };

export interface LayerEntries<T extends EntryShape> {
  /** e.g. `registry/repo@sha256:…, layer 2 (sha256:…)`. */
  readonly what: string;
  readonly entries: readonly T[];
  /** False for a layer already in place (skipped): its entries only take part in the checks. */
  readonly place: boolean;
}

/** Symlinks followed while resolving one path, as Linux's MAXSYMLINKS. */
export const MAX_LINK_HOPS = 40;

const where = (node: TreeNode): string => node.origin ?? "the destination (already there)";

function sameContent(a: TreeNode, b: EntryShape): boolean {
  if (a.type === "directory" && b.type === "directory") return true;
  if (a.type === "file" && b.type === "file") return a.sha256 === b.sha256;
  if (a.type === "symlink" && b.type === "symlink") return a.target === b.target;
  return false;
}

const kind = (node: { type: string }): string => (node.type === "directory" ? "folder" : node.type);

function toNode(entry: EntryShape, origin: string): TreeNode {
  if (entry.type === "file") return { type: "file", sha256: entry.sha256, origin };
  if (entry.type === "symlink") return { type: "symlink", target: entry.target, origin };
  return { type: "directory", origin };
}

/**
 * Where a symlink's target leads, component by component (each symlink met on the way is
 * followed, as the kernel does): undefined when it stays inside the destination (or dangles
 * inside it), else why it does not. A component that does not exist is taken lexically.
 */
export function linkEscape(
  view: ReadonlyMap<string, TreeNode>,
  linkPath: string,
  target: string,
  /** The layer of the link being resolved: links of the same layer are named as such. */
  origin?: string,
): string | undefined {
  if (target === "") return "has an empty target";
  if (target.includes("\0")) return "has a NUL byte in its target";
  if (target.startsWith("/")) return "is absolute, outside the destination";
  const stack = linkPath.split("/").slice(0, -1);
  const pending = target.split("/").reverse();
  let hops = 0;
  let via: string | undefined;
  for (let part = pending.pop(); part !== undefined; part = pending.pop()) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (stack.length === 0) return `resolves outside the destination${via ?? ""}`;
      stack.pop();
      continue;
    }
    stack.push(part);
    const path = stack.join("/");
    const node = view.get(path);
    if (node?.type !== "symlink") continue;
    if (++hops > MAX_LINK_HOPS) return `goes through more than ${MAX_LINK_HOPS} symlinks (a loop)`;
    const of = origin !== undefined && node.origin === origin ? "the same layer" : where(node);
    via = ` (through symlink "${path}" -> "${node.target}" of ${of})`;
    if (node.target.startsWith("/") || node.target === "") return `resolves outside the destination${via}`;
    stack.pop();
    pending.push(...node.target.split("/").reverse());
  }
  return undefined;
}

/**
 * Merges the layers (in manifest order) over `existing` and returns the entries to place, in
 * order. Refused, with the layer, the entry and the reason:
 * - a path two layers (or one layer twice) fill with different content, or a file where another
 *   entry needs a folder: Conflict, whatever the order downloads finish in (identical duplicates
 *   are placed once);
 * - a write through a symlink, or a folder or file replacing a symlink or a folder: UnsafePath /
 *   Conflict;
 * - any symlink of the resulting tree, new or already there, that resolves outside it.
 */
export function planPlacement<T extends EntryShape>(
  existing: ReadonlyMap<string, TreeNode>,
  layers: readonly LayerEntries<T>[],
): { readonly entry: T; readonly what: string }[] {
  const view = new Map(existing);
  const fromPull = new Map<string, TreeNode>();
  const place: { entry: T; what: string }[] = [];
  for (const layer of layers) {
    for (const entry of layer.entries) {
      const describe = `${layer.what}: "${entry.path}"`;
      const parts = entry.path.split("/");
      for (let i = 1; i < parts.length; i++) {
        const ancestor = parts.slice(0, i).join("/");
        const node = view.get(ancestor);
        if (node === undefined) {
          const folder: TreeNode = { type: "directory", origin: layer.what };
          view.set(ancestor, folder);
          fromPull.set(ancestor, folder);
        } else if (node.type === "symlink") {
          throw new PullError(
            "UnsafePath",
            `${describe} would be written through symlink "${ancestor}" of ${where(node)}; refusing to write through a symlink`,
          );
        } else if (node.type === "file") {
          throw new PullError(
            "Conflict",
            `${describe} needs a folder "${ancestor}", but ${where(node)} has a file there; re-package the model so no path is both a file and a folder`,
          );
        }
      }
      const previous = fromPull.get(entry.path);
      if (previous !== undefined) {
        if (sameContent(previous, entry)) continue;
        throw new PullError(
          "Conflict",
          `"${entry.path}" is a ${kind(previous)} in ${where(previous)} and a different ${kind(entry)} in ${layer.what}; ` +
            `a ModelPack artifact must not put two things at one path (refused in every pull, whatever the order layers download in); re-package the model`,
        );
      }
      const old = view.get(entry.path);
      if (old !== undefined && (old.type === "directory") !== (entry.type === "directory")) {
        throw new PullError(
          old.type === "symlink" ? "UnsafePath" : "Conflict",
          `${describe} is a ${kind(entry)}, but the destination already has a ${kind(old)} there; remove it (or pull into an empty folder)`,
        );
      }
      const node = toNode(entry, layer.what);
      view.set(entry.path, node);
      fromPull.set(entry.path, node);
      if (layer.place) place.push({ entry, what: layer.what });
    }
  }
  for (const [path, node] of view) {
    if (node.type !== "symlink") continue;
    const escape = linkEscape(view, path, node.target, node.origin);
    if (escape === undefined) continue;
    throw new PullError(
      "UnsafePath",
      node.origin !== undefined
        ? `${node.origin}: symlink "${path}" -> "${node.target}" ${escape}; refusing the pull (nothing was placed)`
        : `the destination's symlink "${path}" -> "${node.target}" ${escape} once this pull's entries are placed; refusing the pull (nothing was placed); remove that symlink or pull into an empty folder`,
    );
  }
  return place;
}
