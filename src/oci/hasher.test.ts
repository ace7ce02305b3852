import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { inlineHasher, workerHasher, type BufferHasher } from "./hasher.js";

/** Feeds `data` through `hasher` in `size`-byte buffers, reusing `slots` of them like a download does. */
async function hashThrough(hasher: BufferHasher, data: Buffer, size: number, slots: number): Promise<string> {
  const free = Array.from({ length: slots }, () => hasher.allocate(size));
  const waiters: (() => void)[] = [];
  let released = 0;
  for (let offset = 0; offset < data.length; offset += size) {
    while (free.length === 0) await new Promise<void>((resolve) => waiters.push(resolve));
    const buffer = free.pop()!;
    const length = data.copy(buffer, 0, offset, offset + size);
    hasher.update(buffer, length, () => {
      released++;
      free.push(buffer);
      waiters.shift()?.();
    });
  }
  const digest = await hasher.digest();
  expect(released).toBe(Math.ceil(data.length / size));
  return digest;
}

describe("hashers", () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const expected = `sha256:${createHash("sha256").update(data).digest("hex")}`;

  it.each([
    ["inline", inlineHasher],
    ["worker", workerHasher],
  ] as const)("%s: hashes buffers in order, releasing each, with buffers reused", async (_name, make) => {
    expect(await hashThrough(make("sha256"), data, 256 * 1024, 3)).toBe(expected);
  });

  it("worker: allocates shared buffers and keeps concurrent hashes apart", async () => {
    const other = randomBytes(1024 * 1024);
    const a = workerHasher("sha256");
    const b = workerHasher("sha512");
    expect(a.allocate(16).buffer).toBeInstanceOf(SharedArrayBuffer);
    const [da, db] = await Promise.all([
      hashThrough(a, data, 64 * 1024, 2),
      hashThrough(b, other, 100_000, 2),
    ]);
    expect(da).toBe(expected);
    expect(db).toBe(`sha512:${createHash("sha512").update(other).digest("hex")}`);
  });

  it("worker: refuses buffers it did not allocate (the worker could not read them)", () => {
    expect(() => workerHasher("sha256").update(Buffer.alloc(8), 8, () => undefined)).toThrow(/allocate/);
  });

  it("digest of nothing is the empty input's digest; dispose forgets a hash", async () => {
    expect(await workerHasher("sha256").digest()).toBe(`sha256:${createHash("sha256").digest("hex")}`);
    const dropped = workerHasher("sha256");
    const buffer = dropped.allocate(4);
    await new Promise<void>((resolve) => dropped.update(buffer, 4, resolve));
    dropped.dispose();
    // The worker goes on serving other hashes after one was dropped mid-way.
    expect(await hashThrough(workerHasher("sha256"), data, 512 * 1024, 2)).toBe(expected);
  });
});
