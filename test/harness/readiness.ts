/**
 * Waiting for components to serve, and failing fast with a useful message when one dies instead:
 * every error names the component and ends with its log tail and the path of the full log.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { HarnessError } from "./errors.js";
import { httpsGet } from "./https.js";
import { readLogTail, type RunningProcess } from "./process.js";

/** Log lines quoted in error messages. */
export const ERROR_LOG_LINES = 40;
const POLL_INTERVAL_MS = 200;

/**
 * Polls `${server}/readyz` (anonymous, verified against `caPem`) until it answers 200. Checks the
 * `watched` processes on every round and throws `port-in-use` / `component-exited` as soon as one
 * has exited; throws `not-ready` with the log tail of `watched[0]` after `timeoutMs`.
 */
export async function waitForReadyz(
  server: string,
  caPem: string,
  watched: readonly RunningProcess[],
  timeoutMs: number,
): Promise<void> {
  const url = `${server}/readyz`;
  const lastAnswer = await poll(url, { caPem }, watched, timeoutMs);
  if (lastAnswer === undefined) return;
  const main = watched[0];
  throw new HarnessError(
    "not-ready",
    `${main?.name ?? "kube-apiserver"} not ready after ${timeoutMs} ms at ${url} (last answer: ${lastAnswer})` +
      (main ? logSuffix(main) : ""),
    { logPath: main?.logPath },
  );
}

/**
 * Polls a component's own `https://127.0.0.1:PORT/healthz` until 200. The component serves a
 * self-signed certificate it made itself, so it is not verified (loopback only).
 */
export async function waitForHealthz(url: string, proc: RunningProcess, timeoutMs: number): Promise<void> {
  const lastAnswer = await poll(url, { insecure: true }, [proc], timeoutMs);
  if (lastAnswer === undefined) return;
  throw new HarnessError(
    "not-ready",
    `${proc.name} not healthy after ${timeoutMs} ms at ${url} (last answer: ${lastAnswer})` + logSuffix(proc),
    { logPath: proc.logPath },
  );
}

/** Resolves undefined once `url` answers 200, or with the last answer seen when time runs out. */
async function poll(
  url: string,
  tls: { caPem?: string; insecure?: boolean },
  watched: readonly RunningProcess[],
  timeoutMs: number,
): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let lastAnswer = "no answer yet";
  while (Date.now() < deadline) {
    for (const proc of watched) assertRunning(proc, "during startup");
    try {
      const response = await httpsGet(url, { ...tls, timeoutMs: 2_000 });
      if (response.status === 200) return undefined;
      lastAnswer = `HTTP ${response.status}: ${response.body.trim().split("\n").slice(-8).join("; ")}`;
    } catch (err) {
      lastAnswer = err instanceof Error ? err.message : String(err);
    }
    await sleep(POLL_INTERVAL_MS);
  }
  return lastAnswer;
}

/**
 * Throws if `proc` has exited: `port-in-use` when its log says a port was taken (the caller may
 * retry with fresh ports), else `component-exited`. `when` ends the first line, e.g. "during startup".
 */
export function assertRunning(proc: RunningProcess, when: string): void {
  const exit = proc.exitInfo();
  if (exit === undefined) return;
  const tail = readLogTail(proc.logPath, ERROR_LOG_LINES);
  const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
  const code = /address already in use/.test(tail) ? "port-in-use" : "component-exited";
  throw new HarnessError(code, `${proc.name} exited with ${how} ${when}` + logSuffix(proc), {
    logPath: proc.logPath,
  });
}

/** "\n--- last N lines of <log> ---\n<tail>": the end of every error about a component. */
export function logSuffix(proc: RunningProcess): string {
  return `\n--- last ${ERROR_LOG_LINES} lines of ${proc.logPath} ---\n${readLogTail(proc.logPath, ERROR_LOG_LINES)}`;
}
