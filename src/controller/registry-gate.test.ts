import { describe, expect, it } from "vitest";
import { FakeClock } from "../runtime/clock.js";
import { BUSY_RETRY_MS, RegistryGate } from "./registry-gate.js";

describe("RegistryGate", () => {
  it("lets maxPerRegistry reconciles talk to one registry, refuses the next without waiting, and frees a slot on release", () => {
    const gate = new RegistryGate({ clock: new FakeClock(0), maxPerRegistry: 2 });
    const a = gate.enter("slow.example:5000");
    const b = gate.enter("slow.example:5000");
    expect(a.enter && b.enter).toBe(true);
    const c = gate.enter("slow.example:5000");
    expect(c).toMatchObject({ enter: false, reason: "busy" });
    if (!c.enter) {
      expect(c.retryAfterMs).toBeGreaterThanOrEqual(BUSY_RETRY_MS);
      expect(c.retryAfterMs).toBeLessThan(BUSY_RETRY_MS + 500);
    }
    // another registry is not affected
    expect(gate.enter("fast.example").enter).toBe(true);
    if (a.enter) {
      a.release();
      a.release(); // idempotent
    }
    expect(gate.active("slow.example:5000")).toBe(1);
    expect(gate.enter("slow.example:5000").enter).toBe(true);
  });

  it("keeps everyone away from a registry that asked for a pause until the pause is over", () => {
    const clock = new FakeClock(1_000);
    const gate = new RegistryGate({ clock, maxPerRegistry: 4 });
    gate.throttle("busy.example", 300_000);
    expect(gate.enter("busy.example")).toEqual({
      enter: false,
      reason: "throttled",
      retryAfterMs: 300_000,
      until: 301_000,
    });
    gate.throttle("busy.example", 10_000); // an earlier end does not shorten the pause
    clock.advance(299_999);
    expect(gate.enter("busy.example")).toMatchObject({ enter: false, retryAfterMs: 1 });
    clock.advance(1);
    expect(gate.enter("busy.example").enter).toBe(true);
    expect(gate.enter("other.example").enter).toBe(true);
  });

  it("forgets the oldest throttled registries beyond its bound", () => {
    const gate = new RegistryGate({ clock: new FakeClock(0), maxPerRegistry: 1, maxThrottled: 2 });
    gate.throttle("a", 1000);
    gate.throttle("b", 1000);
    gate.throttle("c", 1000);
    expect(gate.enter("a").enter).toBe(true);
    expect(gate.enter("c").enter).toBe(false);
  });

  it("ignores a zero or negative pause and rejects a bad limit", () => {
    const gate = new RegistryGate({ clock: new FakeClock(0), maxPerRegistry: 1 });
    gate.throttle("a", 0);
    gate.throttle("a", -5);
    expect(gate.enter("a").enter).toBe(true);
    expect(() => new RegistryGate({ clock: new FakeClock(0), maxPerRegistry: 0 })).toThrow(RangeError);
  });
});
