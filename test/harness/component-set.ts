/**
 * The processes of one control plane: launched into `<logsDir>/<component>.log`, guarded so they
 * die with this Node process (until `detach()`), and stopped clients-first.
 */
import { join } from "node:path";
import { COMPONENT_NAMES, STOP_ORDER, type CommandLine, type ComponentName } from "./components.js";
import {
  OrphanWatchdog,
  guardProcessGroup,
  readLogTail,
  spawnProcess,
  stopProcessGroup,
  type RunningProcess,
} from "./process.js";

/** One running component, as recorded for `harness status`/`down`. */
export interface ComponentInfo {
  readonly name: ComponentName;
  /** Also the process-group id. */
  readonly pid: number;
  /** From /proc/<pid>/stat; guards against signalling a recycled pid later. */
  readonly startTime: string | undefined;
  /** The component's own listening port (etcd: the client port), if it has one. */
  readonly port: number | undefined;
  readonly logPath: string;
}

export interface ComponentSetOptions {
  logsDir: string;
  /** File the orphan watchdog reads the process groups from. */
  watchdogListPath: string;
  /** Removed by the watchdog too if this process dies by SIGKILL (a temporary folder). */
  removeOnOrphan?: string;
}

export class ComponentSet {
  /** Invariant: exactly the launched components not yet stopped. */
  readonly #running = new Map<ComponentName, RunningProcess>();
  /** Every component ever launched; kept after stop so log tails stay readable. */
  readonly #logPaths = new Map<ComponentName, string>();
  readonly #ports = new Map<ComponentName, number>();
  /** Undo functions of the exit guards; run by detach() and stopAll(). */
  readonly #releases: (() => void)[] = [];
  readonly #watchdog: OrphanWatchdog;
  readonly #logsDir: string;

  constructor(options: ComponentSetOptions) {
    this.#logsDir = options.logsDir;
    this.#watchdog = new OrphanWatchdog(options.watchdogListPath, options.removeOnOrphan);
  }

  /** Starts `name` (replacing nothing: stop a previous instance first). Throws if it cannot be spawned. */
  async launch(name: ComponentName, commandLine: CommandLine, port?: number): Promise<RunningProcess> {
    const proc = await spawnProcess({ name, ...commandLine, logPath: join(this.#logsDir, `${name}.log`) });
    this.#running.set(name, proc);
    this.#logPaths.set(name, proc.logPath);
    if (port === undefined) this.#ports.delete(name);
    else this.#ports.set(name, port);
    this.#releases.push(guardProcessGroup(proc.pid));
    await this.#watchdog.watch(proc.pid);
    return proc;
  }

  /** Registers one more thing to undo at detach()/stopAll(), e.g. a folder's exit guard. */
  onRelease(release: () => void): void {
    this.#releases.push(release);
  }

  get(name: ComponentName): RunningProcess | undefined {
    return this.#running.get(name);
  }

  /** Stops the named components in parallel (SIGTERM, SIGKILL after the grace period). */
  async stop(names: readonly ComponentName[]): Promise<void> {
    await Promise.all(
      names.map(async (name) => {
        const proc = this.#running.get(name);
        this.#running.delete(name);
        if (proc) await stopProcessGroup(proc.pid);
      }),
    );
  }

  /** Stops everything in STOP_ORDER and drops the exit guards. Never throws. */
  async stopAll(): Promise<void> {
    await this.#watchdog.dispose();
    for (const group of STOP_ORDER) await this.stop(group);
    this.#release();
  }

  /** Lets the running components outlive this process: no exit guards, no watchdog. */
  async detach(): Promise<void> {
    await this.#watchdog.dispose();
    this.#release();
  }

  /** The running components in start order. */
  info(): ComponentInfo[] {
    return COMPONENT_NAMES.flatMap((name) => {
      const proc = this.#running.get(name);
      if (!proc) return [];
      const { pid, startTime, logPath } = proc;
      return [{ name, pid, startTime, port: this.#ports.get(name), logPath }];
    });
  }

  /** Last `lines` lines of a component's log; "" if it was never launched. */
  logTail(name: ComponentName, lines: number): string {
    const path = this.#logPaths.get(name);
    return path ? readLogTail(path, lines) : "";
  }

  /** Every launched component's log tail under a header naming the log file. */
  logTails(lines: number): string {
    return COMPONENT_NAMES.filter((name) => this.#logPaths.has(name))
      .map((name) => `----- ${name} (${this.#logPaths.get(name)}) -----\n${this.logTail(name, lines)}`)
      .join("\n");
  }

  #release(): void {
    for (const release of this.#releases.splice(0)) release();
  }
}
