import { describe, expect, it } from "vitest";
import {
  ALL_LAYER_MEDIA_TYPES,
  ARTIFACT_TYPE_MODEL_MANIFEST,
  isArchiveMediaType,
  LAYER_CLASSES,
  LAYER_ENCODINGS,
  LEGACY_ARTIFACT_TYPE_MODEL_MANIFEST,
  LEGACY_LAYER_MEDIA_TYPES,
  LEGACY_MEDIA_TYPE_MODEL_CONFIG,
  layerMediaType,
  MEDIA_TYPE_MODEL_CONFIG,
  modelConfigFamily,
  modelManifestFamily,
  parseLayerMediaType,
} from "./media-types.js";

// The table of modelpack-spec.md §1.1, written out as the oracle for the derived list.
const SPEC_TABLE: readonly [string, string, string][] = [
  ["application/vnd.cncf.model.weight.v1.raw", "weight", "raw"],
  ["application/vnd.cncf.model.weight.v1.tar", "weight", "tar"],
  ["application/vnd.cncf.model.weight.v1.tar+gzip", "weight", "tar+gzip"],
  ["application/vnd.cncf.model.weight.v1.tar+zstd", "weight", "tar+zstd"],
  ["application/vnd.cncf.model.weight.config.v1.raw", "weight.config", "raw"],
  ["application/vnd.cncf.model.weight.config.v1.tar", "weight.config", "tar"],
  ["application/vnd.cncf.model.weight.config.v1.tar+gzip", "weight.config", "tar+gzip"],
  ["application/vnd.cncf.model.weight.config.v1.tar+zstd", "weight.config", "tar+zstd"],
  ["application/vnd.cncf.model.doc.v1.raw", "doc", "raw"],
  ["application/vnd.cncf.model.doc.v1.tar", "doc", "tar"],
  ["application/vnd.cncf.model.doc.v1.tar+gzip", "doc", "tar+gzip"],
  ["application/vnd.cncf.model.doc.v1.tar+zstd", "doc", "tar+zstd"],
  ["application/vnd.cncf.model.code.v1.raw", "code", "raw"],
  ["application/vnd.cncf.model.code.v1.tar", "code", "tar"],
  ["application/vnd.cncf.model.code.v1.tar+gzip", "code", "tar+gzip"],
  ["application/vnd.cncf.model.code.v1.tar+zstd", "code", "tar+zstd"],
  ["application/vnd.cncf.model.dataset.v1.raw", "dataset", "raw"],
  ["application/vnd.cncf.model.dataset.v1.tar", "dataset", "tar"],
  ["application/vnd.cncf.model.dataset.v1.tar+gzip", "dataset", "tar+gzip"],
  ["application/vnd.cncf.model.dataset.v1.tar+zstd", "dataset", "tar+zstd"],
];

describe("layer media types", () => {
  it("derives exactly the 20 layer types of the spec table, in class-major order", () => {
    expect(ALL_LAYER_MEDIA_TYPES).toEqual(SPEC_TABLE.map(([type]) => type));
    expect(LAYER_CLASSES.length * LAYER_ENCODINGS.length).toBe(20);
  });

  it("derives the legacy list by swapping the family prefix only", () => {
    expect(LEGACY_LAYER_MEDIA_TYPES).toEqual(
      SPEC_TABLE.map(([type]) => type.replace("application/vnd.cncf.", "application/vnd.cnai.")),
    );
  });

  it.each(SPEC_TABLE)("parses %s", (type, layerClass, encoding) => {
    expect(parseLayerMediaType(type)).toEqual({ family: "cncf", class: layerClass, encoding });
    const legacy = type.replace("vnd.cncf.", "vnd.cnai.");
    expect(parseLayerMediaType(legacy)).toEqual({ family: "cnai", class: layerClass, encoding });
  });

  it.each([
    ["application/vnd.cncf.model.weight.v1.raw+gzip", "no compressed raw"],
    ["application/vnd.cncf.model.weight.v1.raw+zstd", "no compressed raw"],
    ["application/vnd.cncf.model.unknown.v1.raw", "no unknown class (PR #53 is open)"],
    ["application/vnd.cncf.model.weight.v2.raw", "only v1"],
    ["application/vnd.CNCF.model.weight.v1.raw", "case-sensitive"],
    ["application/vnd.cncf.model.weight.v1.tar.gzip", "the separator is +"],
    ["application/vnd.cncf.model.layer.v1.tar", "pre-v0.0.1 draft shape"],
    ["application/vnd.cncf.model.config.v1+json", "the config type is not a layer type"],
    ["application/vnd.oci.image.layer.v1.tar", "OCI image layer"],
    [" application/vnd.cncf.model.weight.v1.raw", "no surrounding space"],
    ["application/vnd.cncf.model.weight.v1.raw\n", "no trailing newline"],
    ["", "empty"],
  ])("rejects %j (%s)", (type) => {
    expect(parseLayerMediaType(type)).toBeUndefined();
  });

  it("builds a layer type from class, encoding and family", () => {
    expect(layerMediaType("weight.config", "tar+zstd")).toBe(
      "application/vnd.cncf.model.weight.config.v1.tar+zstd",
    );
    expect(layerMediaType("doc", "raw", "cnai")).toBe("application/vnd.cnai.model.doc.v1.raw");
  });
});

describe("manifest and config types", () => {
  it.each([
    [ARTIFACT_TYPE_MODEL_MANIFEST, "application/vnd.cncf.model.manifest.v1+json", "cncf"],
    [LEGACY_ARTIFACT_TYPE_MODEL_MANIFEST, "application/vnd.cnai.model.manifest.v1+json", "cnai"],
  ] as const)("artifactType %s", (constant, literal, family) => {
    expect(constant).toBe(literal);
    expect(modelManifestFamily(literal)).toBe(family);
  });

  it.each([
    [MEDIA_TYPE_MODEL_CONFIG, "application/vnd.cncf.model.config.v1+json", "cncf"],
    [LEGACY_MEDIA_TYPE_MODEL_CONFIG, "application/vnd.cnai.model.config.v1+json", "cnai"],
  ] as const)("config type %s", (constant, literal, family) => {
    expect(constant).toBe(literal);
    expect(modelConfigFamily(literal)).toBe(family);
  });

  it("does not mistake other types for model types", () => {
    expect(modelManifestFamily("application/vnd.oci.image.manifest.v1+json")).toBeUndefined();
    expect(modelConfigFamily("application/vnd.oci.image.config.v1+json")).toBeUndefined();
  });
});

describe("isArchiveMediaType", () => {
  it.each([
    ["application/vnd.cncf.model.weight.v1.raw", false],
    ["application/vnd.cnai.model.doc.v1.raw", false],
    ["application/vnd.cncf.model.weight.v1.tar", true],
    ["application/vnd.cncf.model.code.v1.tar+gzip", true],
    ["application/vnd.cnai.model.dataset.v1.tar+zstd", true],
    ["application/vnd.oci.image.layer.v1.tar", true],
    ["application/vnd.oci.image.layer.v1.tar+gzip", true],
    ["application/vnd.docker.image.rootfs.diff.tar.gzip", true],
    ["application/x-tar", false],
    ["application/octet-stream", false],
    ["application/vnd.example.model.tar", true],
    ["application/vnd.example.blob+zstd", true],
    ["application/vnd.example.target", false],
  ] as const)("%s → %s", (type, archive) => {
    expect(isArchiveMediaType(type)).toBe(archive);
  });
});
