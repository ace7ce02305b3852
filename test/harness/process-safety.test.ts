/**
 * Components never outlive the process that started them: SIGINT (and SIGTERM/SIGHUP, same
 * handler) is handled by the exit hooks, SIGKILL (which no hook sees) by the watchdog. Each case
 * starts a control plane in a child Node process and kills that process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, test } from "vitest";
import { z } from "zod";
import { isProcessAlive } from "./process.js";
import { ensureTools } from "./tools.js";
import { waitFor } from "./testing.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/start-and-wait.ts", import.meta.url));
const Started = z.object({ dir: z.string(), pids: z.array(z.number()) });

interface StartedChild {
  child: ChildProcess;
  started: z.infer<typeof Started>;
  exited: Promise<NodeJS.Signals | number | null>;
}

/** Runs the fixture under the same Node (with tsx) and resolves once its control plane is up. */
async function startChild(): Promise<StartedChild> {
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.once("exit", (code, signal) => resolve(signal ?? code)),
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const line = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.includes("\n")) resolve(stdout.split("\n")[0] ?? "");
    });
    void exited.then((how) => reject(new Error(`fixture exited (${how}) before starting:\n${stderr}`)));
  });
  return { child, started: Started.parse(JSON.parse(line)), exited };
}

describe("components do not outlive the harness process", () => {
  beforeAll(async () => {
    await ensureTools(["kubernetes", "etcd"]);
  }, 45 * 60_000);

  test.each(["SIGINT", "SIGKILL"] as const)(
    "%s to the test process stops every component and removes the folder",
    async (signal) => {
      const { child, started, exited } = await startChild();
      expect(started.pids).toHaveLength(2);
      expect(started.pids.every((pid) => isProcessAlive(pid))).toBe(true);
      expect(existsSync(started.dir)).toBe(true);

      child.kill(signal);
      expect(await exited).toBe(signal); // the hooks re-raise the signal, so the exit status still says it
      await waitFor(
        "components to be gone",
        async () => (started.pids.every((pid) => !isProcessAlive(pid)) ? true : undefined),
        { timeoutMs: 10_000 },
      );
      await waitFor("the folder to be removed", async () => (existsSync(started.dir) ? undefined : true), {
        timeoutMs: 10_000,
      });
    },
  );
});
