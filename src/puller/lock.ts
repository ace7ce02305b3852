import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { readFileSync } from "node:fs";
import { open, readFile, rename, rm, stat, utimes } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { describeError } from "../errors.js";
import { PullError } from "./errors.js";

/**
 * One pull at a time per destination: a lock file created with O_EXCL beside the destination
 * (in its parent, so the destination itself stays exactly as the artifact leaves it). The holder
 * touches the file every HEARTBEAT_MS; a lock not touched for STALE_MS belongs to a pull that was
 * killed (SIGKILL, OOM, a node restart of the init container) and is taken over. A lock left by
 * a process that is provably gone is taken over at once: same host name and boot, and its pid is
 * not running or now belongs to a process that started at another time (a restarted init
 * container is PID 1 again, in the same pod, with a new start time). Anything else (another host
 * sharing the folder, an unreadable lock) waits for the heartbeat to go stale.
 */
export const LOCK_HEARTBEAT_MS = 5_000;
export const LOCK_STALE_MS = 30_000;
/** How long a pull waits for another pull into the same destination by default. */
export const DEFAULT_LOCK_TIMEOUT_MS = 15 * 60_000;
const POLL_MS = 200;

const LockFile = z.object({
  token: z.string(),
  pid: z.number(),
  hostname: z.string(),
  startedAt: z.string(),
  /** The kernel's boot id and the holder's start time (clock ticks since boot), when readable. */
  bootId: z.string().optional(),
  processStart: z.string().optional(),
});

/** /proc facts about a process; undefined where /proc cannot say (not Linux, hidden pid). */
export interface ProcessFacts {
  bootId(): string | undefined;
  /** The start time of `pid` (field 22 of /proc/<pid>/stat), or undefined if it is not running. */
  startOf(pid: number): string | undefined;
}

const procFacts: ProcessFacts = {
  bootId: () => readProc("/proc/sys/kernel/random/boot_id")?.trim(),
  startOf: (pid) => {
    const stat = readProc(`/proc/${pid}/stat`);
    if (stat === undefined) return undefined;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" ? undefined : fields[19];
  },
};

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * Whether a lock's holder is provably gone (pure): it ran on this host in this boot, and its pid
 * now runs nothing or a process that started at another time.
 */
export function holderIsGone(
  holder: { hostname: string; pid: number; bootId?: string | undefined; processStart?: string | undefined },
  here: { hostname: string; bootId: string | undefined; startOfHolderPid: string | undefined },
): boolean {
  if (holder.bootId === undefined || holder.processStart === undefined || here.bootId === undefined)
    return false;
  if (holder.hostname !== here.hostname || holder.bootId !== here.bootId) return false;
  return here.startOfHolderPid !== holder.processStart;
}
type LockFile = z.infer<typeof LockFile>;

/** `<parent>/.<name>.modelpack-lock` for destination `<parent>/<name>`. */
export const lockPathFor = (dest: string): string => join(dirname(dest), `.${basename(dest)}.modelpack-lock`);

export interface DestinationLock {
  readonly path: string;
  /** Throws unless this pull still holds the lock (call before placing anything). */
  assertHeld(): Promise<void>;
  release(): Promise<void>;
}

export interface LockOptions {
  /** Default: this machine's /proc. */
  readonly processFacts?: ProcessFacts;
  readonly timeoutMs?: number;
  readonly staleMs?: number;
  readonly heartbeatMs?: number;
  readonly signal?: AbortSignal;
  /** Called once when the lock is busy and the pull starts waiting. */
  readonly onWait?: (holder: string) => void;
}

function parseLock(raw: string): LockFile | undefined {
  try {
    const parsed = LockFile.safeParse(JSON.parse(raw) as unknown);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

const describeHolder = (raw: string): string => {
  const holder = parseLock(raw);
  return holder !== undefined
    ? `pid ${holder.pid} on ${holder.hostname}, since ${holder.startedAt}`
    : "an unreadable holder";
};

/** Takes the lock of `dest` (whose parent must exist), waiting at most `timeoutMs`. */
export async function lockDestination(dest: string, options: LockOptions = {}): Promise<DestinationLock> {
  const path = lockPathFor(dest);
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const staleMs = options.staleMs ?? LOCK_STALE_MS;
  const facts = options.processFacts ?? procFacts;
  const bootId = facts.bootId();
  const processStart = facts.startOf(process.pid);
  const mine: LockFile = {
    token: randomBytes(16).toString("hex"),
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    ...(bootId !== undefined && { bootId }),
    ...(processStart !== undefined && { processStart }),
  };
  const deadline = Date.now() + timeoutMs;
  let waited = false;
  for (;;) {
    options.signal?.throwIfAborted();
    const handle = await open(path, "wx", 0o600).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "EEXIST") return undefined;
      throw new PullError(
        "Io",
        `cannot create the lock file ${path} for pulling into ${dest}: ${describeError(err)}; the destination's parent folder must be writable`,
      );
    });
    if (handle !== undefined) {
      try {
        await handle.writeFile(JSON.stringify(mine));
      } finally {
        await handle.close();
      }
      break;
    }
    const [content, info] = await Promise.all([
      readFile(path, "utf8").catch(() => ""),
      stat(path).catch(() => undefined),
    ]);
    if (info === undefined) continue; // released meanwhile
    const holder = parseLock(content);
    const gone =
      holder !== undefined &&
      holderIsGone(holder, { hostname: mine.hostname, bootId, startOfHolderPid: facts.startOf(holder.pid) });
    if (gone || Date.now() - info.mtimeMs > staleMs) {
      // Move it aside under a name of our own (atomic), so two waiters cannot both remove a fresh one.
      const aside = `${path}.stale-${mine.token}`;
      await rename(path, aside).then(
        () => rm(aside, { force: true }),
        () => undefined,
      );
      continue;
    }
    if (Date.now() >= deadline)
      throw new PullError(
        "Io",
        `another pull into ${dest} holds the lock ${path} (${describeHolder(content)}) and did not finish within ` +
          `${Math.round(timeoutMs / 1000)} s; wait for it and retry (a lock left by a killed pull is taken over once ` +
          `it is ${Math.round(staleMs / 1000)} s old; remove ${path} only if no pull is running)`,
      );
    if (!waited) options.onWait?.(`${path} (${describeHolder(content)})`);
    waited = true;
    await sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())), undefined, {
      ...(options.signal !== undefined && { signal: options.signal }),
    });
  }

  const held = async (): Promise<boolean> => {
    const content = await readFile(path, "utf8").catch(() => "");
    return content === JSON.stringify(mine);
  };
  let heartbeatRunning = false;
  const heartbeat = setInterval(() => {
    if (heartbeatRunning) return;
    heartbeatRunning = true;
    void (async () => {
      if (await held()) {
        const now = new Date();
        await utimes(path, now, now).catch(() => undefined);
      }
    })().finally(() => (heartbeatRunning = false));
  }, options.heartbeatMs ?? LOCK_HEARTBEAT_MS);
  heartbeat.unref();

  return {
    path,
    assertHeld: async () => {
      if (!(await held()))
        throw new PullError(
          "Io",
          `the pull into ${dest} lost its lock ${path} (taken over by another pull: was this one stopped for over ${Math.round(staleMs / 1000)} s?); nothing was placed, pull again`,
        );
    },
    release: async () => {
      clearInterval(heartbeat);
      if (await held()) await rm(path, { force: true });
    },
  };
}
