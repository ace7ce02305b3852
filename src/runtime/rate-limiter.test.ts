import { describe, expect, it } from "vitest";
import {
  Backoff,
  bucketRateLimiter,
  exponentialDelayMs,
  exponentialFailureRateLimiter,
  maxOf,
} from "./rate-limiter.js";

describe("rate limiters", () => {
  it("backs off exponentially per item and forgets", () => {
    const limiter = exponentialFailureRateLimiter<string>(5, 100);
    expect([1, 2, 3, 4, 5, 6].map(() => limiter.when("a"))).toEqual([5, 10, 20, 40, 80, 100]);
    expect(limiter.when("b")).toBe(5);
    expect(limiter.numRequeues("a")).toBe(6);
    limiter.forget("a");
    expect(limiter.numRequeues("a")).toBe(0);
    expect(limiter.when("a")).toBe(5);
  });

  it("lets a burst through, then spaces requests by qps", () => {
    let now = 0;
    const limiter = bucketRateLimiter<string>(10, 2, () => now);
    expect(limiter.when("x")).toBe(0);
    expect(limiter.when("y")).toBe(0);
    expect(limiter.when("z")).toBe(100);
    now = 1000;
    expect(limiter.when("z")).toBe(0);
  });

  it("maxOf takes the slowest answer", () => {
    let now = 0;
    const limiter = maxOf(
      exponentialFailureRateLimiter<string>(5, 1000),
      bucketRateLimiter<string>(1, 1, () => now),
    );
    expect(limiter.when("a")).toBe(5);
    expect(limiter.when("a")).toBe(1000);
    now = 10_000;
    limiter.forget("a");
    expect(limiter.when("a")).toBe(5);
  });
});

describe("exponentialDelayMs", () => {
  it.each([
    [0, 5, 100, 5],
    [1, 5, 100, 10],
    [4, 5, 100, 80],
    [5, 5, 100, 100],
    [60, 5, 100, 100],
    [0, 1_000, 30_000, 1_000],
    [5, 1_000, 30_000, 30_000],
    [0, 200, 100, 100],
  ])("after %i failures from %i ms, capped at %i ms: %i ms", (failures, initialMs, maxMs, expected) => {
    expect(exponentialDelayMs(failures, initialMs, maxMs)).toBe(expected);
  });
});

describe("Backoff", () => {
  it("waits the current delay, doubles up to the cap, and starts over after reset", () => {
    const backoff = new Backoff(1_000, 5_000);
    expect(backoff.delayMs).toBe(1_000);
    expect([1, 2, 3, 4, 5].map(() => backoff.fail())).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
    backoff.reset();
    expect(backoff.fail()).toBe(1_000);
    expect(backoff.delayMs).toBe(2_000);
  });

  it("waits initialMs first even when it is above the cap, then the cap (as the loops it replaced)", () => {
    const backoff = new Backoff(1_000, 300);
    expect([1, 2, 3].map(() => backoff.fail())).toEqual([1_000, 300, 300]);
  });
});
