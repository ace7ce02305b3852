import { describe, expect, it } from "vitest";
import type { ModelConfig } from "./config-schema.js";
import type { OciDescriptor, OciManifest } from "./manifest-schema.js";
import { summarizeModel } from "./summary.js";

const digest = (n: number): string => `sha256:${n.toString(16).padStart(64, "0")}`;
const layer = (n: number, size: number, annotations?: Record<string, string>): OciDescriptor => ({
  mediaType: "application/vnd.cncf.model.weight.v1.raw",
  digest: digest(n),
  size,
  ...(annotations === undefined ? {} : { annotations }),
});
const manifest = (layers: OciDescriptor[]): OciManifest => ({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  artifactType: "application/vnd.cncf.model.manifest.v1+json",
  config: { mediaType: "application/vnd.cncf.model.config.v1+json", digest: digest(99), size: 412 },
  layers,
});
const FULL: ModelConfig = {
  descriptor: { name: "qwen3-8b", family: "qwen3", version: "3.0", vendor: "ignored" },
  config: {
    architecture: "transformer",
    format: "safetensors",
    paramSize: "8b",
    precision: "bfloat16",
    quantization: "awq",
  },
  modelfs: { type: "layers", diffIds: [digest(1)] },
};

describe("summarizeModel", () => {
  it.each([
    [
      "full config, three files",
      manifest([
        layer(1, 726, { "org.cncf.model.filepath": "config.json" }),
        layer(2, 16_000_000_000, { "org.cnai.model.filepath": "model.safetensors" }),
        layer(3, 5_000, { "org.opencontainers.image.title": "README.md" }),
      ]),
      FULL,
      {
        name: "qwen3-8b",
        family: "qwen3",
        version: "3.0",
        architecture: "transformer",
        format: "safetensors",
        paramSize: "8b",
        precision: "bfloat16",
        quantization: "awq",
        sizeBytes: 16_000_005_726,
        layers: 3,
        files: 3,
      },
    ],
    [
      "minimal config, a layer without a file name",
      manifest([layer(1, 10, { "org.cncf.model.filepath": "a" }), layer(2, 20)]),
      { descriptor: {}, config: {}, modelfs: { type: "layers", diffIds: ["x"] } } satisfies ModelConfig,
      { sizeBytes: 30, layers: 2, files: 1 },
    ],
    ["no config, no layers", manifest([]), undefined, { sizeBytes: 0, layers: 0, files: 0 }],
  ])("%s", (_name, m, config, expected) => {
    expect(summarizeModel(m, config)).toStrictEqual(expected);
  });

  it("leaves the config blob out of sizeBytes", () => {
    expect(summarizeModel(manifest([layer(1, 5)])).sizeBytes).toBe(5);
  });
});
