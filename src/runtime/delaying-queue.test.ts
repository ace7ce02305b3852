import { describe, expect, it } from "vitest";
import { FakeClock } from "./clock.js";
import { createDelayingQueue } from "./delaying-queue.js";

/** Lets pending promise callbacks run (one macrotask turn); not a sleep. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("delaying queue", () => {
  it("adds a key only once its delay has passed on the injected clock", async () => {
    const clock = new FakeClock(1_000);
    const queue = createDelayingQueue({ clock });
    queue.addAfter("a", 50);
    expect(queue.len()).toBe(0);
    clock.advance(49);
    await tick();
    expect(queue.len()).toBe(0);
    clock.advance(1);
    await tick();
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe("a");
  });

  it("adds at once when the delay is zero or negative", () => {
    const queue = createDelayingQueue({ clock: new FakeClock() });
    queue.addAfter("a", 0);
    queue.addAfter("b", -5);
    expect(queue.len()).toBe(2);
  });

  it("keeps the earliest deadline for a key added twice", async () => {
    const clock = new FakeClock();
    const queue = createDelayingQueue({ clock });
    queue.addAfter("a", 100);
    queue.addAfter("a", 30); // earlier: wins
    queue.addAfter("a", 60); // later: ignored
    clock.advance(30);
    await tick();
    expect(queue.len()).toBe(1);
    queue.done((await queue.get())!);
    clock.advance(100);
    await tick();
    expect(queue.len()).toBe(0);
    expect(clock.pendingSleeps).toBe(0);
  });

  it("releases keys in deadline order with a single pending timer", async () => {
    const clock = new FakeClock();
    const queue = createDelayingQueue({ clock });
    queue.addAfter("late", 300);
    queue.addAfter("early", 100);
    queue.addAfter("middle", 200);
    expect(clock.pendingSleeps).toBe(1);
    clock.advance(100);
    await tick();
    clock.advance(100);
    await tick();
    clock.advance(100);
    await tick();
    expect([await queue.get(), await queue.get(), await queue.get()]).toEqual(["early", "middle", "late"]);
    expect(clock.pendingSleeps).toBe(0);
  });

  it("releases every key that became due in one clock step", async () => {
    const clock = new FakeClock();
    const queue = createDelayingQueue({ clock });
    for (let i = 0; i < 100; i++) queue.addAfter(`k${i}`, 1 + (i % 7));
    clock.advance(10);
    await tick();
    expect(queue.len()).toBe(100);
  });

  it("a waiting key and a queued key of the same name still collapse in the queue", async () => {
    const clock = new FakeClock();
    const queue = createDelayingQueue({ clock });
    queue.add("a");
    queue.addAfter("a", 10);
    clock.advance(10);
    await tick();
    expect(queue.len()).toBe(1);
  });

  it("shutdown cancels the timer and drops waiting keys", async () => {
    const clock = new FakeClock();
    const queue = createDelayingQueue({ clock });
    queue.addAfter("a", 10);
    expect(clock.pendingSleeps).toBe(1);
    queue.shutDown();
    expect(clock.pendingSleeps).toBe(0);
    queue.addAfter("b", 10);
    expect(clock.pendingSleeps).toBe(0);
    clock.advance(20);
    await tick();
    expect(queue.len()).toBe(0);
    expect(await queue.get()).toBeUndefined();
  });
});
