/**
 * The duration syntax of `spec.model.refreshInterval`: whole hours, minutes and seconds in that
 * order (`30s`, `10m`, `1h`, `1h30m`, `1h0m0s` as Go prints durations), or `0`. It is a subset of
 * Go's `time.ParseDuration`, so CEL's `duration()` reads every string this pattern accepts the
 * same way `parseDuration` does.
 */
export const DURATION_PATTERN =
  /^(?:0|[0-9]{1,5}h(?:[0-9]{1,5}m)?(?:[0-9]{1,5}s)?|[0-9]{1,5}m(?:[0-9]{1,5}s)?|[0-9]{1,5}s)$/;

const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1_000 };

/**
 * Milliseconds in a duration written in DURATION_PATTERN's syntax (`0` → 0). Returns undefined
 * for anything else, so callers decide what a bad value means.
 */
export function parseDuration(text: string): number | undefined {
  if (!DURATION_PATTERN.test(text)) return undefined;
  let ms = 0;
  for (const [, amount = "0", unit = "s"] of text.matchAll(/([0-9]+)([hms])/g)) {
    ms += Number(amount) * (UNIT_MS[unit] ?? 0);
  }
  return ms;
}
