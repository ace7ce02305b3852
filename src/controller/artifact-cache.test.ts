import { describe, expect, it } from "vitest";
import type { ArtifactInspection } from "../artifact/inspect.js";
import { mountability, summarizeModel, type OciManifest } from "../modelpack/index.js";
import { compactInspection, inspectionBytes } from "./artifact-cache.js";

const D = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json";
const MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json";
const layer = (mediaType: string, annotations?: Record<string, string>): OciManifest["layers"][number] => ({
  mediaType,
  digest: D(3),
  size: 100,
  ...(annotations !== undefined && {
    annotations: {
      ...annotations,
      "org.cncf.model.file.metadata+json": JSON.stringify({ name: "x", padding: "p".repeat(4096) }),
      "org.example.noise": "n".repeat(4096),
    },
  }),
});

const manifests: [string, OciManifest][] = [
  [
    "raw layers named by title and filepath",
    {
      schemaVersion: 2,
      artifactType: "application/vnd.cncf.model.manifest.v1+json",
      config: { mediaType: MODEL_CONFIG, digest: D(1), size: 10 },
      layers: [
        layer("application/vnd.cncf.model.weight.v1.raw", {
          "org.opencontainers.image.title": "w.bin",
          "org.cncf.model.filepath": "w.bin",
        }),
      ],
    },
  ],
  [
    "legacy filepath only (CRI-O 1.33.x)",
    {
      schemaVersion: 2,
      artifactType: "application/vnd.cnai.model.manifest.v1+json",
      config: { mediaType: MODEL_CONFIG, digest: D(1), size: 10 },
      layers: [layer("application/vnd.cnai.model.weight.v1.raw", { "org.cnai.model.filepath": "w.bin" })],
    },
  ],
  [
    "an unnamed and an archive layer",
    {
      schemaVersion: 2,
      artifactType: "application/vnd.cncf.model.manifest.v1+json",
      config: { mediaType: MODEL_CONFIG, digest: D(1), size: 10 },
      layers: [
        layer("application/vnd.cncf.model.weight.v1.raw"),
        layer("application/vnd.cncf.model.weight.v1.tar", {}),
      ],
    },
  ],
  [
    "image-shaped",
    {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: IMAGE_CONFIG, digest: D(1), size: 10, annotations: { big: "b".repeat(4096) } },
      layers: [layer("application/vnd.oci.image.layer.v1.tar")],
      annotations: { "org.example.padding": "z".repeat(100_000) },
      subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: D(2), size: 5 },
    },
  ],
];

describe("compactInspection", () => {
  it.each(manifests)("keeps what status and admission read: %s", (_name, manifest) => {
    const full: ArtifactInspection = {
      reference: "r.example/m:v1",
      pinnedReference: `r.example/m@${D(9)}`,
      digest: D(9),
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      ...(manifest.artifactType !== undefined && { artifactType: manifest.artifactType }),
      manifest,
      configJson: { padding: "c".repeat(200_000) },
      summary: summarizeModel(manifest),
      valid: false,
      errors: [{ code: "E", path: "config", message: "bad" }],
      warnings: [{ code: "W", path: "", message: "meh" }],
      lint: [],
      legacy: { specVersion: "v0.0.1", message: "old" },
    };
    const compact = compactInspection(full);
    expect(mountability(compact.manifest!)).toEqual(mountability(manifest));
    expect(compact.manifest?.config.mediaType).toBe(manifest.config.mediaType);
    const { manifest: _m, configJson: _c, ...kept } = full;
    expect(compact).toMatchObject(kept);
    expect(compact.configJson).toBeUndefined();
    expect(compact.manifest?.annotations).toBeUndefined();
    expect(compact.manifest?.subject).toBeUndefined();
    expect(inspectionBytes(compact)).toBeLessThan(inspectionBytes(full) / 10);
  });

  it("leaves an inspection without a manifest as it is, minus the config", () => {
    const bare: ArtifactInspection = {
      reference: "r.example/m:v1",
      pinnedReference: `r.example/m@${D(9)}`,
      digest: D(9),
      mediaType: "text/plain",
      valid: false,
      errors: [],
      warnings: [],
      lint: [],
    };
    expect(compactInspection({ ...bare, configJson: "x" })).toEqual(bare);
  });
});
