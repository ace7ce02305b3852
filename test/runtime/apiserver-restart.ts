/**
 * Restarts the kube-apiserver of a harness control plane on the same port and the same etcd, so
 * clients see a real apiserver restart: connections reset, refused while it is down, then a new
 * process (with a fresh watch cache) behind the same URL and certificates.
 *
 * The harness has no API for this (ControlPlane offers only stop()), so this helper reuses the
 * command line the harness wrote as the first line of the apiserver's log, and the harness's own
 * process helpers. The new process is guarded to die with the test process; call `stop()` on the
 * returned handle before `plane.stop()`, which only knows the original process.
 */
import { readFileSync } from "node:fs";
import type { ControlPlane } from "../harness/index.js";
import {
  guardProcessGroup,
  spawnProcess,
  stopProcessGroup,
  type RunningProcess,
} from "../harness/process.js";
import { waitForReadyz } from "../harness/readiness.js";

export interface RestartedApiserver {
  /** Stops the replacement process (idempotent). */
  stop(): Promise<void>;
}

/**
 * Stops the running kube-apiserver, waits `downMs`, starts it again with the same arguments and
 * resolves once it answers /readyz.
 */
export async function restartApiserver(
  plane: ControlPlane,
  options: { downMs?: number; previous?: RestartedApiserver & { pid: number } } = {},
): Promise<RestartedApiserver & { pid: number }> {
  const info = plane.components.find((c) => c.name === "kube-apiserver");
  if (!info) throw new Error("the control plane has no kube-apiserver");
  const firstLine = readFileSync(info.logPath, "utf8").split("\n", 1)[0] ?? "";
  const [hash, _startedAt, command, ...args] = firstLine.split(" ");
  if (hash !== "#" || !command?.endsWith("kube-apiserver")) {
    throw new Error(
      `cannot read the apiserver command line from ${info.logPath}: "${firstLine.slice(0, 80)}"`,
    );
  }
  await stopProcessGroup(options.previous?.pid ?? info.pid);
  await new Promise((resolve) => setTimeout(resolve, options.downMs ?? 0));
  const proc: RunningProcess = await spawnProcess({
    name: "kube-apiserver",
    command,
    args,
    logPath: info.logPath,
  });
  const release = guardProcessGroup(proc.pid);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= stopProcessGroup(proc.pid).then(() => {
      release();
    }));
  try {
    await waitForReadyz(plane.server, plane.caPem, [proc], 90_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: proc.pid, stop };
}
