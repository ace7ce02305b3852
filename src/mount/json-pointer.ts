/** RFC 6901 JSON Pointers. */

/** Escapes one reference token: `~` → `~0`, then `/` → `~1` (annotation keys contain `/`). */
export const escapePointerToken = (token: string): string => token.replace(/~/g, "~0").replace(/\//g, "~1");

/** Reverses escapePointerToken: `~1` → `/`, then `~0` → `~`. */
export const unescapePointerToken = (token: string): string => token.replace(/~1/g, "/").replace(/~0/g, "~");

/** The pointer to `tokens` from the document root, each token escaped: `pointer("a", "b/c")` is `/a/b~1c`. */
export const pointer = (...tokens: readonly (string | number)[]): string =>
  tokens.map((t) => `/${escapePointerToken(String(t))}`).join("");

/** Splits a pointer into its unescaped tokens. Throws on a pointer that is neither "" nor starts with `/`. */
export function parsePointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw new SyntaxError(`JSON Pointer "${path}" must be empty or start with "/"`);
  return path.slice(1).split("/").map(unescapePointerToken);
}
