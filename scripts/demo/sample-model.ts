import type { ArtifactFile } from "../../test/support/publisher.js";

/**
 * A tiny but real model for the demo: a safetensors file with one float16 tensor (the format's
 * 8-byte little-endian header length, a JSON header, then the data), its config, a tokenizer and
 * a README: one layer of each class modctl would build.
 */
export function sampleModelFiles(): ArtifactFile[] {
  const values = Float32Array.from({ length: 16 }, (_, i) => i / 16);
  const data = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => data.writeUInt16LE(toFloat16Bits(v), i * 2));
  const header = Buffer.from(
    JSON.stringify({
      "layer.weight": { dtype: "F16", shape: [4, 4], data_offsets: [0, data.length] },
      __metadata__: { format: "pt" },
    }),
  );
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return [
    {
      path: "config.json",
      content: JSON.stringify({ model_type: "tiny-demo", hidden_size: 4, torch_dtype: "float16" }, null, 2),
    },
    {
      path: "tokenizer.json",
      content: JSON.stringify({
        version: "1.0",
        model: { type: "WordLevel", vocab: { hello: 0, world: 1 } },
      }),
    },
    { path: "model.safetensors", content: Buffer.concat([length, header, data]) },
    {
      path: "README.md",
      content: "# tiny-demo\n\nA 16-parameter model that exists to show modelpack-operator working.\n",
    },
  ];
}

/** IEEE 754 half precision bits of a float in [0, 1) (enough for the demo's values). */
function toFloat16Bits(value: number): number {
  if (value === 0) return 0;
  const exponent = Math.floor(Math.log2(value));
  const mantissa = Math.round((value / 2 ** exponent - 1) * 1024);
  return ((exponent + 15) << 10) | mantissa;
}
