import { describe, expect, it } from "vitest";
import { explainDigest, isOciDigest } from "./digest.js";

const HEX64 = "a".repeat(64);

describe("isOciDigest", () => {
  it.each([
    `sha256:${HEX64}`,
    `sha512:${"0".repeat(128)}`,
    "blake3:abc",
    "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
    "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
    "a.b_c-d:x=y",
  ])("accepts %s", (digest) => {
    expect(isOciDigest(digest)).toBe(true);
  });

  it.each([
    ["invalid-digest", "algorithm"],
    ["sha256:", "algorithm"],
    [":abc", "algorithm"],
    ["SHA256:" + HEX64, "algorithm"],
    ["sha256:xyz", "64 lowercase hex"],
    [`sha256:${"A".repeat(64)}`, "64 lowercase hex"],
    [`sha256:${HEX64}0`, "64 lowercase hex"],
    [`sha512:${HEX64}`, "128 lowercase hex"],
    ["sha256::abc", "algorithm"],
    ["sha256..x:abc", "algorithm"],
    [`sha256:${HEX64}\n`, "algorithm"],
    ["constructor:abc", undefined],
  ])("%j → %s", (digest, why) => {
    if (why === undefined) {
      expect(isOciDigest(digest)).toBe(true);
    } else {
      expect(isOciDigest(digest)).toBe(false);
      expect(explainDigest(digest)).toContain(why);
    }
  });
});
