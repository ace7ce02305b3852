import { describe, expect, it } from "vitest";
import type { OciManifest } from "../modelpack/index.js";
import { tarLayerSize } from "../oci/tar-wrap.js";
import {
  buildVariant,
  checkVariant,
  imageLayerMediaType,
  parsePlatform,
  planVariantLayers,
  VariantImageConfig,
  VariantImageManifest,
  VariantIndex,
  type VariantLayer,
} from "./image-variant.js";

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const ARTIFACT = d("a");
const manifest: OciManifest = {
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  artifactType: "application/vnd.cncf.model.manifest.v1+json",
  config: { mediaType: "application/vnd.cncf.model.config.v1+json", digest: d("c"), size: 10 },
  layers: [
    {
      mediaType: "application/vnd.cncf.model.weight.v1.raw",
      digest: d("1"),
      size: 1000,
      annotations: { "org.cncf.model.filepath": "weights/model.safetensors" },
    },
    {
      mediaType: "application/vnd.cncf.model.weight.config.v1.tar",
      digest: d("2"),
      size: 2048,
      annotations: { "org.cncf.model.filepath": "config.json" },
    },
    { mediaType: "application/vnd.cncf.model.doc.v1.tar+zstd", digest: d("3"), size: 300 },
  ],
};

/** A variant as publish-image writes it, with its layers' digests made up. */
function variant(edit: (layers: VariantLayer[]) => void = () => undefined) {
  const planned = planVariantLayers(manifest);
  if ("problem" in planned) throw new Error(planned.problem);
  const layers: VariantLayer[] = planned.layers.map((plan) => {
    const wrapped = plan.kind === "wrap";
    const digest = wrapped ? d("9") : plan.source.digest;
    return {
      plan,
      descriptor: {
        mediaType: imageLayerMediaType(plan),
        digest,
        size: wrapped ? tarLayerSize(plan.file) : plan.source.size,
      },
      diffId: plan.kind === "reuse" && plan.encoding === "tar+zstd" ? d("8") : digest,
    };
  });
  edit(layers);
  const platforms = [parsePlatform("linux/amd64"), parsePlatform("linux/arm64")].flatMap((p) =>
    p ? [p] : [],
  );
  const built = buildVariant(
    { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: ARTIFACT, size: 500 },
    layers,
    platforms,
  );
  const parse = (bytes: Uint8Array): unknown => JSON.parse(Buffer.from(bytes).toString());
  return {
    built,
    index: VariantIndex.parse(parse(built.index.bytes)),
    images: built.images.map((i) => ({
      platform: i.platform,
      manifest: VariantImageManifest.parse(parse(i.manifest.bytes)),
      config: VariantImageConfig.parse(parse(i.config.bytes)),
    })),
  };
}

describe("checkVariant", () => {
  it("a variant as publish-image writes it matches; its bytes are the same every time", () => {
    const v = variant();
    expect(checkVariant({ digest: ARTIFACT, manifest }, v.index, v.images)).toEqual([]);
    expect(variant().built.index.digest).toBe(v.built.index.digest);
  });

  const cases: [string, (v: ReturnType<typeof variant>) => void, RegExp][] = [
    ["another artifact's variant (subject)", (v) => void (v.index.subject.digest = d("f")), /its subject is/],
    [
      "another file path",
      (v) => {
        v.index.annotations["dev.modelpack.image-variant.layers"] = (
          v.index.annotations["dev.modelpack.image-variant.layers"] ?? ""
        ).replace("weights/model.safetensors", "weights/evil.safetensors");
      },
      /layer 0 is at "weights\/evil.safetensors"/,
    ],
    [
      "another source digest",
      (v) => {
        v.index.annotations["dev.modelpack.image-variant.layers"] = (
          v.index.annotations["dev.modelpack.image-variant.layers"] ?? ""
        ).replace(d("1"), d("6"));
      },
      /layer 0 comes from/,
    ],
    [
      "a wrapped layer of another size (another file in it)",
      (v) => {
        const layer = v.images[0]?.manifest.layers[0];
        if (layer) layer.size += 512;
      },
      /not the \d+ bytes of a tar of weights\/model.safetensors/,
    ],
    [
      "a reused layer swapped for another blob",
      (v) => {
        const layer = v.images[1]?.manifest.layers[1];
        if (layer) layer.digest = d("7");
      },
      /layer 1 is sha256:7+, not/,
    ],
    [
      "a layer media type containerd would not unpack as is",
      (v) => {
        const layer = v.images[0]?.manifest.layers[2];
        if (layer) layer.mediaType = "application/vnd.oci.image.layer.v1.tar";
      },
      /has media type application\/vnd.oci.image.layer.v1.tar, not .*\+zstd/,
    ],
    [
      "diff_ids that do not list an uncompressed layer",
      (v) => {
        const ids = v.images[0]?.config.rootfs.diff_ids;
        if (ids) ids[1] = d("5");
      },
      /diff_id 1 is/,
    ],
    ["a layer missing", (v) => void v.images[0]?.manifest.layers.pop(), /has 2 layers and 3 diff_ids/],
  ];
  it.each(cases)("does not match: %s", (_name, edit, problem) => {
    const v = variant();
    edit(v);
    const problems = checkVariant({ digest: ARTIFACT, manifest }, v.index, v.images);
    expect(problems.join("; ")).toMatch(problem);
  });

  it("a raw layer without a file path cannot have a variant", () => {
    const bare = { ...manifest, layers: [{ ...manifest.layers[0], annotations: {} }] } as OciManifest;
    expect(planVariantLayers(bare)).toEqual({
      problem: "layer 0 is a raw file without a file path annotation",
    });
  });

  it("platforms parse as os/architecture[/variant]", () => {
    expect(parsePlatform("linux/arm64/v8")).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });
    expect(parsePlatform("linux")).toBeUndefined();
  });
});
