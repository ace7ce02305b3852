import { formatBytes, formatDuration } from "./format.js";

export interface ProgressSnapshot {
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly layersDone: number;
  readonly layersTotal: number;
}

/** Renders the progress line: "37.5 MiB / 2.00 GiB (1.8%), 3/12 layers, 812.4 MiB/s, ETA 2s". */
export function describeProgress(p: ProgressSnapshot, elapsedSeconds: number): string {
  const rate = elapsedSeconds > 0 ? p.bytesDone / elapsedSeconds : 0;
  const percent = p.bytesTotal > 0 ? ((p.bytesDone / p.bytesTotal) * 100).toFixed(1) : "100.0";
  const eta = rate > 0 ? formatDuration((p.bytesTotal - p.bytesDone) / rate) : "?";
  return `${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)} (${percent}%), ${p.layersDone}/${p.layersTotal} layers, ${formatBytes(rate)}/s, ETA ${eta}`;
}

/**
 * Progress for people: a line redrawn in place on a terminal (at most 10 times a second), or a
 * plain log line every `intervalMs` otherwise (init container logs, CI).
 */
export function createProgressReporter(
  stream: NodeJS.WriteStream,
  options: { now?: () => number; intervalMs?: number } = {},
) {
  const now = options.now ?? Date.now;
  const start = now();
  const interactive = stream.isTTY === true;
  const interval = options.intervalMs ?? (interactive ? 100 : 5000);
  // On a terminal, draw at once; in logs, wait one interval so quick pulls print only the summary.
  let last = interactive ? -Infinity : start;
  let latest: ProgressSnapshot | undefined;
  return {
    update(p: ProgressSnapshot): void {
      latest = p;
      const t = now();
      if (t - last < interval) return;
      last = t;
      const line = describeProgress(p, (t - start) / 1000);
      stream.write(interactive ? `\r\x1b[2K${line}` : `progress: ${line}\n`);
    },
    done(): void {
      if (latest === undefined) return;
      const line = describeProgress(latest, (now() - start) / 1000);
      stream.write(interactive ? `\r\x1b[2K${line}\n` : `progress: ${line}\n`);
    },
  };
}
