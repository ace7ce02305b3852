import { describe, expect, it } from "vitest";
import { inspectFileMetadata, isRegularFileTypeflag, parseFileMetadata } from "./file-metadata.js";

const MODCTL = {
  name: "config.json",
  mode: 420,
  uid: 1000,
  gid: 1000,
  size: 726,
  mtime: "2026-05-09T10:00:00.123456789+08:00",
  typeflag: 0,
};
const json = (value: unknown): string => JSON.stringify(value);

describe("parseFileMetadata", () => {
  it("parses what modctl writes", () => {
    expect(parseFileMetadata(json(MODCTL))).toEqual(MODCTL);
  });

  it("ignores unknown keys such as AIKit's files", () => {
    expect(parseFileMetadata(json({ ...MODCTL, files: 3 }))).toEqual(MODCTL);
  });

  it("reads the metadata key from a descriptor's annotations, current key first", () => {
    const legacy = { ...MODCTL, name: "legacy" };
    expect(parseFileMetadata({ "org.cnai.model.file.metadata+json": json(legacy) })?.name).toBe("legacy");
    expect(parseFileMetadata({ "org.cnai.model.file.metadata": json(legacy) })?.name).toBe("legacy");
    expect(
      parseFileMetadata({
        "org.cncf.model.file.metadata+json": json(MODCTL),
        "org.cnai.model.file.metadata+json": json(legacy),
      })?.name,
    ).toBe("config.json");
    expect(parseFileMetadata({})).toBeUndefined();
    expect(parseFileMetadata(undefined)).toBeUndefined();
  });

  it.each([
    ["not JSON", "{", "not valid JSON"],
    ["an array", "[]", "not a JSON object"],
    ["a JSON string", json(json(MODCTL)), "not a JSON object"],
    ["duplicate keys", json(MODCTL).replace("{", '{"name":"x",'), "duplicate object key"],
    ["missing mtime", json({ ...MODCTL, mtime: undefined }), "mtime is missing"],
    ["negative mode", json({ ...MODCTL, mode: -1 }), "mode is number -1"],
    ["fractional uid", json({ ...MODCTL, uid: 1.5 }), "uid is number 1.5"],
    ["gid above uint32", json({ ...MODCTL, gid: 2 ** 32 }), "gid is number 4294967296"],
    ["size as string", json({ ...MODCTL, size: "726" }), 'size is string "726"'],
    ["mtime not RFC 3339", json({ ...MODCTL, mtime: "2026-05-09 10:00:00" }), "mtime is string"],
    ["typeflag as a character", json({ ...MODCTL, typeflag: "0" }), 'typeflag is string "0"'],
    ["typeflag above a byte", json({ ...MODCTL, typeflag: 256 }), "typeflag is number 256"],
    ["name not a string", json({ ...MODCTL, name: 1 }), "name is number 1"],
  ])("rejects %s", (_name, value, reason) => {
    expect(parseFileMetadata(value)).toBeUndefined();
    const result = inspectFileMetadata(value);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(reason);
  });

  it.each([
    [0, true],
    [48, true],
    [5, false],
    [2, false],
  ])("typeflag %d is a regular file: %s", (typeflag, regular) => {
    expect(isRegularFileTypeflag(typeflag)).toBe(regular);
    expect(parseFileMetadata(json({ ...MODCTL, typeflag }))?.typeflag).toBe(typeflag);
  });
});
