import type { ModelConfig } from "./config-schema.js";
import { layerFilePath } from "./file-path.js";
import type { OciManifest } from "./manifest-schema.js";

/**
 * What a ModelDeployment's status shows about a model. Text fields are copied from the config
 * and omitted when the config does not set them.
 */
export interface ModelSummary {
  readonly name?: string;
  readonly family?: string;
  readonly version?: string;
  readonly architecture?: string;
  readonly format?: string;
  readonly paramSize?: string;
  readonly precision?: string;
  readonly quantization?: string;
  /**
   * Sum of the layer sizes: the bytes a pull transfers and a node stores for the model's files.
   * The config blob is left out: it is metadata of a few hundred bytes, not model content.
   */
  readonly sizeBytes: number;
  /** Number of layers. */
  readonly layers: number;
  /** Number of layers that name a file (see layerFilePath); tar layers may hold more files. */
  readonly files: number;
}

/** Summarises a validated manifest and, when available, its config. Pure. */
export function summarizeModel(manifest: OciManifest, config?: ModelConfig): ModelSummary {
  const d = config?.descriptor;
  const c = config?.config;
  return {
    ...(d?.name !== undefined && { name: d.name }),
    ...(d?.family !== undefined && { family: d.family }),
    ...(d?.version !== undefined && { version: d.version }),
    ...(c?.architecture !== undefined && { architecture: c.architecture }),
    ...(c?.format !== undefined && { format: c.format }),
    ...(c?.paramSize !== undefined && { paramSize: c.paramSize }),
    ...(c?.precision !== undefined && { precision: c.precision }),
    ...(c?.quantization !== undefined && { quantization: c.quantization }),
    sizeBytes: manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
    layers: manifest.layers.length,
    files: manifest.layers.filter((layer) => layerFilePath(layer) !== undefined).length,
  };
}
