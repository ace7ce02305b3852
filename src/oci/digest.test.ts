import { describe, expect, it } from "vitest";
import { DigestVerifier, isDigest, sha256Digest, verifyBytes } from "./digest.js";
import { DigestMismatchError, RegistryError } from "./errors.js";

const hello = new TextEncoder().encode("hello");
const helloDigest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

describe("digests", () => {
  it.each([
    [helloDigest, true],
    ["sha512:" + "a".repeat(128), true],
    ["multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", true],
    ["sha256", false],
    ["SHA256:abc", false],
    [":abc", false],
  ])("isDigest(%s) = %s", (value, expected) => {
    expect(isDigest(value)).toBe(expected);
  });

  it("hashes and verifies bytes", () => {
    expect(sha256Digest(hello)).toBe(helloDigest);
    expect(() => verifyBytes(hello, helloDigest, "x")).not.toThrow();
    expect(() => verifyBytes(hello, "sha256:" + "0".repeat(64), "x")).toThrow(DigestMismatchError);
    expect(() => verifyBytes(hello, "md5:abc", "x")).toThrow("cannot be verified");
    expect(() => verifyBytes(hello, "sha256:ABC", "x")).toThrow("not a well-formed");
  });

  it("verifies streams by size and digest", () => {
    const ok = new DigestVerifier(helloDigest, 5, "blob");
    ok.update(hello.subarray(0, 2));
    ok.update(hello.subarray(2));
    expect(() => ok.verify()).not.toThrow();

    const short = new DigestVerifier(helloDigest, 6, "blob");
    short.update(hello);
    expect(() => short.verify()).toThrow("received 5 bytes");

    const long = new DigestVerifier(helloDigest, 4, "blob");
    expect(() => long.update(hello)).toThrow(RegistryError);

    const wrong = new DigestVerifier("sha256:" + "0".repeat(64), 5, "blob");
    wrong.update(hello);
    expect(() => wrong.verify()).toThrow(DigestMismatchError);
  });
});
