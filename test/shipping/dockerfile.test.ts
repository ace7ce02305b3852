/**
 * The Dockerfile's invariants, checked without a container engine (none runs here): multi-stage on
 * a pinned official Node 24 base, a final stage with no shell instructions, a numeric non-root USER,
 * the exec-form ENTRYPOINT the tests in image-layout.test.ts run, OCI labels, no remote ADD, and a
 * .dockerignore that sends exactly what the build COPYs.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDockerfile, type Instruction } from "./image-support.js";
import { read, ROOT } from "./support.js";

const dockerfile = parseDockerfile(read(join(ROOT, "Dockerfile")));
const stages: Instruction[][] = [];
for (const instruction of dockerfile) {
  if (instruction.keyword === "FROM") stages.push([]);
  stages.at(-1)?.push(instruction);
}
const final = stages.at(-1) ?? [];
const args = new Map(
  dockerfile
    .filter((i) => i.keyword === "ARG" && i.args.includes("="))
    .map((i) => [i.args.split("=")[0] ?? "", i.args.slice(i.args.indexOf("=") + 1)]),
);
const expand = (value: string): string =>
  value.replace(/\$\{(\w+)\}/g, (_, name: string) => expand(args.get(name) ?? ""));

describe("Dockerfile", () => {
  it("is multi-stage, building on a pinned official Node 24 image", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const bases = dockerfile
      .filter((i) => i.keyword === "FROM")
      .map((i) => expand(i.args.split(/\s+/)[0] ?? ""));
    const external = bases.filter(
      (b) =>
        b !== "scratch" &&
        !stages.some((_, n) => dockerfile.filter((i) => i.keyword === "FROM")[n]?.args.endsWith(` AS ${b}`)),
    );
    expect(external.length).toBeGreaterThan(0);
    for (const base of external)
      expect(base, "a pinned node:24.x.y tag").toMatch(/^node:24\.\d+\.\d+-[a-z]+(-slim)?$/);
    // Node in the image is the Node the tests run (devDependency `node`).
    const pkg = JSON.parse(read(join(ROOT, "package.json"))) as { devDependencies: Record<string, string> };
    expect(args.get("NODE_VERSION")).toBe(pkg.devDependencies.node?.replace(/^\^/, ""));
  });

  it("builds with npm ci and npm run build, then keeps production dependencies only", () => {
    const runs = dockerfile
      .filter((i) => i.keyword === "RUN")
      .map((i) => i.args)
      .join("\n");
    expect(runs).toMatch(/npm ci\b/);
    expect(runs).toMatch(/npm run build\b/);
    expect(runs).toMatch(/npm prune --omit=dev\b/);
  });

  it("has a final stage without a shell: no RUN, numeric non-root USER, exec-form ENTRYPOINT", () => {
    expect(final[0]?.args).toMatch(/^scratch\b/);
    expect(final.filter((i) => i.keyword === "RUN")).toEqual([]);
    const user = final.filter((i) => i.keyword === "USER").at(-1)?.args;
    expect(user).toBe("65532:65532");
    const entrypoint = final.filter((i) => i.keyword === "ENTRYPOINT").at(-1)?.args ?? "";
    expect(JSON.parse(entrypoint)).toEqual(["node", "--max-semi-space-size=2", "/app/dist/src/cli/bin.js"]);
    for (const i of final.filter((x) => x.keyword === "CMD"))
      expect(() => JSON.parse(i.args) as unknown, "exec-form CMD").not.toThrow();
    // The runtime image holds only compiled output, production node_modules and package.json.
    const copies = final.filter((i) => i.keyword === "COPY").map((i) => i.args);
    expect(copies).toEqual(["--from=rootfs /rootfs/ /", "--from=build --chown=0:0 /out/app/ /app/"]);
  });

  it("uses the same node flag as the bin's shebang", () => {
    const shebang = read(join(ROOT, "src", "cli", "bin.ts")).split("\n")[0];
    expect(shebang).toBe("#!/usr/bin/env -S node --max-semi-space-size=2");
  });

  it("carries the OCI labels", () => {
    const labels = final
      .filter((i) => i.keyword === "LABEL")
      .map((i) => i.args)
      .join(" ");
    for (const name of ["title", "description", "licenses", "version", "revision", "created"])
      expect(labels).toContain(`org.opencontainers.image.${name}=`);
    const pkg = JSON.parse(read(join(ROOT, "package.json"))) as { version: string; license: string };
    expect(labels).toContain(`org.opencontainers.image.licenses="${pkg.license}"`);
    expect(args.get("VERSION")).toBe(pkg.version);
  });

  it("never ADDs (no remote URLs, no implicit extraction) and uses no latest tag", () => {
    expect(dockerfile.filter((i) => i.keyword === "ADD")).toEqual([]);
    expect(dockerfile.map((i) => i.args).join("\n")).not.toMatch(/:latest\b/);
    for (const i of dockerfile)
      expect(
        ["FROM", "ARG", "WORKDIR", "ENV", "COPY", "RUN", "LABEL", "USER", "EXPOSE", "ENTRYPOINT", "CMD"],
        `line ${i.line}`,
      ).toContain(i.keyword);
  });

  it("exposes the probe/metrics and webhook ports the manifests use", () => {
    expect(final.find((i) => i.keyword === "EXPOSE")?.args.split(/\s+/)).toEqual(["8081", "9443"]);
  });

  it("has a .dockerignore that sends exactly what the build COPYs", () => {
    const ignore = read(join(ROOT, ".dockerignore"))
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("#"));
    expect(ignore[0]).toBe("**");
    const included = ignore.filter((l) => l.startsWith("!")).map((l) => l.slice(1).replace(/\/$/, ""));
    const copied = dockerfile
      .filter((i) => i.keyword === "COPY" && !i.args.startsWith("--from"))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1))
      .map((p) => p.replace(/^\.\//, "").replace(/\/$/, ""));
    expect(new Set(included)).toEqual(new Set(copied));
  });
});
