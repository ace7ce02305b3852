import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBlob, STOP } from "./blob-download.js";

/** A loopback server answering every request with `body` in small writes (many reads). */
function serve(body: Buffer): Promise<{ server: Server; url: URL }> {
  const server = createServer((socket) => {
    socket.once("data", () => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
      for (let at = 0; at < body.length; at += 7_000) socket.write(body.subarray(at, at + 7_000));
      socket.end();
    });
    socket.on("error", () => undefined);
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      resolve({ server, url: new URL(`http://127.0.0.1:${port}/blob`) });
    }),
  );
}

describe("openBlob consume into the consumer's memory", () => {
  const body = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i + 4 <= body.length; i += 4) body.writeUInt32LE(i, i);
  let server: Server;
  let url: URL;
  beforeAll(async () => ({ server, url } = await serve(body)));
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it.each([
    ["reads straight into the memory offered", { offerEvery: 1, holdEvery: 0 }],
    ["copies chunks that came while nothing was offered", { offerEvery: 3, holdEvery: 0 }],
    ["copies chunks that came while reading paused", { offerEvery: 1, holdEvery: 5 }],
  ])("%s, every byte once and in order", async (_, { offerEvery, holdEvery }) => {
    const res = await openBlob({ url, headers: {} }, undefined);
    const out = Buffer.alloc(body.length);
    let filled = 0;
    let asked = 0;
    let chunks = 0;
    let inPlace = 0;
    await res.consume(
      (chunk) => {
        chunks++;
        if (chunk.buffer === out.buffer && chunk.byteOffset === out.byteOffset + filled) inPlace++;
        else chunk.copy(out, filled);
        filled += chunk.length;
        return holdEvery > 0 && chunks % holdEvery === 0
          ? new Promise<void>((resolve) => setTimeout(resolve, 1))
          : undefined;
      },
      () =>
        ++asked % offerEvery === 0 ? out.subarray(filled, Math.min(out.length, filled + 100_000)) : undefined,
    );
    expect(filled).toBe(body.length);
    expect(out.equals(body)).toBe(true);
    expect(inPlace).toBeGreaterThan(0);
    if (offerEvery > 1 || holdEvery > 0) expect(inPlace).toBeLessThan(chunks);
  });

  it("stops when the consumer says so, with memory offered", async () => {
    const res = await openBlob({ url, headers: {} }, undefined);
    const out = Buffer.alloc(body.length);
    let filled = 0;
    await res.consume(
      (chunk) => {
        filled += chunk.length;
        return filled >= 1024 * 1024 ? STOP : undefined;
      },
      () => out.subarray(filled),
    );
    expect(filled).toBeLessThan(body.length);
  });
});
