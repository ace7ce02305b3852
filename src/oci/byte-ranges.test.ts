import { describe, expect, it } from "vitest";
import {
  addRange,
  contentRangeProblem,
  missingRanges,
  nextGrowth,
  parseContentRange,
  partBytes,
  readsBacklogged,
  type ByteRange,
  type GrowthState,
} from "./byte-ranges.js";

const MiB = 1024 * 1024;

describe("byte ranges", () => {
  it.each<[ByteRange[], ByteRange, ByteRange[]]>([
    [[], [0, 10], [[0, 10]]],
    [[[0, 10]], [10, 20], [[0, 20]]],
    [
      [[0, 10]],
      [20, 30],
      [
        [0, 10],
        [20, 30],
      ],
    ],
    [
      [[20, 30]],
      [0, 10],
      [
        [0, 10],
        [20, 30],
      ],
    ],
    [
      [
        [0, 10],
        [20, 30],
      ],
      [10, 20],
      [[0, 30]],
    ],
    [
      [
        [0, 10],
        [20, 30],
        [40, 50],
      ],
      [5, 45],
      [[0, 50]],
    ],
    [[[0, 10]], [5, 5], [[0, 10]]],
  ])("addRange(%j, %j) = %j", (list, range, expected) => {
    expect(addRange(list, range)).toEqual(expected);
  });

  it.each<[number, ByteRange[], ByteRange[]]>([
    [100, [], [[0, 100]]],
    [100, [[0, 100]], []],
    [
      100,
      [
        [10, 20],
        [50, 60],
      ],
      [
        [0, 10],
        [20, 50],
        [60, 100],
      ],
    ],
    [
      100,
      [
        [0, 30],
        [90, 100],
      ],
      [[30, 90]],
    ],
  ])("missingRanges(%d, %j) = %j", (size, covered, expected) => {
    expect(missingRanges(size, covered)).toEqual(expected);
  });

  it.each([
    ["bytes 0-99/1000", { range: [0, 100], total: 1000 }],
    ["bytes 10-10/*", { range: [10, 11], total: undefined }],
    ["bytes 5-1/10", undefined],
    ["bytes 0-10/10", undefined],
    ["items 0-1/2", undefined],
    [undefined, undefined],
  ])("parseContentRange(%s)", (value, expected) => {
    expect(parseContentRange(value)).toEqual(expected);
  });

  it.each<[string | undefined, ByteRange, RegExp | undefined]>([
    ["bytes 0-99/1000", [0, 100], undefined],
    ["bytes 0-49/1000", [0, 100], undefined], // shorter: the rest is asked again
    ["bytes 1-100/1000", [0, 100], /does not match/],
    ["bytes 0-199/1000", [0, 100], /does not match/],
    ["bytes 0-99/999", [0, 100], /total of 999/],
    [undefined, [0, 100], /not a byte range/],
  ])("contentRangeProblem(%s, %j)", (value, asked, problem) => {
    const found = contentRangeProblem(value, asked, 1000);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toMatch(problem);
  });

  it.each([
    [100 * MiB, 8, 8 * MiB],
    [1024 * MiB, 8, 32 * MiB],
    [64 * 1024 * MiB, 8, 64 * MiB],
    [1024 * MiB, 1, 64 * MiB],
  ])("partBytes(%d, %d) = %d", (size, connections, expected) => {
    expect(partBytes(size, connections)).toBe(expected);
  });
});

describe("nextGrowth: how many connections", () => {
  const big = { max: 8, remaining: 1024 * MiB, part: 32 * MiB };
  const start: GrowthState = { growing: true, limit: 1 };

  it("doubles while each doubling pays, judged one window after it, up to the maximum", () => {
    let state = nextGrowth(start, { ...big, connections: 1, rate: 40e6 });
    expect(state).toMatchObject({ add: 1, limit: 2 });
    state = nextGrowth(state, { ...big, connections: 2, rate: 60e6 }); // still starting
    expect(state).toMatchObject({ add: 0, growing: true });
    state = nextGrowth(state, { ...big, connections: 2, rate: 80e6 });
    expect(state).toMatchObject({ add: 2, limit: 4 });
    state = nextGrowth(state, { ...big, connections: 4, rate: 120e6 });
    state = nextGrowth(state, { ...big, connections: 4, rate: 160e6 });
    expect(state).toMatchObject({ add: 4, limit: 8 });
    state = nextGrowth(state, { ...big, connections: 8, rate: 250e6 });
    state = nextGrowth(state, { ...big, connections: 8, rate: 320e6 });
    expect(state).toMatchObject({ add: 0, growing: false, limit: 8 });
  });

  it("takes back a step that does not pay (a CPU-bound or loopback pull) and stops growing", () => {
    let state = nextGrowth(start, { ...big, connections: 1, rate: 900e6 });
    state = nextGrowth(state, { ...big, connections: 2, rate: 850e6 });
    state = nextGrowth(state, { ...big, connections: 2, rate: 950e6 });
    expect(state).toEqual({ growing: false, limit: 1, cooldown: 8, add: 0 });
    expect(nextGrowth(state, { ...big, connections: 1, rate: 10e6 })).toMatchObject({ add: 0, limit: 1 });
  });

  it("probes again a while after a step that did not pay; never after the registry throttled", () => {
    let state: GrowthState = { growing: false, limit: 1, cooldown: 8 };
    for (let i = 0; i < 7; i++) {
      state = nextGrowth(state, { ...big, connections: 1, rate: 40e6 });
      expect(state).toMatchObject({ add: 0 });
    }
    expect(nextGrowth(state, { ...big, connections: 1, rate: 40e6 })).toMatchObject({ add: 1, limit: 2 });
    const throttled: GrowthState = { growing: false, limit: 3 };
    expect(nextGrowth(throttled, { ...big, connections: 3, rate: 40e6 })).toEqual({ ...throttled, add: 0 });
  });

  it("adds no connection while the process is short of CPU", () => {
    expect(nextGrowth(start, { ...big, connections: 1, rate: 400e6, cpuBusy: true })).toMatchObject({
      add: 0,
      growing: true,
      limit: 1,
    });
  });

  it("adds no connection while bytes queue for the reader (it, not the network, sets the pace)", () => {
    expect(nextGrowth(start, { ...big, connections: 1, rate: 400e6, backlogged: true })).toMatchObject({
      add: 0,
      growing: true,
      limit: 1,
    });
  });

  it("judges a step on the group's rate when downloads share the pull", () => {
    // One of four downloads doubles: its own rate rises (taken from the others), the group's does not.
    let state = nextGrowth(start, {
      ...big,
      connections: 1,
      rate: 100e6,
      group: { connections: 4, rate: 400e6 },
    });
    expect(state).toMatchObject({ add: 1, limit: 2 });
    state = nextGrowth(state, {
      ...big,
      connections: 2,
      rate: 160e6,
      group: { connections: 5, rate: 410e6 },
    });
    state = nextGrowth(state, {
      ...big,
      connections: 2,
      rate: 160e6,
      group: { connections: 5, rate: 420e6 },
    });
    expect(state).toEqual({ growing: false, limit: 1, cooldown: 8, add: 0 });
    // Per-connection throttling: the added connection brings its own bytes/s to the group.
    state = nextGrowth(start, { ...big, connections: 1, rate: 40e6, group: { connections: 4, rate: 160e6 } });
    state = nextGrowth(state, { ...big, connections: 2, rate: 70e6, group: { connections: 5, rate: 190e6 } });
    state = nextGrowth(state, { ...big, connections: 2, rate: 80e6, group: { connections: 5, rate: 200e6 } });
    expect(state).toMatchObject({ add: 2, limit: 4 });
    // A group of one is judged as the download alone.
    state = nextGrowth(start, { ...big, connections: 1, rate: 40e6, group: { connections: 1, rate: 40e6 } });
    state = nextGrowth(state, { ...big, connections: 2, rate: 60e6, group: { connections: 2, rate: 60e6 } });
    state = nextGrowth(state, { ...big, connections: 2, rate: 60e6, group: { connections: 2, rate: 60e6 } });
    expect(state).toMatchObject({ add: 2, limit: 4 });
  });

  it.each([
    [0, 0, false],
    [100, 100 * 64 * 1024, false], // a reader that keeps up: what came since its last read
    [100, 100 * 77 * 1024, false],
    [100, 100 * 192 * 1024, true],
    [10, 10 * 1024 * 1024, true], // whole buffers waiting
  ])("readsBacklogged(%d reads, %d bytes) = %s", (reads, bytes, expected) => {
    expect(readsBacklogged(reads, bytes)).toBe(expected);
  });

  it("does not grow near the end of a blob, nor before bytes flow", () => {
    expect(nextGrowth(start, { ...big, remaining: 40 * MiB, connections: 1, rate: 40e6 })).toMatchObject({
      add: 0,
      growing: false,
    });
    expect(nextGrowth(start, { ...big, connections: 1, rate: 0 })).toMatchObject({ add: 0, growing: true });
  });
});
