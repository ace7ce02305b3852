#!/usr/bin/env node
import { main } from "./main.js";

// The process entry point: wiring only. Ctrl-C / SIGTERM abort the running command, which
// cleans up its partial files before exiting.
const controller = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => controller.abort(new Error(`interrupted by ${signal}`)));
}
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal });
