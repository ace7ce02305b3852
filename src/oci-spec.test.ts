import { describe, expect, it } from "vitest";
import * as modelpackDigest from "./modelpack/digest.js";
import * as modelpackMediaTypes from "./modelpack/media-types.js";
import * as ociDigest from "./oci/digest.js";
import * as ociMediaTypes from "./oci/media-types.js";
import * as spec from "./oci-spec.js";

describe("the OCI digest grammar and media types have one definition", () => {
  it("modelpack/ uses the shared digest rules", () => {
    expect(modelpackDigest.isOciDigest).toBe(spec.isOciDigest);
    expect(modelpackDigest.explainDigest).toBe(spec.explainDigest);
  });

  it("both sides name the same manifest media types", () => {
    expect(ociMediaTypes.OCI_MANIFEST).toBe(spec.OCI_MANIFEST_MEDIA_TYPE);
    expect(ociMediaTypes.OCI_INDEX).toBe(spec.OCI_INDEX_MEDIA_TYPE);
    expect(modelpackMediaTypes.OCI_MANIFEST_MEDIA_TYPE).toBe(spec.OCI_MANIFEST_MEDIA_TYPE);
    expect(modelpackMediaTypes.OCI_INDEX_MEDIA_TYPE).toBe(spec.OCI_INDEX_MEDIA_TYPE);
  });

  // The registry client's isDigest is the grammar alone; the ModelPack check adds the encoding
  // rules of registered algorithms. On grammar they agree.
  it.each([
    [`sha256:${"a".repeat(64)}`, true, true],
    ["sha256:xyz", true, false],
    ["multihash+base58:QmRZ", true, true],
    ["SHA256:abc", false, false],
    [":abc", false, false],
    ["sha256", false, false],
  ])("%s: grammar %s, well-formed %s", (value, grammar, wellFormed) => {
    expect(ociDigest.isDigest(value)).toBe(grammar);
    expect(spec.DIGEST_GRAMMAR.test(value)).toBe(grammar);
    expect(spec.isOciDigest(value)).toBe(wellFormed);
  });
});
