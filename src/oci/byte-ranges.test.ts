import { describe, expect, it } from "vitest";
import {
  addRange,
  contentRangeProblem,
  missingRanges,
  nextGrowth,
  parseContentRange,
  partBytes,
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

  it("does not grow near the end of a blob, nor before bytes flow", () => {
    expect(nextGrowth(start, { ...big, remaining: 40 * MiB, connections: 1, rate: 40e6 })).toMatchObject({
      add: 0,
      growing: false,
    });
    expect(nextGrowth(start, { ...big, connections: 1, rate: 0 })).toMatchObject({ add: 0, growing: true });
  });
});
