import { describe, expect, it } from "vitest";
import { PullError } from "./errors.js";
import { ByteBudget, EXPANSION_FLOOR_BYTES, expansionLimit, parseByteQuantity } from "./limits.js";

describe("parseByteQuantity: Kubernetes quantities as byte counts", () => {
  it.each([
    ["plain bytes", "1073741824", 1073741824],
    ["binary suffix", "10Gi", 10 * 2 ** 30],
    ["decimal suffix", "500M", 500_000_000],
    ["kilo is lower-case k", "3k", 3000],
    ["a fraction rounds up to whole bytes", "1.5Ki", 1536],
    ["a fraction of a byte rounds up", "0.1", 1],
    ["an exponent", "1e9", 1_000_000_000],
    ["a leading plus", "+2Mi", 2 * 2 ** 20],
    ["surrounding spaces", " 1Mi ", 2 ** 20],
    ["the emptyDir sizeLimit form", "2560Mi", 2560 * 2 ** 20],
  ])("%s: %s", (_, raw, expected) => expect(parseByteQuantity(raw)).toBe(expected));

  it.each([
    ["words", "ten"],
    ["empty", ""],
    ["negative", "-1Gi"],
    ["zero", "0"],
    ["milli (a fraction of a byte)", "500m"],
    ["an unknown suffix", "10GB"],
    ["lower-case binary", "10gi"],
    ["suffix and exponent", "1e3Ki"],
    ["beyond 2^53 bytes", "9Ei"],
  ])("refuses %s: %s", (_, raw) => expect(parseByteQuantity(raw)).toHaveProperty("invalid"));
});

describe("expansionLimit", () => {
  it.each([
    ["a small layer may always reach the floor", 1000, 100, EXPANSION_FLOOR_BYTES],
    ["a large layer gets its ratio", 10 * 2 ** 20, 100, 1000 * 2 ** 20],
    ["the ratio is a parameter", 10 * 2 ** 20, 2, EXPANSION_FLOOR_BYTES],
  ])("%s", (_, compressed, ratio, expected) => expect(expansionLimit(compressed, ratio)).toBe(expected));
});

describe("ByteBudget", () => {
  it("lets takes add up to the cap, refuses the one past it naming the flag, and takes back releases", () => {
    const budget = new ByteBudget(100, "--max-bytes");
    budget.take(60, "layer 0");
    budget.take(40, "layer 1");
    const err = (() => {
      try {
        budget.take(1, "layer 2");
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(PullError);
    expect((err as PullError).code).toBe("LimitExceeded");
    expect((err as PullError).message).toMatch(
      /^layer 2: .*more than 100 bytes \(--max-bytes\).*raise --max-bytes/,
    );
    budget.release(41);
    expect(() => budget.take(40, "layer 3")).not.toThrow();
  });

  it("has no cap when none is given", () => {
    const budget = new ByteBudget(undefined, "--max-bytes");
    expect(() => budget.take(Number.MAX_SAFE_INTEGER, "x")).not.toThrow();
  });
});
