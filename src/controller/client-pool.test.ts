import { describe, expect, it } from "vitest";
import { clientPool } from "./client-pool.js";

describe("clientPool", () => {
  it("keeps one client per credential identity and closes the oldest beyond the bound", () => {
    const closed: string[] = [];
    let made = 0;
    const pool = clientPool(
      () => {
        const id = `c${made++}`;
        return { id, close: () => (closed.push(id), Promise.resolve()) };
      },
      {},
      2,
    );
    const creds = (identity: string) => ({ identity, store: { lookup: () => undefined } });
    const a = pool(creds("a"));
    expect(pool(creds("a"))).toBe(a);
    pool(creds("b"));
    expect(closed).toEqual([]);
    pool(creds("c"));
    expect(closed).toEqual(["c0"]);
    expect(pool(creds("a"))).not.toBe(a);
    expect(made).toBe(4);
  });
});
