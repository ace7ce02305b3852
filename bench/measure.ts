import { spawn } from "node:child_process";

/** Wall time and peak RSS of a child command, via GNU time (`%M` is the peak RSS in KiB). */
export interface Measured {
  readonly seconds: number;
  readonly peakRssBytes: number;
  /** User and system CPU seconds of the command (all its threads). */
  readonly cpuSeconds: number;
}

export async function measure(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Measured> {
  const start = process.hrtime.bigint();
  const marker = "__peak_rss_kib=";
  let stderr = "";
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-f", `${marker}%M %U %S`, command, ...args], {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("exit", resolve);
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (code !== 0)
    throw new Error(`${command} ${args.join(" ")} exited with ${code}:\n${stderr.slice(-2000)}`);
  const [, kib, user, system] = /__peak_rss_kib=(\d+) ([\d.]+) ([\d.]+)/.exec(stderr) ?? [];
  return {
    seconds,
    peakRssBytes: Number(kib ?? NaN) * 1024,
    cpuSeconds: Number(user ?? NaN) + Number(system ?? NaN),
  };
}

/** Median of several runs, so one noisy run on a shared 2-core machine does not decide. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
