import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { placeEntries, type StagedEntry } from "./staging.js";

describe("placeEntries: all or nothing", () => {
  let root: string;
  let dest: string;
  let staging: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "mpo-staging-"));
    dest = join(root, "model");
    staging = join(dest, ".modelpack-partial-test");
    await mkdir(join(staging, "replaced"), { recursive: true });
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  const staged = async (name: string, content: string): Promise<string> => {
    const path = join(staging, name);
    await writeFile(path, content);
    return path;
  };
  const file = (path: string, stagedPath: string): StagedEntry => ({
    type: "file",
    path,
    staged: stagedPath,
    mode: 0o644,
    size: 1,
    sha256: "sha256:x",
  });

  it("undoes every step when one fails: placed entries removed, replaced ones back, new folders gone", async () => {
    await writeFile(join(dest, "config.json"), "old");
    await writeFile(join(dest, "notes.txt"), "mine");
    const entries = [
      file("config.json", await staged("0.part", "new")),
      file("weights/a/b.bin", await staged("1.part", "w")),
      { type: "symlink", path: "model", target: "weights/a/b.bin" } as const,
      { type: "directory", path: "docs", mode: 0o755 } as const,
      file("tokenizer.json", join(staging, "missing.part")), // rename fails: ENOENT
    ];
    const err = await placeEntries(
      dest,
      entries.map((entry) => ({ entry, what: "layer 0" })),
      join(staging, "replaced"),
    ).catch((e: unknown) => e);
    expect((err as NodeJS.ErrnoException).code).toBe("ENOENT");
    expect((await readdir(dest)).sort()).toEqual([".modelpack-partial-test", "config.json", "notes.txt"]);
    expect(await readFile(join(dest, "config.json"), "utf8")).toBe("old");
    expect(await readdir(join(staging, "replaced"))).toEqual([]);
  });

  it("places everything and can still be rolled back by the caller", async () => {
    await writeFile(join(dest, "model"), "old file where a link goes");
    const placement = await placeEntries(
      dest,
      [
        { entry: file("config.json", await staged("0.part", "new")), what: "layer 0" },
        { entry: { type: "symlink", path: "model", target: "config.json" }, what: "layer 1" },
      ],
      join(staging, "replaced"),
    );
    expect(await readlink(join(dest, "model"))).toBe("config.json");
    await placement.rollback();
    expect((await readdir(dest)).sort()).toEqual([".modelpack-partial-test", "model"]);
    expect(await readFile(join(dest, "model"), "utf8")).toBe("old file where a link goes");
  });
});
