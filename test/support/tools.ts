import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const buildScript = join(dirname(fileURLToPath(import.meta.url)), "..", "harness", "build-tools.sh");

/**
 * The folder holding a Go-built test tool (olareg, oras, modctl, helm, …), building it on first
 * use through test/harness/build-tools.sh (cached outside git; instant when warm).
 */
export function ensureTool(tool: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile("bash", [buildScript, tool], { maxBuffer: 1024 * 1024 }, (err, stdout) => {
      if (err) reject(new Error(`building test tool ${tool} failed: ${err.message}`));
      else resolve(stdout.trim().split("\n").at(-1) ?? "");
    });
    child.stderr?.pipe(process.stderr);
  });
}
