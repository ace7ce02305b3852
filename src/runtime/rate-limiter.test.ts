import { describe, expect, it } from "vitest";
import { bucketRateLimiter, exponentialFailureRateLimiter, maxOf } from "./rate-limiter.js";

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
