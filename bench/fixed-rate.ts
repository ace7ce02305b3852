/** What the load generators share: requests sent at a fixed rate, and percentiles of their latencies. */

/** The `p`th percentile (0–100) of ascending `sorted`; NaN when it is empty. */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/**
 * Calls `once` every 1000/`rate` ms for `seconds` (late calls are sent at once, never skipped),
 * and resolves with every call's latency in ms (from send to full response), ascending, and the
 * seconds it took.
 */
export async function atFixedRate(
  once: () => Promise<number>,
  rate: number,
  seconds: number,
): Promise<{ latencies: number[]; elapsedSeconds: number }> {
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const interval = 1000 / rate;
  const start = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const wait = start + i * interval - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(once().then((ms) => void latencies.push(ms)));
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return { latencies, elapsedSeconds: (performance.now() - start) / 1000 };
}
