/**
 * `harness up/status/down` end to end, in a private state folder (HARNESS_STATE_DIR) so that it
 * never touches a developer's `.harness/`.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isProcessAlive } from "./process.js";
import { HarnessState } from "./state.js";
import { ensureTools } from "./tools.js";

const CLI = fileURLToPath(new URL("./cli.ts", import.meta.url));
let stateDir = "";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(command, args, { env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const harness = (...args: string[]): Promise<Result> =>
  run(process.execPath, ["--import", "tsx", CLI, ...args], { HARNESS_STATE_DIR: stateDir });

describe("npm run harness -- up | status | down", () => {
  beforeAll(async () => {
    await ensureTools(["kubernetes", "etcd", "kwok"]);
    stateDir = await mkdtemp(join(tmpdir(), "harness-cli-test-"));
  }, 45 * 60_000);

  afterAll(async () => {
    await harness("down"); // in case a test failed half-way
    await rm(stateDir, { recursive: true, force: true });
  });

  test("up starts a detached control plane that kubectl can use; down stops it", async () => {
    const up = await harness("up", "--full", "--nodes", "1", "--feature-gates", "ImageVolume=false");
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(
      /control plane v1\.35\.8 is up at https:\/\/127\.0\.0\.1:\d+ \(took [\d.]+ s\)/,
    );
    expect(up.stdout).toContain(`export KUBECONFIG=${join(stateDir, "kubeconfig")}`);
    console.log(`harness up --full (warm): ${/\(took ([\d.]+ s)\)/.exec(up.stdout)?.[1]}`);

    const state = HarnessState.parse(JSON.parse(await readFile(join(stateDir, "state.json"), "utf8")));
    expect(state.components.map((c) => c.name)).toEqual([
      "etcd",
      "kube-apiserver",
      "kube-controller-manager",
      "kube-scheduler",
      "kwok",
    ]);
    // `up` has exited, and the components are still there.
    expect(state.components.every((c) => isProcessAlive(c.pid, c.startTime))).toBe(true);

    const nodes = await run("kubectl", ["--kubeconfig", state.kubeconfigPath, "get", "nodes", "-o", "name"]);
    expect(nodes.stdout.trim()).toBe("node/kwok-node-0");

    const status = await harness("status");
    expect(status.code).toBe(0);
    expect(status.stdout).toContain("/readyz: ok; version v1.35.8");
    expect(status.stdout).toContain("feature gates: ImageVolume=false");

    const again = await harness("up");
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already running");

    const down = await harness("down");
    expect(down.code).toBe(0);
    expect(state.components.every((c) => !isProcessAlive(c.pid, c.startTime))).toBe(true);
    expect(existsSync(join(stateDir, "state.json"))).toBe(false);
    expect(existsSync(join(stateDir, "control-plane", "logs", "kube-apiserver.log"))).toBe(true);

    const after = await harness("status");
    expect(after.code).toBe(1);
    expect(after.stdout).toContain("not running");
  });

  test("rejects bad arguments with usage and exit code 2", async () => {
    const bad = await harness("up", "--feature-gates", "ImageVolume");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("'ImageVolume' is not Name=true|false");
    expect((await harness("frobnicate")).code).toBe(2);
  });
});
