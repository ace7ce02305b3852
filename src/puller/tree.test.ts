import { describe, expect, it } from "vitest";
import { PullError } from "./errors.js";
import { linkEscape, MAX_LINK_HOPS, planPlacement, type EntryShape, type TreeNode } from "./tree.js";

const dir = (): TreeNode => ({ type: "directory" });
const file = (sha256 = "sha256:a"): TreeNode => ({ type: "file", sha256 });
const link = (target: string, origin?: string): TreeNode => ({
  type: "symlink",
  target,
  ...(origin !== undefined && { origin }),
});

describe("linkEscape: a symlink's target resolved component by component", () => {
  const chain = new Map<string, TreeNode>([
    ["a", dir()],
    ["a/b", dir()],
    ["a/b/c", dir()],
    ["a/b/c/up", link("../../..")],
    ["a/b/c/abs", link("/etc")],
    ["x", dir()],
    ["x/loop1", link("loop2")],
    ["x/loop2", link("loop1")],
    ["weights", dir()],
    ["weights/w.bin", file()],
  ]);
  it.each<[string, string, string, string | undefined]>([
    ["a plain relative target", "tokenizer.json", "weights/w.bin", undefined],
    ["up to the root from a folder", "a/b/c/root", "../../..", undefined],
    ["lexically inside, through a link to the root", "t", "a/b/c/up/../../../etc/passwd", "through symlink"],
    ["lexically inside, from a subfolder", "a/t", "b/c/up/../../../x", "through symlink"],
    ["one level up from the root", "t", "..", "outside the destination"],
    ["up through a link, staying inside", "t", "a/b/c/up/weights/w.bin", undefined],
    ["an absolute target", "t", "/etc/passwd", "absolute"],
    ["through a link with an absolute target", "t", "a/b/c/abs/passwd", "through symlink"],
    ["a dangling target inside", "t", "missing/../weights", undefined],
    ["a loop", "t", "x/loop1", `more than ${MAX_LINK_HOPS} symlinks`],
    ["an empty target", "t", "", "empty target"],
    ["a file used as a folder, then up", "t", "weights/w.bin/../../..", "outside"],
  ])("%s: %s -> %s", (_, path, target, expected) => {
    const escape = linkEscape(chain, path, target);
    if (expected === undefined) expect(escape).toBeUndefined();
    else expect(escape).toContain(expected);
  });
});

type Layer = { what: string; entries: EntryShape[]; place?: boolean };
const f = (path: string, sha256 = "sha256:a"): EntryShape => ({ type: "file", path, sha256 });
const d = (path: string): EntryShape => ({ type: "directory", path });
const l = (path: string, target: string): EntryShape => ({ type: "symlink", path, target });
const plan = (existing: [string, TreeNode][], layers: Layer[]) =>
  planPlacement(
    new Map(existing),
    layers.map((x) => ({ what: x.what, entries: x.entries, place: x.place ?? true })),
  );
const refusal = (run: () => unknown): PullError => {
  try {
    run();
  } catch (err) {
    if (err instanceof PullError) return err;
    throw err;
  }
  throw new Error("not refused");
};

describe("planPlacement: the layers merged in manifest order over the destination", () => {
  it("places every entry once, in order; identical duplicates and implicit folders once", () => {
    const placed = plan(
      [],
      [
        { what: "L0", entries: [f("config.json"), d("weights"), f("weights/a.bin", "sha256:1")] },
        { what: "L1", entries: [f("config.json"), d("weights"), l("model", "weights/a.bin")] },
      ],
    );
    expect(placed.map((p) => `${p.what}:${p.entry.path}`)).toEqual([
      "L0:config.json",
      "L0:weights",
      "L0:weights/a.bin",
      "L1:model",
    ]);
  });

  it("does not place the entries of a skipped layer, but checks them", () => {
    expect(plan([["a", file()]], [{ what: "L0", entries: [f("a")], place: false }])).toEqual([]);
    expect(
      refusal(() =>
        plan(
          [],
          [
            { what: "L0", entries: [f("a")], place: false },
            { what: "L1", entries: [f("a", "sha256:b")] },
          ],
        ),
      ).code,
    ).toBe("Conflict");
  });

  it("replaces files and symlinks already in the destination", () => {
    expect(
      plan(
        [
          ["a", file("sha256:old")],
          ["b", link("a")],
        ],
        [{ what: "L0", entries: [f("a"), f("b")] }],
      ),
    ).toHaveLength(2);
  });

  it.each<[string, [string, TreeNode][], Layer[], string, RegExp]>([
    [
      "two layers, one path, different files",
      [],
      [
        { what: "L0", entries: [f("t.json", "sha256:1")] },
        { what: "L1", entries: [f("t.json", "sha256:2")] },
      ],
      "Conflict",
      /"t\.json" is a file in L0 and a different file in L1/,
    ],
    [
      "one layer, one path twice",
      [],
      [{ what: "L0", entries: [f("t", "sha256:1"), f("t", "sha256:2")] }],
      "Conflict",
      /in L0 and a different file in L0/,
    ],
    [
      "a file and a symlink at one path",
      [],
      [
        { what: "L0", entries: [f("t")] },
        { what: "L1", entries: [l("t", "x")] },
      ],
      "Conflict",
      /file in L0 and a different symlink in L1/,
    ],
    [
      "a file where another layer needs a folder",
      [],
      [
        { what: "L0", entries: [f("w")] },
        { what: "L1", entries: [f("w/a.bin")] },
      ],
      "Conflict",
      /needs a folder "w", but L0 has a file there/,
    ],
    [
      "a file where an earlier layer made a folder",
      [],
      [
        { what: "L0", entries: [f("w/a.bin")] },
        { what: "L1", entries: [f("w")] },
      ],
      "Conflict",
      /folder in L0 and a different file in L1/,
    ],
    [
      "a write through a symlink of the layer",
      [],
      [{ what: "L0", entries: [l("link", "."), f("link/evil")] }],
      "UnsafePath",
      /written through symlink "link" of L0/,
    ],
    [
      "a write through a symlink already there",
      [["link", link("..")]],
      [{ what: "L0", entries: [f("link/evil")] }],
      "UnsafePath",
      /through symlink "link" of the destination/,
    ],
    [
      "a folder over a symlink already there",
      [["w", link("x")]],
      [{ what: "L0", entries: [d("w")] }],
      "UnsafePath",
      /already has a symlink there/,
    ],
    [
      "a file over a folder already there",
      [["w", dir()]],
      [{ what: "L0", entries: [f("w")] }],
      "Conflict",
      /already has a folder there/,
    ],
    [
      "an escaping chain within a layer",
      [],
      [{ what: "L0", entries: [d("a/b"), l("a/b/up", "../.."), l("t", "a/b/up/../../etc/passwd")] }],
      "UnsafePath",
      /^L0: symlink "t" -> .*outside the destination \(through symlink "a\/b\/up"/,
    ],
    [
      "an escaping chain across layers",
      [],
      [
        { what: "L0", entries: [d("a/b"), l("a/b/up", "../..")] },
        { what: "L1", entries: [l("t", "a/b/up/../../etc")] },
      ],
      "UnsafePath",
      /^L1: symlink "t"/,
    ],
    [
      "a link already there that the new one makes escape",
      [["t", link("a/b/up/../../etc")]],
      [{ what: "L0", entries: [d("a/b"), l("a/b/up", "../..")] }],
      "UnsafePath",
      /the destination's symlink "t" .*outside.* of L0/,
    ],
  ])("refuses %s", (_, existing, layers, code, message) => {
    const err = refusal(() => plan(existing, layers));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
  });
});
