/**
 * Long-running child processes of the harness: each in its own process group with its output in a
 * log file, stopped by group (SIGTERM, then SIGKILL after a grace period), and guarded so that none
 * outlives the Node process that started it (exit/signal hooks, plus a watchdog for SIGKILL).
 */
import { spawn, type ChildProcess } from "node:child_process";
import {
  closeSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { appendFile, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { HarnessError } from "./errors.js";

/** How to start one component. */
export interface ProcessSpec {
  /** Short name used in logs and errors, e.g. `kube-apiserver`. */
  name: string;
  command: string;
  args: readonly string[];
  /** stdout and stderr are appended here; the first line records the command line. */
  logPath: string;
  env?: NodeJS.ProcessEnv;
}

/** A started component. `pid` is also its process-group id (it was spawned detached). */
export interface RunningProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Start time from /proc/<pid>/stat, so a later `down` never signals a recycled pid. */
  readonly startTime: string | undefined;
  /** Settles when the process exits; never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** Set once the process has exited. */
  exitInfo(): ExitInfo | undefined;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** How long `stopProcessGroup` waits after SIGTERM before it sends SIGKILL. */
export const DEFAULT_STOP_GRACE_MS = 5_000;

/**
 * Spawns `spec` detached (its own process group, no terminal), stdout+stderr to `spec.logPath`.
 * The child is unref'd: it does not keep the Node event loop alive. Resolves once the process
 * exists; throws HarnessError `component-exited` if it cannot be started (e.g. binary missing).
 */
export async function spawnProcess(spec: ProcessSpec): Promise<RunningProcess> {
  writeFileSync(spec.logPath, `# ${new Date().toISOString()} ${spec.command} ${spec.args.join(" ")}\n`, {
    flag: "a",
  });
  const fd = openSync(spec.logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: spec.env ?? process.env,
    });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  let exit: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (err) =>
      reject(
        new HarnessError("component-exited", `cannot start ${spec.name} (${spec.command}): ${err.message}`, {
          cause: err,
          logPath: spec.logPath,
        }),
      ),
    );
  });
  const pid = child.pid;
  if (pid === undefined) throw new HarnessError("component-exited", `${spec.name} started without a pid`);
  child.unref();
  return {
    name: spec.name,
    pid,
    logPath: spec.logPath,
    startTime: processStartTime(pid),
    exited,
    exitInfo: () => exit,
  };
}

/**
 * Stops the process group `pgid`: SIGTERM, then SIGKILL once `graceMs` has passed, then waits up to
 * 2 s more for the group to vanish. Returns whether SIGKILL was needed. Never throws: a group that
 * is already gone counts as stopped.
 */
export async function stopProcessGroup(
  pgid: number,
  graceMs = DEFAULT_STOP_GRACE_MS,
): Promise<"term" | "kill"> {
  if (!signalGroup(pgid, "SIGTERM")) return "term";
  if (await waitForGroupExit(pgid, graceMs)) return "term";
  signalGroup(pgid, "SIGKILL");
  await waitForGroupExit(pgid, 2_000);
  return "kill";
}

/** Sends `signal` to every process in group `pgid`; false if the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

async function waitForGroupExit(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!groupHasLiveMembers(pgid)) return true;
    await sleep(50);
  }
  return !groupHasLiveMembers(pgid);
}

// kill(-pgid, 0) also succeeds while a member is a zombie nobody has reaped yet (e.g. processes a
// `down` found reparented to init), so the group counts as gone once no member is alive in /proc.
function groupHasLiveMembers(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return true; // no /proc: trust kill(2)
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat !== undefined && stat.fields[2] === String(pgid) && stat.state !== "Z") return true;
  }
  return false;
}

/** The start time (clock ticks since boot) of `pid` from /proc, or undefined if it is not running. */
export function processStartTime(pid: number): string | undefined {
  const stat = readProcStat(pid);
  return stat?.fields[19]; // field 22 of stat(5); fields[] starts at field 3, after "(comm)"
}

/**
 * True if `pid` runs and is not a zombie; with `startTime`, also that it is the same process that
 * was recorded (pids are recycled).
 */
export function isProcessAlive(pid: number, startTime?: string): boolean {
  const stat = readProcStat(pid);
  if (stat === undefined || stat.state === "Z") return false;
  return startTime === undefined || stat.fields[19] === startTime;
}

function readProcStat(pid: number): { state: string; fields: string[] } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses; it ends at the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "", fields };
}

/**
 * The last `lines` lines of a log file ("" if it does not exist). Reads at most the last 256 KiB,
 * synchronously, so it works in exit hooks and failure reporters.
 */
export function readLogTail(path: string, lines: number): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return "";
  }
  try {
    const size = statSync(path).size;
    const length = Math.min(size, 256 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const all = buffer.toString("utf8").split("\n");
    if (all.at(-1) === "") all.pop();
    return all.slice(-lines).join("\n");
  } finally {
    closeSync(fd);
  }
}

// Exit hooks are process-wide by nature, so this registry is the harness's one piece of module
// state. Everything in it is killed synchronously when the process exits or gets SIGINT/SIGTERM.
const guardedGroups = new Set<number>();
const guardedDirs = new Set<string>();
let hooksInstalled = false;

/**
 * Makes sure process group `pgid` is SIGKILLed if this Node process exits (normally, by an
 * uncaught error, or by SIGINT/SIGTERM/SIGHUP) before `release()` is called.
 */
export function guardProcessGroup(pgid: number): () => void {
  installExitHooks();
  guardedGroups.add(pgid);
  return () => guardedGroups.delete(pgid);
}

/** Removes `dir` when the process exits, unless `release()` was called first. */
export function guardDirectory(dir: string): () => void {
  installExitHooks();
  guardedDirs.add(dir);
  return () => guardedDirs.delete(dir);
}

function killEverythingNow(): void {
  for (const pgid of guardedGroups) signalGroup(pgid, "SIGKILL");
  guardedGroups.clear();
  for (const dir of guardedDirs) rmSync(dir, { recursive: true, force: true });
  guardedDirs.clear();
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", killEverythingNow);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      killEverythingNow();
      // Listening for a signal disables Node's default exit; re-raise it once we are out of the
      // way so the exit status still says which signal ended the process.
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/**
 * A watchdog for the case no hook can cover: this Node process dies by SIGKILL or crashes hard
 * (e.g. a test runner killing its worker). A detached `bash` polls our pid once a second; when we are
 * gone it SIGKILLs every process group listed in `listPath` and removes `dirToRemove`, if given.
 * It exits quietly when `listPath` is removed, which `dispose()` does on an orderly stop.
 */
export class OrphanWatchdog {
  readonly #listPath: string;
  readonly #pid: number | undefined;

  constructor(listPath: string, dirToRemove?: string) {
    this.#listPath = listPath;
    writeFileSync(listPath, "");
    const script = [
      'while kill -0 "$1" 2>/dev/null && [ -f "$2" ]; do sleep 1; done',
      '[ -f "$2" ] || exit 0',
      'for g in $(cat "$2"); do kill -KILL -- "-$g" 2>/dev/null; done',
      'if [ -n "$3" ]; then sleep 1; rm -rf -- "$3"; fi',
    ].join("\n");
    const args = [String(process.pid), listPath, dirToRemove ?? ""];
    // bash, not sh: dash's kill builtin cannot signal a process group ("kill -KILL -- -PGID").
    const child = spawn("bash", ["-c", script, "harness-watchdog", ...args], {
      detached: true,
      stdio: "ignore",
      cwd: "/",
    });
    child.on("error", () => undefined); // without bash we only lose the SIGKILL safety net
    child.unref();
    this.#pid = child.pid;
  }

  /** Adds a process group to kill if this process dies. */
  async watch(pgid: number): Promise<void> {
    await appendFile(this.#listPath, `${pgid}\n`);
  }

  /** Stops watching (call before stopping the groups yourself). Idempotent. */
  async dispose(): Promise<void> {
    await rm(this.#listPath, { force: true });
    if (this.#pid !== undefined && signalGroup(this.#pid, "SIGKILL")) {
      // Wait until it is gone, so "nothing left running" holds the moment stop() returns.
      await waitForGroupExit(this.#pid, 2_000);
    }
  }
}
