import { createHash, randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  BlobWriteError,
  inlineWriter,
  startBlobWriters,
  workerWriter,
  type BlobWriter,
  type BlobWriterFactory,
} from "./blob-writer.js";

const dir = mkdtempSync(join(tmpdir(), "mpo-blob-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Feeds `data` through a writer in `size`-byte buffers, reusing `slots` of them like a download does. */
async function writeThrough(writer: BlobWriter, data: Buffer, size: number, slots: number): Promise<string> {
  const free = Array.from({ length: slots }, () => writer.allocate(size));
  const waiters: (() => void)[] = [];
  let done = 0;
  let failure: Error | undefined;
  for (let offset = 0; offset < data.length; offset += size) {
    while (free.length === 0) await new Promise<void>((resolve) => waiters.push(resolve));
    const buffer = free.pop()!;
    const length = data.copy(buffer, 0, offset, offset + size);
    writer.append(buffer, length, (err) => {
      done++;
      failure ??= err;
      free.push(buffer);
      waiters.shift()?.();
    });
  }
  while (free.length < slots) await new Promise<void>((resolve) => waiters.push(resolve));
  if (failure !== undefined) throw failure;
  expect(done).toBe(Math.ceil(data.length / size));
  return writer.digest();
}

/** Opens a fresh file, writes `data` through `make`, and returns the digest and the file's bytes. */
async function roundTrip(
  make: BlobWriterFactory,
  algorithm: string,
  data: Buffer,
  size: number,
  slots: number,
) {
  const path = join(dir, `f-${Math.random()}`);
  const fd = openSync(path, "w");
  try {
    const digest = await writeThrough(make(algorithm, fd), data, size, slots);
    return { digest, bytes: readFileSync(path) };
  } finally {
    closeSync(fd);
  }
}

describe("blob writers", () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const expected = `sha256:${createHash("sha256").update(data).digest("hex")}`;

  it.each([
    ["inline", inlineWriter],
    ["worker", workerWriter],
  ] as const)(
    "%s: hashes and writes buffers in order, each given back, buffers reused",
    async (_name, make) => {
      // 256 KiB + 1 buffers: writes that are not a multiple of the write slice.
      const { digest, bytes } = await roundTrip(make, "sha256", data, 256 * 1024 + 1, 3);
      expect(digest).toBe(expected);
      expect(bytes.equals(data)).toBe(true);
    },
  );

  it("worker: allocates shared buffers and keeps concurrent files and hashes apart", async () => {
    const other = randomBytes(1024 * 1024);
    expect(workerWriter("sha256", -1).allocate(16).buffer).toBeInstanceOf(SharedArrayBuffer);
    const [a, b] = await Promise.all([
      roundTrip(workerWriter, "sha256", data, 64 * 1024, 2),
      roundTrip(workerWriter, "sha512", other, 100_000, 2),
    ]);
    expect(a.digest).toBe(expected);
    expect(a.bytes.equals(data)).toBe(true);
    expect(b.digest).toBe(`sha512:${createHash("sha512").update(other).digest("hex")}`);
    expect(b.bytes.equals(other)).toBe(true);
  });

  it("worker: refuses buffers it did not allocate (the worker could not read them)", () => {
    expect(() => workerWriter("sha256", -1).append(Buffer.alloc(8), 8, () => undefined)).toThrow(/allocate/);
  });

  it.each([
    ["inline", inlineWriter],
    ["worker", workerWriter],
  ] as const)(
    "%s: a failed write is reported with its code, and later appends fail too",
    async (_name, make) => {
      const path = join(dir, `ro-${Math.random()}`);
      closeSync(openSync(path, "w"));
      const readOnly = openSync(path, "r"); // opened for reading: every write fails with EBADF
      const writer = make("sha256", readOnly);
      const failures: (Error | undefined)[] = [];
      await Promise.all(
        [0, 1].map(
          () =>
            new Promise<void>((resolve) =>
              writer.append(writer.allocate(4), 4, (err) => {
                failures.push(err);
                resolve();
              }),
            ),
        ),
      );
      expect(failures).toHaveLength(2);
      for (const err of failures) {
        expect(err).toBeInstanceOf(BlobWriteError);
        expect(err).toMatchObject({ code: "EBADF", retryable: false });
      }
      writer.dispose();
      closeSync(readOnly);
    },
  );

  it("started ahead of use, the threads serve downloads", async () => {
    // That they do not keep a process alive is tested on the CLI as its own process (cli.test.ts).
    startBlobWriters();
    expect((await roundTrip(workerWriter, "sha256", data, 1024 * 1024, 2)).digest).toBe(expected);
  });

  it("digest of nothing is the empty input's digest; dispose forgets a hash", async () => {
    expect(await workerWriter("sha256", -1).digest()).toBe(`sha256:${createHash("sha256").digest("hex")}`);
    const path = join(dir, "dropped");
    const fd = openSync(path, "w");
    const dropped = workerWriter("sha256", fd);
    const buffer = dropped.allocate(4);
    await new Promise<void>((resolve) => dropped.append(buffer, 4, () => resolve()));
    dropped.dispose();
    closeSync(fd);
    // The worker goes on serving other downloads after one was dropped mid-way.
    expect((await roundTrip(workerWriter, "sha256", data, 512 * 1024, 2)).digest).toBe(expected);
  });
});
