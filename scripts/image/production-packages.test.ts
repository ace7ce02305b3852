import { describe, expect, it } from "vitest";
import { productionPackages } from "./production-packages.js";

describe("productionPackages", () => {
  const lock = (packages: Record<string, unknown>) =>
    JSON.stringify({ name: "x", lockfileVersion: 3, packages });

  it.each([
    [
      "keeps top-level production packages, sorted",
      { "node_modules/zod": {}, "node_modules/@a/b": {} },
      ["@a/b", "zod"],
    ],
    ["drops dev-only packages", { "node_modules/vitest": { dev: true }, "node_modules/zod": {} }, ["zod"]],
    ["drops links (workspaces)", { "node_modules/local": { link: true } }, []],
    [
      "keeps devOptional (npm keeps them with --omit=dev)",
      { "node_modules/fsevents": { devOptional: true } },
      ["fsevents"],
    ],
    [
      "skips nested packages (they go with their parent)",
      { "node_modules/a/node_modules/b": {}, "node_modules/a": {} },
      ["a"],
    ],
    ["skips the root package", { "": { name: "x" } }, []],
  ])("%s", (_name, packages, expected) => {
    expect(productionPackages(lock(packages))).toEqual(expected);
  });

  it("refuses a lockfile v1 with the fix", () => {
    expect(() => productionPackages(JSON.stringify({ lockfileVersion: 1, dependencies: {} }))).toThrow(
      /npm 7 or later/,
    );
  });
});
