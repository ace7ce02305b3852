import { describe, expect, it } from "vitest";
import { FakeClock, systemClock } from "./clock.js";

describe("clocks", () => {
  it("fake clock wakes sleepers in order when advanced", async () => {
    const clock = new FakeClock(1000);
    const woke: number[] = [];
    void clock.sleep(20).then(() => woke.push(20));
    void clock.sleep(10).then(() => woke.push(10));
    clock.advance(15);
    await Promise.resolve();
    expect(woke).toEqual([10]);
    clock.advance(5);
    await Promise.resolve();
    expect(woke).toEqual([10, 20]);
    expect(clock.now()).toBe(1020);
  });

  it("sleeps abort with the signal's reason", async () => {
    const controller = new AbortController();
    const fake = new FakeClock();
    const pending = fake.sleep(100, controller.signal);
    const real = systemClock.sleep(60_000, controller.signal);
    controller.abort(new Error("stop"));
    await expect(pending).rejects.toThrow("stop");
    await expect(real).rejects.toThrow("stop");
    expect(fake.pendingSleeps).toBe(0);
  });
});
