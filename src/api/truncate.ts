/**
 * Cuts `text` to at most `max` UTF-16 code units, ending with "…" when something was cut, and
 * never splits a surrogate pair. Counting UTF-16 units satisfies both zod's `.max()` (which counts
 * them) and the apiserver's maxLength (which counts code points, never more than the units).
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = "";
  for (const codePoint of text) {
    if (out.length + codePoint.length > max - 1) break;
    out += codePoint;
  }
  return `${out}…`;
}
