/**
 * The built CLI on an old Node: bin.js and the module it loads first are emitted from src/cli the
 * way `npm run build` emits them (TypeScript with the project's compiler options, one file at a
 * time), then run with the machine's own older Node when it has one (/usr/bin/node, e.g. Debian's
 * Node 20) and with the project's pinned Node 24. On the old Node the CLI must print one line
 * naming Node 24 and how to get it, and exit 2, before it loads anything that needs Node 24.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { NODE, ROOT, run } from "../shipping/support.js";

const SYSTEM_NODE = "/usr/bin/node";
const systemNodeMajor = existsSync(SYSTEM_NODE)
  ? Number(
      execFileSync(SYSTEM_NODE, ["-p", "process.versions.node.split('.')[0]"], { encoding: "utf8" }).trim(),
    )
  : undefined;

const out = mkdtempSync(join(tmpdir(), "mpo-node-version-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Emits src/cli/<name>.ts into out/ as tsc would, with tsconfig.json's compiler options. */
function emit(name: string): void {
  const config = ts.readConfigFile(join(ROOT, "tsconfig.json"), (path) => ts.sys.readFile(path));
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const source = readFileSync(join(ROOT, "src", "cli", `${name}.ts`), "utf8");
  // package.json says "type": "module", so tsc's NodeNext emits ES modules; one file alone does
  // not know that, hence ESNext here.
  const compilerOptions = { ...options, module: ts.ModuleKind.ESNext };
  const { outputText } = ts.transpileModule(source, { compilerOptions, fileName: `${name}.ts` });
  writeFileSync(join(out, `${name}.js`), outputText);
}
emit("bin");
emit("node-version");
writeFileSync(join(out, "package.json"), JSON.stringify({ type: "module" }));
const BIN = join(out, "bin.js");

describe("the built CLI checks the Node version first", () => {
  it.skipIf(systemNodeMajor === undefined || systemNodeMajor >= 24)(
    `on ${SYSTEM_NODE} (Node ${systemNodeMajor ?? "absent"}) prints one line naming Node 24 and how to get it, exit 2`,
    async () => {
      const result = await run(SYSTEM_NODE, [BIN, "inspect", "--help"]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).not.toContain("SyntaxError");
      const lines = result.stderr.trimEnd().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^modelpack-operator needs Node\.js 24 or newer, but this is Node\.js \d+\.\d+\.\d+: /,
      );
      expect(lines[0]).toContain(`npx -y node@24 ${BIN} <command>`);
    },
  );

  it("on the pinned Node 24 passes the check and goes on to load the CLI", async () => {
    // Only bin.js and its version check were emitted: reaching the import of main.js proves the
    // check let Node 24 through.
    const result = await run(NODE, [BIN, "--help"]);
    expect(result.stderr).not.toContain("needs Node.js");
    expect(result.stderr).toMatch(/Cannot find module .*main\.js/);
  });
});
