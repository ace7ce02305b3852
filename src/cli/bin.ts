#!/usr/bin/env -S node --max-semi-space-size=2
import { nodeVersionProblem } from "./node-version.js";

// First the Node version: every other import is dynamic, so an old Node reaches this check
// instead of failing to link a missing export (enableCompileCache is Node >= 22.1). Exit 2, like
// any usage error.
const problem = nodeVersionProblem(process.versions.node, process.argv[1] ?? "bin.js");
if (problem !== undefined) {
  process.stderr.write(problem + "\n");
  process.exit(2);
}
const { enableCompileCache } = await import("node:module");

// V8's compile cache (in $NODE_COMPILE_CACHE, else the temp folder) keeps the bytecode of the
// modules a command loads, so `pull` reaches its first request sooner: time an init container
// spends before its first byte (figures: the README's benchmark section). A cache that cannot be
// written (read-only root) is skipped.
enableCompileCache();
const { main } = await import("./main.js");

// The process entry point: wiring only. A small young generation (--max-semi-space-size=2, in MiB)
// keeps the operator's RSS low with many ModelDeployments and costs no measurable speed
// (npm run bench; figures in the README's benchmark section); the container image runs node with the same flag. Ctrl-C / SIGTERM abort the running command, which
// cleans up its partial files before exiting.
const controller = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => controller.abort(new Error(`interrupted by ${signal}`)));
}
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
});

// The command is done. Whatever might still hold the event loop (a socket or thread some library
// left open) must not keep an init container, and so its pod, waiting forever: exit after a
// grace period that lets buffered output drain. Unref'd, so a clean exit is not delayed by it.
const EXIT_GRACE_MS = 5_000;
setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
