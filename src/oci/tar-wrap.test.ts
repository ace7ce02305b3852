import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { extract } from "tar-stream";
import { describe, expect, it } from "vitest";
import { tarLayerSize, tarPrefix, wrapInTar, type TarFile } from "./tar-wrap.js";

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Entry {
  name: string;
  type: string;
  mode: number;
  size: number;
  mtime: number;
  body: Buffer;
}

async function entries(tar: Buffer): Promise<Entry[]> {
  const reader = extract();
  const out: Entry[] = [];
  Readable.from([tar]).pipe(reader);
  for await (const entry of reader) {
    const body = await collect(entry);
    out.push({
      name: entry.header.name,
      type: entry.header.type ?? "",
      mode: entry.header.mode ?? 0,
      size: entry.header.size ?? 0,
      mtime: (entry.header.mtime?.getTime() ?? 0) / 1000,
      body,
    });
  }
  return out;
}

const file = (path: string, content: Buffer, mode = 0o644): TarFile => ({
  path,
  size: content.byteLength,
  mode,
  mtimeSeconds: 1_767_225_600,
});

describe("wrapInTar", () => {
  const cases: { name: string; path: string; size: number }[] = [
    { name: "a file at the root", path: "config.json", size: 17 },
    { name: "a nested file, a block multiple", path: "weights/model.safetensors", size: 1024 },
    { name: "an empty file", path: "empty.txt", size: 0 },
    { name: "a name over 100 bytes (pax path)", path: `${"d".repeat(90)}/${"f".repeat(60)}.bin`, size: 700 },
    { name: "a non-ASCII name (pax path)", path: "docs/résumé-模型.md", size: 3 },
  ];
  for (const c of cases) {
    it(`${c.name}: folders, then the file with its bytes, mode and mtime; size known up front`, async () => {
      const content = Buffer.alloc(c.size, 7);
      const described = file(c.path, content, 0o640);
      const tar = await collect(wrapInTar(described, Readable.from([content])));
      expect(tar.byteLength).toBe(tarLayerSize(described));
      expect(tar.byteLength % 512).toBe(0);
      const got = await entries(tar);
      const folders = c.path.split("/").slice(0, -1);
      expect(got.map((e) => e.name)).toEqual([
        ...folders.map((_, i) => `${folders.slice(0, i + 1).join("/")}/`),
        c.path,
      ]);
      const last = got.at(-1);
      expect(last?.type).toBe("file");
      expect(last?.mode).toBe(0o640);
      expect(last?.mtime).toBe(1_767_225_600);
      expect(last?.body.equals(content)).toBe(true);
    });
  }

  it("gives the same bytes every time (one digest per file)", async () => {
    const content = Buffer.from("same");
    const digest = async (): Promise<string> =>
      createHash("sha256")
        .update(await collect(wrapInTar(file("a/b", content), Readable.from([content]))))
        .digest("hex");
    expect(await digest()).toBe(await digest());
  });

  it("errors instead of writing a corrupt archive when the source is longer or shorter", async () => {
    const longer = wrapInTar(file("x", Buffer.alloc(4)), Readable.from([Buffer.alloc(5)]));
    await expect(collect(longer)).rejects.toThrow(/not the 4 declared/);
    const shorter = wrapInTar(file("x", Buffer.alloc(4)), Readable.from([Buffer.alloc(3)]));
    await expect(collect(shorter)).rejects.toThrow(/not the 4 declared/);
  });

  it("files over 8 GiB carry a pax size (the ustar field cannot hold it)", async () => {
    const size = 9 * 1024 ** 3 + 5;
    const prefix = tarPrefix({ path: "big.gguf", size, mode: 0o644, mtimeSeconds: 0 });
    const reader = extract();
    const seen = new Promise<number | undefined>((resolve, reject) => {
      reader.on("entry", (header, stream) => {
        resolve(header.size);
        stream.resume();
        reader.destroy();
      });
      reader.on("error", reject);
    });
    reader.write(prefix);
    expect(await seen).toBe(size);
  });
});
