/**
 * The packages `npm prune --omit=dev` keeps, read from package-lock.json: every top-level
 * `node_modules/<name>` entry that is neither dev-only nor a link (nested `node_modules` of a kept
 * package go with it). Shared by the image builder and the tests that check the image.
 */
import { z } from "zod";

const PackageLock = z.object({
  lockfileVersion: z.number().int().min(2),
  packages: z.record(
    z.string(),
    z.looseObject({ dev: z.boolean().optional(), link: z.boolean().optional() }),
  ),
});

/**
 * The top-level package folders (`@scope/name` or `name`) a production install keeps, sorted.
 * Throws when `lockText` is not a lockfile v2/v3 (npm 7 and later), naming the fix.
 */
export function productionPackages(lockText: string): string[] {
  const parsed = PackageLock.safeParse(JSON.parse(lockText));
  if (!parsed.success)
    throw new Error(
      `package-lock.json is not an npm lockfile v2 or v3 (${parsed.error.issues[0]?.message ?? "unknown"}); regenerate it with npm 7 or later`,
    );
  return Object.entries(parsed.data.packages)
    .filter(
      ([path, meta]) =>
        path.startsWith("node_modules/") &&
        path.split("node_modules/").length === 2 &&
        meta.dev !== true &&
        meta.link !== true,
    )
    .map(([path]) => path.slice("node_modules/".length))
    .sort();
}
