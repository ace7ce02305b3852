import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";

/** A free TCP port on 127.0.0.1 (bound and released; good enough for tests on one machine). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const running = new Set<ChildProcess>();
let hooked = false;
function killAll(): void {
  for (const child of running) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** A child process in its own process group, logging to a file, killed when this process exits. */
export interface ManagedProcess {
  readonly child: ChildProcess;
  readonly logPath: string;
  /** The last lines of its log, for failure messages. */
  logTail(lines?: number): Promise<string>;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once it exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export function startProcess(command: string, args: readonly string[], logPath: string, env?: NodeJS.ProcessEnv): ManagedProcess {
  if (!hooked) {
    hooked = true;
    process.on("exit", killAll);
  }
  const log = createWriteStream(logPath, { flags: "a" });
  const child = spawn(command, args, { detached: true, stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  running.add(child);
  const exited = new Promise<void>((resolve) => {
    child.on("exit", () => {
      running.delete(child);
      resolve();
    });
    child.on("error", () => {
      running.delete(child);
      resolve();
    });
  });
  return {
    child,
    logPath,
    async logTail(lines = 40) {
      const text = await readFile(logPath, "utf8").catch(() => "");
      return text.split("\n").slice(-lines).join("\n");
    },
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return exited;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        return exited;
      }
      const timer = setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
        } catch {
          // gone
        }
      }, graceMs);
      await exited;
      clearTimeout(timer);
      log.end();
    },
  };
}

/** Polls `check` until it returns true, or throws with `describe()` after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, describe: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(await describe());
    await new Promise((r) => setTimeout(r, 100));
  }
}
