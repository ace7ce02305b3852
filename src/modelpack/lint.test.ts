import { describe, expect, it } from "vitest";
import { LINT_RULES, lintMountability, mountability } from "./lint.js";
import type { OciDescriptor, OciManifest } from "./manifest-schema.js";

const digest = (n: number): string => `sha256:${n.toString(16).padStart(64, "0")}`;
const CNCF = "org.cncf.model.filepath";
const CNAI = "org.cnai.model.filepath";
const TITLE = "org.opencontainers.image.title";
const UNTESTED = "org.cncf.model.file.mediatype.untested";
const RAW = "application/vnd.cncf.model.weight.v1.raw";
const MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json";
const IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json";
const IMAGE_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

function layer(n: number, mediaType: string, annotations?: Record<string, string>): OciDescriptor {
  return { mediaType, digest: digest(n), size: n, ...(annotations === undefined ? {} : { annotations }) };
}

function manifest(
  layers: OciDescriptor[],
  options: { config?: string; artifactType?: string | null } = {},
): OciManifest {
  const artifactType =
    options.artifactType === undefined ? "application/vnd.cncf.model.manifest.v1+json" : options.artifactType;
  return {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    ...(artifactType === null ? {} : { artifactType }),
    config: { mediaType: options.config ?? MODEL_CONFIG, digest: digest(99), size: 10 },
    layers,
  };
}

const codesOf = (m: OciManifest): string[] =>
  lintMountability(m).map((f) => (f.layer === undefined ? f.code : `${f.code}@${f.layer}`));

describe("lintMountability", () => {
  it.each([
    [
      "raw layers with the cncf path and a title",
      manifest([layer(1, RAW, { [CNCF]: "a", [TITLE]: "a" })]),
      ["MP006"],
    ],
    [
      "raw layers with both filepath keys",
      manifest([layer(1, RAW, { [CNCF]: "a", [CNAI]: "a" })]),
      ["MP006"],
    ],
    [
      "modctl main output: cncf path only",
      manifest([layer(1, RAW, { [CNCF]: "a" }), layer(2, RAW, { [CNCF]: "b" })]),
      ["MP005", "MP006"],
    ],
    ["modctl v0.1.x output: cnai path only", manifest([layer(1, RAW, { [CNAI]: "a" })]), ["MP004", "MP006"]],
    ["no name at all", manifest([layer(1, RAW, {}), layer(2, RAW)]), ["MP003@0", "MP003@1", "MP006"]],
    [
      "tar layer",
      manifest([layer(1, "application/vnd.cncf.model.weight.v1.tar", { [TITLE]: "w.tar" })]),
      ["MP001@0", "MP006"],
    ],
    [
      "gzip and zstd layers",
      manifest([
        layer(1, "application/vnd.cncf.model.doc.v1.tar+gzip", { [TITLE]: "d" }),
        layer(2, "application/vnd.cnai.model.code.v1.tar+zstd", { [TITLE]: "c" }),
      ]),
      ["MP001@0", "MP002@0", "MP001@1", "MP002@1", "MP006"],
    ],
    ["untested class", manifest([layer(1, RAW, { [TITLE]: "a", [UNTESTED]: "true" })]), ["MP007@0", "MP006"]],
    ["tested class", manifest([layer(1, RAW, { [TITLE]: "a", [UNTESTED]: "false" })]), ["MP006"]],
    [
      "unknown layer type",
      manifest([layer(1, "application/octet-stream", { [TITLE]: "a" })]),
      ["MP008@0", "MP006"],
    ],
    ["no layers", manifest([]), ["MP009", "MP006"]],
    [
      "an image: CRI-O unpacks it, containerd mounts it",
      manifest([layer(1, IMAGE_LAYER)], { config: IMAGE_CONFIG, artifactType: null }),
      [],
    ],
    [
      "the hybrid form (artifactType + image config): containerd mounts it, CRI-O mounts the blobs",
      manifest([layer(1, IMAGE_LAYER, { [TITLE]: "layer.tgz" })], { config: IMAGE_CONFIG }),
      ["MP001@0"],
    ],
  ])("%s", (_name, m, expected) => {
    expect(codesOf(m)).toEqual(expected);
  });

  it("aggregates filepath-only findings into one finding per kind", () => {
    const findings = lintMountability(
      manifest([1, 2, 3, 4, 5, 6, 7].map((n) => layer(n, RAW, { [CNCF]: `f${n}` }))),
    );
    const mp005 = findings.find((f) => f.code === "MP005");
    expect(mp005?.layer).toBeUndefined();
    expect(mp005?.message).toContain("layers 0, 1, 2, 3, 4 and 2 more carry only");
  });

  it("takes severities from LINT_RULES", () => {
    const findings = lintMountability(
      manifest([
        layer(1, "application/vnd.cncf.model.weight.v1.tar+gzip", { [CNAI]: "w" }),
        layer(2, RAW, { [UNTESTED]: "true" }),
      ]),
    );
    for (const finding of findings) expect(finding.severity).toBe(LINT_RULES[finding.code].severity);
    expect(findings.map((f) => `${f.code}:${f.severity}`)).toEqual([
      "MP001:warning",
      "MP002:warning",
      "MP003:warning",
      "MP007:info",
      "MP004:warning",
      "MP006:info",
    ]);
  });

  it("says what the user sees", () => {
    const [archive] = lintMountability(
      manifest([layer(1, "application/vnd.cncf.model.weight.v1.tar", { [CNCF]: "w.tar" })]),
    );
    expect(archive?.message).toContain('the pod sees the archive file "w.tar" instead of the files inside');
    const [missing] = lintMountability(manifest([layer(1, RAW)]));
    expect(missing?.message).toContain("the file is silently missing from the pod");
  });

  it("has stable, unique rule names", () => {
    expect(Object.entries(LINT_RULES).map(([code, rule]) => `${code} ${rule.name}`)).toEqual([
      "MP001 archive-layer",
      "MP002 compressed-layer",
      "MP003 missing-file-name",
      "MP004 cnai-filepath-only",
      "MP005 cncf-filepath-only",
      "MP006 not-image-shaped",
      "MP007 untested-media-type",
      "MP008 unknown-layer-media-type",
      "MP009 no-layers",
    ]);
  });
});

describe("mountability", () => {
  it.each([
    [
      "raw layers with titles: CRI-O ≥ 1.33",
      manifest([layer(1, RAW, { [TITLE]: "a" })]),
      { mountable: true, minVersion: "1.33.0" },
    ],
    [
      "raw layers with both filepath keys: CRI-O ≥ 1.33",
      manifest([layer(1, RAW, { [CNCF]: "a", [CNAI]: "a" })]),
      { mountable: true, minVersion: "1.33.0" },
    ],
    [
      "cncf path only: CRI-O ≥ 1.34",
      manifest([layer(1, RAW, { [CNCF]: "a" })]),
      { mountable: true, minVersion: "1.34.0" },
    ],
    [
      "cnai path only: CRI-O 1.33.x only",
      manifest([layer(1, RAW, { [CNAI]: "a" })]),
      { mountable: true, minVersion: "1.33.0", maxVersionExclusive: "1.34.0" },
    ],
    [
      "cnai-only and cncf-only layers: no CRI-O version",
      manifest([layer(1, RAW, { [CNAI]: "a" }), layer(2, RAW, { [CNCF]: "b" })]),
      { mountable: false },
    ],
    [
      "a layer without a name",
      manifest([layer(1, RAW, { [TITLE]: "a" }), layer(2, RAW)]),
      { mountable: false },
    ],
    [
      "a tar layer",
      manifest([layer(1, "application/vnd.cncf.model.weight.v1.tar", { [TITLE]: "a" })]),
      { mountable: false },
    ],
    ["no layers", manifest([]), { mountable: false }],
    [
      "an image",
      manifest([layer(1, IMAGE_LAYER)], { config: IMAGE_CONFIG, artifactType: null }),
      { mountable: true, minVersion: "1.31.0" },
    ],
  ])("CRI-O: %s", (_name, m, expected) => {
    const { crio } = mountability(m);
    expect(crio).toMatchObject(expected);
    if (!expected.mountable) {
      expect(crio.minVersion).toBeUndefined();
    }
    if (!("maxVersionExclusive" in expected)) expect(crio.maxVersionExclusive).toBeUndefined();
    expect(crio.reason.length).toBeGreaterThan(20);
  });

  it.each([
    ["a ModelPack artifact", manifest([layer(1, RAW, { [TITLE]: "a" })]), false],
    ["an image", manifest([layer(1, IMAGE_LAYER)], { config: IMAGE_CONFIG, artifactType: null }), true],
    ["the hybrid form", manifest([layer(1, IMAGE_LAYER)], { config: IMAGE_CONFIG }), true],
    ["an image config with model layers", manifest([layer(1, RAW)], { config: IMAGE_CONFIG }), false],
    ["an image config without layers", manifest([], { config: IMAGE_CONFIG }), false],
  ])("containerd: %s → %s", (_name, m, mountable) => {
    const { containerd } = mountability(m);
    expect(containerd.mountable).toBe(mountable);
    expect(containerd.minVersion).toBe(mountable ? "2.1.0" : undefined);
  });

  it("explains why, naming the layers", () => {
    const { crio, containerd } = mountability(manifest([layer(1, RAW, { [TITLE]: "a" }), layer(2, RAW)]));
    expect(crio.reason).toContain("layer 1 would be missing from the pod");
    expect(containerd.reason).toContain(`this manifest's config is "${MODEL_CONFIG}"`);
  });
});
