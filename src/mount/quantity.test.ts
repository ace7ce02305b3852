import { describe, expect, it } from "vitest";
import { emptyDirSizeLimit, GiB, MiB } from "./quantity.js";

describe("emptyDirSizeLimit: size + max(size/4, 256Mi), Mi below 10Gi, Gi from there", () => {
  it.each([
    ["an empty model gets the minimum headroom", 0, "256Mi"],
    ["one byte rounds up to a whole Mi", 1, "257Mi"],
    ["small models get 256Mi headroom", 100 * MiB, "356Mi"],
    ["headroom switches to a quarter above 1Gi", 2 * GiB, "2560Mi"],
    ["a non-round size rounds up", 1_500_000_000, "1789Mi"],
    ["just below 10Gi stays in Mi", 8 * GiB - 4, "10240Mi"],
    ["10Gi and above is in whole Gi", 8 * GiB, "10Gi"],
    ["a 15 GB model", 15_000_000_000, "18Gi"],
    ["a 140 GB model", 140_000_000_000, "163Gi"],
  ])("%s", (_, size, expected) => expect(emptyDirSizeLimit(size)).toBe(expected));

  it("is never below the model's size", () => {
    for (const size of [0, 1, 5 * MiB, GiB, 9.99 * GiB, 123_456_789_012]) {
      const limit = emptyDirSizeLimit(Math.round(size));
      const bytes = Number(limit.slice(0, -2)) * (limit.endsWith("Gi") ? GiB : MiB);
      expect(bytes).toBeGreaterThanOrEqual(Math.round(size) * 1.25);
    }
  });

  it.each([[-1], [1.5], [Number.NaN], [Number.POSITIVE_INFINITY]])("rejects %s", (size) => {
    expect(() => emptyDirSizeLimit(size)).toThrow(RangeError);
  });
});
