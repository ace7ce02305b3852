/**
 * Pure decisions of a ranged blob download (ranged-download.ts): byte-range bookkeeping, the
 * Content-Range check, part sizes and how many connections to run. No I/O.
 */

/** Bytes `[start, end)` of a blob. */
export type ByteRange = readonly [start: number, end: number];

const MiB = 1024 * 1024;

/** `list` (sorted, disjoint, merged) with `[start, end)` added and touching ranges merged. */
export function addRange(list: readonly ByteRange[], range: ByteRange): ByteRange[] {
  const [start, end] = range;
  if (end <= start) return [...list];
  const out: ByteRange[] = [];
  let s = start;
  let e = end;
  let placed = false;
  for (const r of list) {
    if (r[1] < s) out.push(r);
    else if (r[0] > e) {
      if (!placed) out.push([s, e]);
      placed = true;
      out.push(r);
    } else {
      s = Math.min(s, r[0]);
      e = Math.max(e, r[1]);
    }
  }
  if (!placed) out.push([s, e]);
  return out;
}

/** The parts of `[0, size)` that `covered` (sorted, disjoint) leaves out, in order. */
export function missingRanges(size: number, covered: readonly ByteRange[]): ByteRange[] {
  const out: ByteRange[] = [];
  let at = 0;
  for (const [s, e] of covered) {
    if (s > at) out.push([at, Math.min(s, size)]);
    at = Math.max(at, e);
    if (at >= size) break;
  }
  if (at < size) out.push([at, size]);
  return out.filter(([s, e]) => e > s);
}

/** Total bytes in `ranges` (disjoint). */
export function coveredBytes(ranges: readonly ByteRange[]): number {
  return ranges.reduce((n, [s, e]) => n + (e - s), 0);
}

/**
 * `Content-Range: bytes first-last/total` (RFC 9110 §14.4) as `[first, last + 1)` and the total
 * (undefined for `*`); undefined when the header is missing or malformed.
 */
export function parseContentRange(
  value: string | undefined,
): { readonly range: ByteRange; readonly total: number | undefined } | undefined {
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value ?? "");
  if (m === null) return undefined;
  const first = Number(m[1]);
  const last = Number(m[2]);
  const total = m[3] === "*" ? undefined : Number(m[3]);
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || last < first) return undefined;
  if (total !== undefined && (!Number.isSafeInteger(total) || last >= total)) return undefined;
  return { range: [first, last + 1], total };
}

/**
 * Why a 206 answer to `Range: bytes=asked` cannot be used for a blob of `size` bytes, or undefined
 * when it can: it must start where asked, end no later than asked (a shorter answer is legal; the
 * rest is asked again) and name the blob's size.
 */
export function contentRangeProblem(
  value: string | undefined,
  asked: ByteRange,
  size: number,
): string | undefined {
  const parsed = parseContentRange(value);
  if (parsed === undefined) return `Content-Range "${value ?? "(missing)"}" is not a byte range`;
  const [first, end] = parsed.range;
  if (first !== asked[0] || end > asked[1])
    return `Content-Range "${value ?? ""}" does not match the range asked for (bytes ${asked[0]}-${asked[1] - 1})`;
  if (parsed.total !== undefined && parsed.total !== size)
    return `Content-Range "${value ?? ""}" names a total of ${parsed.total} bytes, not the descriptor's ${size}`;
  return undefined;
}

/**
 * The size of the parts a blob is cut into once it runs on more than one connection: about four
 * parts per connection, so the hashed prefix keeps moving and the last parts end together, within
 * 8–64 MiB (a request costs a round trip; a part is the most a slow connection holds up).
 */
export function partBytes(size: number, maxConnections: number): number {
  const target = Math.ceil(size / Math.max(1, maxConnections * 4));
  return Math.min(64 * MiB, Math.max(8 * MiB, Math.ceil(target / MiB) * MiB));
}

/**
 * The average socket read at or above which bytes were queueing for the reader: a read returns
 * what the kernel holds, up to the room offered (up to a 1 MiB buffer's rest), and a reader that
 * keeps up with its connections finds only what came since its last read (tens of KiB: a
 * throttled connection's reads averaged 77 KiB, a CPU-bound loopback pull's 385–485 KiB).
 */
export const BACKLOGGED_READ_BYTES = 192 * 1024;

/**
 * Whether the reads of a window found bytes queueing (`reads` socket reads brought `bytes`): the
 * reader, not the network, sets the pace then, and more connections would add work, not bytes.
 */
export function readsBacklogged(reads: number, bytes: number): boolean {
  return reads > 0 && bytes / reads >= BACKLOGGED_READ_BYTES;
}

/** Where the connection count of a download stands, between two measurements of its rate. */
export interface GrowthState {
  /** Connections may still be added. */
  readonly growing: boolean;
  /** Connections allowed now; a connection over it stops after its part. */
  readonly limit: number;
  /**
   * Windows to wait before probing again after a step that did not pay (a judgement on a busy
   * machine can be wrong, and conditions change); undefined with `growing` false: never (the
   * registry throttled).
   */
  readonly cooldown?: number;
  /** Set while connections just added are being judged: the count and rate before them. */
  readonly probe?: {
    readonly connections: number;
    readonly rate: number;
    /** The whole group's connections and rate before them (see `nextGrowth`'s `group`). */
    readonly group?: GroupRate;
    /** The first window after adding, in which the new connections were still starting, is over. */
    readonly settled?: boolean;
  };
}

/** Connections and bytes/s of all the downloads that share a machine and registry (one pull's). */
export interface GroupRate {
  readonly connections: number;
  readonly rate: number;
}

/**
 * The share of the added connections' expected gain (the old per-connection rate each) that keeps
 * growth going: enough above noise on a CPU-bound pull, where more connections gain nothing, and
 * well below what per-connection throttling gives (close to all of it).
 */
const GAIN = 0.3;

/** Windows between a step that did not pay and the next probe. */
const REPROBE_WINDOWS = 8;

/**
 * The least gain of a group's rate that makes a step pay when the step adds only a small share of
 * the group's connections: the group's rate varies by about this much from one window to the next
 * on a busy machine, and a smaller bar would be met by chance.
 */
const MIN_GROUP_GAIN = 0.15;

/**
 * One step of the connection count, after a window in which the blob arrived at `rate` bytes/s on
 * `connections` connections: like TCP's slow start, the count doubles while each doubling pays
 * (the rate grows by at least GAIN of what the added connections would bring at the old
 * per-connection rate, measured in the window after the one they started in), up to `max`; a step that does not pay is taken back, and probed again REPROBE_WINDOWS later.
 * A registry that throttles per connection (object storage) earns the maximum; a loopback or
 * CPU-bound pull stays on one connection but for a short probe now and then. `remaining` bytes under two
 * parts stop growth: new connections would not reach speed before the end.
 *
 * With `group` (the connections and rate of every download of the pull, this one's included), a
 * step is judged on the group's rate instead: when downloads share one machine and registry, a
 * download that adds connections takes bytes/s from the others, and its own rate rises with no
 * gain for the pull. The bar is then GAIN of the added connections' share of the group's, and at
 * least MIN_GROUP_GAIN.
 */
export function nextGrowth(
  current: GrowthState,
  observed: {
    readonly connections: number;
    readonly rate: number;
    readonly max: number;
    readonly remaining: number;
    readonly part: number;
    /**
     * The process used more than half the machine's CPU in the window: more connections would
     * compete with the hashing and writing for it (a loopback or LAN pull), so none are tried.
     */
    readonly cpuBusy?: boolean;
    /** Bytes queued for the reader in the window (`readsBacklogged`): none are tried either. */
    readonly backlogged?: boolean;
    /** Every download of the group at once, this one's included; default: this one alone. */
    readonly group?: GroupRate;
  },
): GrowthState & { readonly add: number } {
  let state = current;
  if (!state.growing) {
    if (state.cooldown === undefined) return { ...state, add: 0 };
    if (state.cooldown > 1) return { ...state, cooldown: state.cooldown - 1, add: 0 };
    state = { growing: true, limit: state.limit };
  }
  const { connections, rate, max, remaining, part } = observed;
  if (state.probe !== undefined) {
    // New connections spend part of their first window on a request's round trip: judged after it.
    if (state.probe.settled !== true) return { ...state, probe: { ...state.probe, settled: true }, add: 0 };
    const { connections: before, rate: rateBefore, group: groupBefore } = state.probe;
    const added = connections - before;
    const paid =
      added > 0 &&
      (groupBefore === undefined || observed.group === undefined
        ? rate >= rateBefore * (1 + (GAIN * added) / Math.max(1, before))
        : observed.group.rate >=
          groupBefore.rate *
            (1 + Math.max(MIN_GROUP_GAIN, (GAIN * added) / Math.max(1, groupBefore.connections))));
    if (!paid) return { growing: false, limit: Math.max(1, before), cooldown: REPROBE_WINDOWS, add: 0 };
  }
  const limit = Math.max(state.limit, connections);
  if (connections >= max || remaining < 2 * part) return { growing: false, limit, add: 0 };
  if (rate <= 0 || observed.cpuBusy === true || observed.backlogged === true)
    return { growing: true, limit, add: 0 };
  const add = Math.min(connections, max - connections);
  const probe = { connections, rate, ...(observed.group !== undefined && { group: observed.group }) };
  return { growing: true, limit: connections + add, probe, add };
}
