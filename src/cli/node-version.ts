// The Node.js version check that runs before anything else in bin.ts. This module is loaded on
// whatever Node the user has, so it imports nothing and uses only syntax old Node parses: the rest
// of the CLI needs Node 24 APIs (module.enableCompileCache, ...), and without this check an old
// Node fails with a SyntaxError about a missing export instead of saying what to do.

/** The oldest Node.js major version the CLI runs on (package.json engines: >=24). */
export const MIN_NODE_MAJOR = 24;

/**
 * undefined when `version` (process.versions.node, e.g. "20.20.2") is new enough; otherwise the
 * one line to print: what is needed, what this is, and how to get it. `script` is the path of
 * bin.js, so the suggested command runs this very CLI.
 */
export function nodeVersionProblem(version: string, script: string): string | undefined {
  const major = Number.parseInt(version.split(".")[0] ?? "", 10);
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return undefined;
  return (
    `modelpack-operator needs Node.js ${MIN_NODE_MAJOR} or newer, but this is Node.js ${version}: ` +
    `install Node.js ${MIN_NODE_MAJOR}, or run it with npm's node package: ` +
    `npx -y node@${MIN_NODE_MAJOR} ${script} <command> (in a checkout, npm run cli -- <command> uses the pinned Node ${MIN_NODE_MAJOR})`
  );
}
