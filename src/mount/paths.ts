/**
 * Mount paths and sub paths: normalising them and telling when two of them collide.
 * Paths use `/` only (Linux containers).
 */

/**
 * The normalised absolute mount path (`//` collapsed, `.` segments and a trailing `/` removed),
 * or an explanation of why `path` cannot be a model's mount path: it must be absolute, must not
 * be `/` and must not contain `..`.
 */
export function normaliseMountPath(path: string): { path: string } | { problem: string } {
  if (!path.startsWith("/")) return { problem: `mount path "${path}" is not absolute` };
  const segments = path.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) return { problem: `mount path "${path}" contains ".."` };
  if (segments.length === 0) return { problem: `mount path "${path}" is the container's root` };
  return { path: `/${segments.join("/")}` };
}

/**
 * The normalised sub path (no leading `./`, no `//`, no trailing `/`; "" when empty, meaning the
 * whole model), or why it cannot be one: it must be relative and must not contain `..`.
 */
export function normaliseSubPath(subPath: string): { subPath: string } | { problem: string } {
  if (subPath.startsWith("/"))
    return { problem: `sub path "${subPath}" is absolute; it must be relative to the model` };
  const segments = subPath.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) return { problem: `sub path "${subPath}" contains ".."` };
  return { subPath: segments.join("/") };
}

/** Whether `inner` is `outer` or lies below it. Both must be normalised absolute paths. */
export function isSameOrInside(inner: string, outer: string): boolean {
  return inner === outer || outer === "/" || inner.startsWith(`${outer}/`);
}

/** Whether one of two normalised absolute paths is the other or lies below it. */
export const pathsOverlap = (a: string, b: string): boolean => isSameOrInside(a, b) || isSameOrInside(b, a);

/**
 * Best-effort normalisation of a mount path found in a pod (it was validated by the apiserver,
 * not by us): like normaliseMountPath but never fails; `/` stays `/`.
 */
export function normalisePodPath(path: string): string {
  // Most paths are already normal; checking is cheaper than splitting (admission hot path).
  if (
    path.length > 1 &&
    path.charCodeAt(0) === 47 &&
    !path.endsWith("/") &&
    !path.includes("//") &&
    !path.includes("/.")
  ) {
    return path;
  }
  const segments = path.split("/").filter((s) => s !== "" && s !== ".");
  return `/${segments.join("/")}`;
}
