import { describe, expect, it } from "vitest";
import type { ModelConfig } from "./config-schema.js";
import { isJsonObject } from "./issues.js";
import { layerFilePath, OciDescriptor, OciManifest, validateManifest } from "./manifest.js";

const hex = (n: number): string => n.toString(16).padStart(64, "0");
const digest = (n: number): string => `sha256:${hex(n)}`;
const METADATA = JSON.stringify({
  name: "config.json",
  mode: 420,
  uid: 1000,
  gid: 1000,
  size: 726,
  mtime: "2026-05-09T10:00:00.123456789+08:00",
  typeflag: 0,
});

type Json = Record<string, unknown>;

function layer(n: number, mediaType: string, filepath: string | undefined, extra: Json = {}): Json {
  const annotations: Json = { "org.cncf.model.file.metadata+json": METADATA };
  if (filepath !== undefined) annotations["org.cncf.model.filepath"] = filepath;
  return { mediaType, digest: digest(n), size: 100 * n, annotations, ...extra };
}

/** The shape modctl (main) builds: weight.config, weight, doc; raw layers; one manifest annotation. */
function modctlManifest(): Json & { layers: Json[]; config: Json } {
  return {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/vnd.cncf.model.manifest.v1+json",
    config: { mediaType: "application/vnd.cncf.model.config.v1+json", digest: digest(99), size: 412 },
    layers: [
      layer(1, "application/vnd.cncf.model.weight.config.v1.raw", "config.json"),
      layer(2, "application/vnd.cncf.model.weight.v1.raw", "model.safetensors"),
      layer(3, "application/vnd.cncf.model.doc.v1.raw", "README.md"),
    ],
    annotations: { "org.cncf.modctl.modelfile": "# Generated at 2026-05-09T10:00:05+08:00\nNAME qwen3\n" },
  };
}

function modelConfig(diffIds: string[]): ModelConfig {
  return { descriptor: { name: "qwen3" }, config: {}, modelfs: { type: "layers", diffIds } };
}

const codes = (issues: readonly { code: string; path: string }[]): string[] =>
  issues.map((i) => `${i.code}@${i.path}`);

function mutated(change: (m: ReturnType<typeof modctlManifest>) => void): Json {
  const m = modctlManifest();
  change(m);
  return m;
}

function layerAt(m: { layers: Json[] }, index: number): Json {
  const found = m.layers[index];
  if (found === undefined) throw new Error(`no layer ${index}`);
  return found;
}

function annotationsOf(m: { layers: Json[] }, index: number): Json {
  const annotations = layerAt(m, index)["annotations"];
  if (!isJsonObject(annotations)) throw new Error("no annotations");
  return annotations;
}

describe("validateManifest: a conformant artifact", () => {
  it("has no errors and no warnings", () => {
    const m = modctlManifest();
    expect(validateManifest(m)).toEqual({ errors: [], warnings: [] });
    expect(validateManifest(m, modelConfig([digest(1), digest(2), digest(3)]))).toEqual({
      errors: [],
      warnings: [],
    });
    expect(OciManifest.safeParse(m).success).toBe(true);
  });
});

describe("validateManifest: errors (MUST)", () => {
  it.each([
    ["not an object", [] as unknown, "manifest.schema.type@"],
    ["schemaVersion 1", mutated((m) => (m["schemaVersion"] = 1)), "manifest.schema.enum@schemaVersion"],
    [
      "schemaVersion missing",
      mutated((m) => delete m["schemaVersion"]),
      "manifest.schema.required@schemaVersion",
    ],
    ["mediaType missing", mutated((m) => delete m["mediaType"]), "manifest.media-type@mediaType"],
    [
      "mediaType Docker v2",
      mutated((m) => (m["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json")),
      "manifest.media-type@mediaType",
    ],
    [
      "mediaType index",
      mutated((m) => (m["mediaType"] = "application/vnd.oci.image.index.v1+json")),
      "manifest.media-type@mediaType",
    ],
    [
      "artifactType of another kind",
      mutated((m) => (m["artifactType"] = "application/vnd.example.thing+json")),
      "manifest.artifact-type@artifactType",
    ],
    [
      "artifactType not a string",
      mutated((m) => (m["artifactType"] = 1)),
      "manifest.schema.type@artifactType",
    ],
    [
      "config media type of an image",
      mutated((m) => (m.config["mediaType"] = "application/vnd.oci.image.config.v1+json")),
      "manifest.config-media-type@config.mediaType",
    ],
    [
      "config missing",
      mutated((m) => Reflect.deleteProperty(m, "config")),
      "manifest.schema.required@config",
    ],
    [
      "layers missing",
      mutated((m) => Reflect.deleteProperty(m, "layers")),
      "manifest.schema.required@layers",
    ],
    [
      "digest not sha256-shaped",
      mutated((m) => (layerAt(m, 0)["digest"] = "sha256:abc")),
      "manifest.schema.digest@layers[0].digest",
    ],
    [
      "digest grammar",
      mutated((m) => (m.config["digest"] = "SHA256:" + hex(1))),
      "manifest.schema.digest@config.digest",
    ],
    [
      "digest missing",
      mutated((m) => delete layerAt(m, 1)["digest"]),
      "manifest.schema.required@layers[1].digest",
    ],
    ["size negative", mutated((m) => (layerAt(m, 0)["size"] = -1)), "manifest.schema.minimum@layers[0].size"],
    ["size fractional", mutated((m) => (layerAt(m, 0)["size"] = 1.5)), "manifest.schema.type@layers[0].size"],
    [
      "size as string",
      mutated((m) => (layerAt(m, 0)["size"] = "100")),
      "manifest.schema.type@layers[0].size",
    ],
    [
      "size beyond 2^53",
      mutated((m) => (layerAt(m, 0)["size"] = 2 ** 60)),
      "manifest.schema.maximum@layers[0].size",
    ],
    [
      "layer mediaType not a media type",
      mutated((m) => (layerAt(m, 2)["mediaType"] = "weights")),
      "manifest.schema.pattern@layers[2].mediaType",
    ],
    [
      "annotations not an object",
      mutated((m) => (m["annotations"] = ["x"])),
      "manifest.schema.type@annotations",
    ],
    [
      "urls not strings",
      mutated((m) => (layerAt(m, 0)["urls"] = [1])),
      "manifest.schema.type@layers[0].urls[0]",
    ],
  ])("%s", (_name, manifest, expected) => {
    const result = validateManifest(manifest);
    expect(codes(result.errors)).toContain(expected);
  });

  it("names what was found and what is allowed", () => {
    const result = validateManifest(
      mutated((m) => (m.config["mediaType"] = "application/vnd.oci.image.config.v1+json")),
    );
    expect(result.errors[0]?.message).toBe(
      'config.mediaType is "application/vnd.oci.image.config.v1+json"; a ModelPack manifest\'s config must be "application/vnd.cncf.model.config.v1+json" (or the legacy "application/vnd.cnai.model.config.v1+json") (an image config: this looks like a container image, not a ModelPack artifact)',
    );
    const digestError = validateManifest(mutated((m) => (layerAt(m, 0)["digest"] = "sha256:abc"))).errors[0];
    expect(digestError?.message).toBe(
      'layers[0].digest is string "sha256:abc": a sha256 digest must have 64 lowercase hex characters after the colon',
    );
  });

  it("accepts digests of unregistered algorithms that follow the grammar", () => {
    expect(validateManifest(mutated((m) => (layerAt(m, 0)["digest"] = "blake3:abcdef"))).errors).toEqual([]);
  });
});

describe("validateManifest: legacy and fallback (warnings)", () => {
  it("accepts a legacy vnd.cnai artifact with warnings only", () => {
    const m = mutated((m) => {
      m["artifactType"] = "application/vnd.cnai.model.manifest.v1+json";
      m.config["mediaType"] = "application/vnd.cnai.model.config.v1+json";
      m.layers.forEach((l, i) => {
        l["mediaType"] = String(l["mediaType"]).replace("vnd.cncf.", "vnd.cnai.");
        const a = annotationsOf(m, i);
        a["org.cnai.model.filepath"] = a["org.cncf.model.filepath"];
        a["org.cnai.model.file.metadata+json"] = a["org.cncf.model.file.metadata+json"];
        delete a["org.cncf.model.filepath"];
        delete a["org.cncf.model.file.metadata+json"];
      });
      m["annotations"] = { "org.cnai.modctl.modelfile": "NAME x" };
    });
    const result = validateManifest(m);
    expect(result.errors).toEqual([]);
    expect(codes(result.warnings)).toEqual([
      "manifest.legacy-media-type@artifactType",
      "manifest.legacy-media-type@config.mediaType",
      "manifest.legacy-media-type@layers",
    ]);
  });

  it("falls back to config.mediaType when artifactType is absent, with a warning", () => {
    const result = validateManifest(mutated((m) => delete m["artifactType"]));
    expect(result.errors).toEqual([]);
    expect(codes(result.warnings)).toEqual(["manifest.artifact-type-missing@artifactType"]);
  });

  it("warns when current and legacy identifiers are mixed", () => {
    const result = validateManifest(
      mutated((m) => (layerAt(m, 1)["mediaType"] = "application/vnd.cnai.model.weight.v1.raw")),
    );
    expect(codes(result.warnings)).toEqual(["manifest.legacy-media-type@layers", "manifest.mixed-families@"]);
    expect(result.warnings[1]?.message).toContain("layers[1].mediaType");
  });

  it("does not call both filepath keys on one layer a mix: that is deliberate compatibility", () => {
    const result = validateManifest(
      mutated((m) =>
        m.layers.forEach(
          (_, i) =>
            (annotationsOf(m, i)["org.cnai.model.filepath"] = annotationsOf(m, i)["org.cncf.model.filepath"]),
        ),
      ),
    );
    expect(result.warnings).toEqual([]);
  });

  it("calls a cnai-only annotation in a cncf artifact a mix", () => {
    const result = validateManifest(
      mutated((m) => {
        const a = annotationsOf(m, 0);
        a["org.cnai.model.filepath"] = a["org.cncf.model.filepath"];
        delete a["org.cncf.model.filepath"];
      }),
    );
    expect(codes(result.warnings)).toEqual(["manifest.mixed-families@"]);
    expect(result.warnings[0]?.message).toContain('layers[0].annotations["org.cnai.model.filepath"]');
  });
});

describe("validateManifest: layer warnings (SHOULD)", () => {
  it.each([
    ["no layers", mutated((m) => (m.layers = [])), "manifest.layers.empty@layers"],
    [
      "unknown layer media type",
      mutated((m) => (layerAt(m, 0)["mediaType"] = "application/octet-stream")),
      "manifest.layer.unknown-media-type@layers[0].mediaType",
    ],
    [
      "annotation value not a string",
      mutated((m) => (annotationsOf(m, 2)["org.example.count"] = 3)),
      'manifest.annotation.not-string@layers[2].annotations["org.example.count"]',
    ],
    [
      "manifest annotation value not a string",
      mutated((m) => (m["annotations"] = { "org.example.flag": true })),
      'manifest.annotation.not-string@annotations["org.example.flag"]',
    ],
    [
      "untested is not true/false",
      mutated((m) => (annotationsOf(m, 0)["org.cncf.model.file.mediatype.untested"] = "yes")),
      'manifest.layer.untested-value@layers[0].annotations["org.cncf.model.file.mediatype.untested"]',
    ],
    [
      "legacy untested is not true/false",
      mutated((m) => {
        annotationsOf(m, 0)["org.cnai.model.file.mediatype.untested"] = "TRUE";
        annotationsOf(m, 0)["org.cncf.model.file.mediatype.untested"] = "true";
      }),
      'manifest.layer.untested-value@layers[0].annotations["org.cnai.model.file.mediatype.untested"]',
    ],
    [
      "file metadata is not JSON",
      mutated((m) => (annotationsOf(m, 1)["org.cncf.model.file.metadata+json"] = "{name: x}")),
      'manifest.layer.file-metadata@layers[1].annotations["org.cncf.model.file.metadata+json"]',
    ],
    [
      "file metadata lacks a key",
      mutated(
        (m) => (annotationsOf(m, 1)["org.cncf.model.file.metadata+json"] = JSON.stringify({ name: "x" })),
      ),
      'manifest.layer.file-metadata@layers[1].annotations["org.cncf.model.file.metadata+json"]',
    ],
    [
      "v0.0.4 metadata key is malformed",
      mutated((m) => (annotationsOf(m, 1)["org.cnai.model.file.metadata"] = "[]")),
      "", // the current key wins, so the legacy one is not read
    ],
    [
      "missing file path",
      mutated((m) => delete annotationsOf(m, 0)["org.cncf.model.filepath"]),
      "manifest.layer.missing-filepath@layers[0].annotations",
    ],
    [
      "absolute file path",
      mutated((m) => (annotationsOf(m, 0)["org.cncf.model.filepath"] = "/etc/passwd")),
      'manifest.layer.unsafe-filepath@layers[0].annotations["org.cncf.model.filepath"]',
    ],
    [
      "parent segment",
      mutated((m) => (annotationsOf(m, 0)["org.cncf.model.filepath"] = "../../x")),
      'manifest.layer.unsafe-filepath@layers[0].annotations["org.cncf.model.filepath"]',
    ],
    [
      "backslash",
      mutated((m) => (annotationsOf(m, 0)["org.cncf.model.filepath"] = "sub\\x")),
      'manifest.layer.unsafe-filepath@layers[0].annotations["org.cncf.model.filepath"]',
    ],
    [
      "empty segment",
      mutated((m) => (annotationsOf(m, 0)["org.cncf.model.filepath"] = "a//b")),
      'manifest.layer.unsafe-filepath@layers[0].annotations["org.cncf.model.filepath"]',
    ],
    [
      "NUL",
      mutated((m) => (annotationsOf(m, 0)["org.cncf.model.filepath"] = "a\0b")),
      'manifest.layer.unsafe-filepath@layers[0].annotations["org.cncf.model.filepath"]',
    ],
    [
      "unsafe title",
      mutated((m) => {
        delete annotationsOf(m, 0)["org.cncf.model.filepath"];
        annotationsOf(m, 0)["org.opencontainers.image.title"] = "../x";
      }),
      'manifest.layer.unsafe-filepath@layers[0].annotations["org.opencontainers.image.title"]',
    ],
    [
      "duplicate paths",
      mutated((m) => (annotationsOf(m, 2)["org.cncf.model.filepath"] = "config.json")),
      'manifest.layer.duplicate-filepath@layers[2].annotations["org.cncf.model.filepath"]',
    ],
    [
      "conflicting cncf and cnai paths",
      mutated((m) => (annotationsOf(m, 0)["org.cnai.model.filepath"] = "other.json")),
      "manifest.layer.filepath-conflict@layers[0].annotations",
    ],
  ])("%s", (_name, manifest, expected) => {
    const result = validateManifest(manifest);
    expect(result.errors).toEqual([]);
    expect(codes(result.warnings)).toEqual(expected === "" ? [] : [expected]);
  });

  it("drops non-string annotation values when parsing, so one bad value does not sink the manifest", () => {
    const m = mutated((m) => (annotationsOf(m, 0)["org.example.count"] = 3));
    const parsed = OciManifest.safeParse(m);
    expect(parsed.success).toBe(true);
    expect(parsed.data?.layers[0]?.annotations).not.toHaveProperty("org.example.count");
    expect(parsed.data?.layers[0]?.annotations?.["org.cncf.model.filepath"]).toBe("config.json");
  });

  it("cannot be tricked by a __proto__ annotation into inheriting annotations", () => {
    const descriptor = JSON.parse(
      `{"mediaType":"application/octet-stream","digest":"${digest(1)}","size":1,"annotations":{"__proto__":{"org.cncf.model.filepath":"../x"}}}`,
    ) as unknown;
    const parsed = OciDescriptor.safeParse(descriptor);
    expect(parsed.success).toBe(true);
    if (!parsed.success) return;
    expect(Object.getPrototypeOf(parsed.data.annotations)).toBe(Object.prototype);
    expect(layerFilePath(parsed.data)).toBeUndefined();
  });
});

describe("validateManifest: diffIds cross-checks", () => {
  it.each([
    ["fewer diffIds than layers", [digest(1), digest(2)], ["manifest.diffids.count@layers"]],
    [
      "more diffIds than layers",
      [digest(1), digest(2), digest(3), digest(4)],
      ["manifest.diffids.count@layers"],
    ],
    [
      "order mismatch",
      [digest(2), digest(1), digest(3)],
      ["manifest.diffids.mismatch@layers[0].digest", "manifest.diffids.mismatch@layers[1].digest"],
    ],
    ["unknown diffId", [digest(1), digest(7), digest(3)], ["manifest.diffids.mismatch@layers[1].digest"]],
  ])("%s", (_name, diffIds, expected) => {
    const result = validateManifest(modctlManifest(), modelConfig(diffIds));
    expect(codes(result.warnings)).toEqual(expected);
  });

  it("says when the DiffID exists at another index", () => {
    const result = validateManifest(modctlManifest(), modelConfig([digest(2), digest(1), digest(3)]));
    expect(result.warnings[0]?.message).toContain(
      "it is modelfs.diffIds[1], so the DiffIDs are out of layer order",
    );
  });

  it("skips compressed layers, whose DiffID is the digest of the decompressed tar", () => {
    const m = mutated((m) => (layerAt(m, 1)["mediaType"] = "application/vnd.cncf.model.weight.v1.tar+zstd"));
    expect(validateManifest(m, modelConfig([digest(1), digest(42), digest(3)])).warnings).toEqual([]);
  });

  it("checks tar layers like raw ones", () => {
    const m = mutated((m) => (layerAt(m, 1)["mediaType"] = "application/vnd.cncf.model.weight.v1.tar"));
    expect(codes(validateManifest(m, modelConfig([digest(1), digest(42), digest(3)])).warnings)).toEqual([
      "manifest.diffids.mismatch@layers[1].digest",
    ]);
  });
});
