import { describe, expect, it } from "vitest";
import { sha256Digest } from "./digest.js";
import { DigestMismatchError, RegistryError } from "./errors.js";
import { chooseFromIndex, manifestDigest, onlyManifest, toManifest } from "./manifests.js";
import type { FetchedManifest } from "./registry-types.js";

const bytes = Buffer.from('{"schemaVersion":2}');
const digest = sha256Digest(bytes);
const other = `sha256:${"0".repeat(64)}`;
const tag = { registry: "r.test", repository: "m", tag: "v1" };
const pinned = { registry: "r.test", repository: "m", digest };

describe("manifestDigest", () => {
  it.each<[string, typeof tag | typeof pinned, string | undefined, string | "mismatch"]>([
    ["a tag: the bytes' digest", tag, undefined, digest],
    ["a tag, header agrees", tag, digest, digest],
    ["a tag, header disagrees", tag, other, "mismatch"],
    ["a tag, header of another algorithm: not compared", tag, `sha512:${"0".repeat(128)}`, digest],
    ["a digest, bytes match", pinned, undefined, digest],
    ["a digest, header disagrees", pinned, other, "mismatch"],
    ["a digest, bytes do not match", { ...pinned, digest: other }, undefined, "mismatch"],
  ])("%s", (_what, ref, announced, expected) => {
    const run = () => manifestDigest(ref, bytes, announced, "manifest r.test/m");
    if (expected === "mismatch") expect(run).toThrow(DigestMismatchError);
    else expect(run()).toBe(expected);
  });
});

describe("toManifest", () => {
  it.each<[string, string, string | undefined, string]>([
    ["mediaType from the document", '{"mediaType":"a/b"}', "c/d", "a/b"],
    ["else from Content-Type, parameters dropped", "{}", "c/d; charset=utf-8", "c/d"],
    ["else empty", "{}", undefined, ""],
  ])("%s", (_what, json, contentType, mediaType) => {
    expect(toManifest(tag, digest, Buffer.from(json), contentType).mediaType).toBe(mediaType);
  });
  it("refuses bytes that are not JSON", () => {
    expect(() => toManifest(tag, digest, Buffer.from("{"), undefined)).toThrow(RegistryError);
  });
});

describe("chooseFromIndex", () => {
  const index = (json: unknown): FetchedManifest => ({
    registry: "r.test",
    repository: "m",
    digest,
    mediaType: "application/vnd.oci.image.index.v1+json",
    bytes,
    json,
  });
  const entry = (d: string) => ({
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: d,
    size: 1,
  });
  it("follows the only manifest", () => {
    expect(chooseFromIndex("r.test/m", index({ manifests: [entry(other)] }), onlyManifest).digest).toBe(
      other,
    );
  });
  it("names the digests to choose from when none is chosen", () => {
    expect(() =>
      chooseFromIndex("r.test/m", index({ manifests: [entry(other), entry(digest)] }), onlyManifest),
    ).toThrow(new RegExp(`reference the manifest you want by digest \\(${other}, ${digest}\\)`));
  });
  it("refuses an index without a manifests list", () => {
    expect(() => chooseFromIndex("r.test/m", index({}), onlyManifest)).toThrow(/no valid "manifests" list/);
  });
});
