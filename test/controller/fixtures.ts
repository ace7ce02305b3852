/**
 * What the controller's unit tests observe: two digests, a valid ModelPack inspection with one raw
 * weight layer, and a CRI-O cluster where image volumes are kept. Shared by plan, plan-pods and
 * reconciler tests.
 */
import type { ArtifactInspection } from "../../src/artifact/inspect.js";
import type { ClusterCapabilities } from "../../src/controller/capabilities.js";

export const D1 = "sha256:" + "1".repeat(64);
export const D2 = "sha256:" + "2".repeat(64);

/** A valid inspection of registry.example.com/models/llama:v1 at `digest`, with `extra` on top. */
export const inspection = (digest = D1, extra: Partial<ArtifactInspection> = {}): ArtifactInspection => ({
  reference: "registry.example.com/models/llama:v1",
  pinnedReference: `registry.example.com/models/llama@${digest}`,
  digest,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  artifactType: "application/vnd.cncf.model.manifest.v1+json",
  manifest: {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/vnd.cncf.model.manifest.v1+json",
    config: { mediaType: "application/vnd.cncf.model.config.v1+json", digest: D2, size: 10 },
    layers: [
      {
        mediaType: "application/vnd.cncf.model.weight.v1.raw",
        digest: D2,
        size: 100,
        annotations: { "org.cncf.model.filepath": "model.safetensors" },
      },
    ],
  },
  summary: { name: "llama", family: "llama3", sizeBytes: 100, layers: 1, files: 1 },
  valid: true,
  errors: [],
  warnings: [],
  lint: [],
  ...extra,
});

export const crio: ClusterCapabilities = {
  imageVolumeField: "kept",
  serverVersion: "v1.35.8",
  nodes: [{ name: "n1", containerRuntimeVersion: "cri-o://1.34.0", kubeletVersion: "v1.35.8" }],
};
