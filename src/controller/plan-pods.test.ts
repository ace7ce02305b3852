import { describe, expect, it } from "vitest";
import { ModelDeployment } from "../api/index.js";
import type { ArtifactInspection } from "../artifact/inspect.js";
import type { ClusterCapabilities } from "./capabilities.js";
import { plan, type Observation } from "./plan.js";

const D1 = "sha256:" + "1".repeat(64);
const D2 = "sha256:" + "2".repeat(64);
const now = new Date("2026-11-25T12:00:00Z");

const md = (updatePolicy: "Rollout" | "Pinned", status?: unknown): ModelDeployment =>
  ModelDeployment.parse({
    apiVersion: "modelpack.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name: "llama", namespace: "serving", generation: 1 },
    spec: {
      model: { reference: "registry.example.com/models/llama:v1" },
      selector: { matchLabels: { app: "llama" } },
      mount: { path: "/models/llama" },
      updatePolicy,
    },
    ...(status !== undefined && { status }),
  });

const inspection: ArtifactInspection = {
  reference: "registry.example.com/models/llama:v1",
  pinnedReference: `registry.example.com/models/llama@${D1}`,
  digest: D1,
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
  summary: { name: "llama", sizeBytes: 100, layers: 1, files: 1 },
  valid: true,
  errors: [],
  warnings: [],
  lint: [],
};
const crio: ClusterCapabilities = {
  imageVolumeField: "kept",
  serverVersion: "v1.35.8",
  nodes: [{ name: "n1", containerRuntimeVersion: "cri-o://1.34.0", kubeletVersion: "v1.35.8" }],
};
const observe = (modelDeployment: ModelDeployment, pods?: Observation["pods"]): Observation => ({
  modelDeployment,
  outcome: { inspection },
  capabilities: crio,
  now,
  ...(pods !== undefined && { pods }),
});
const ready = (o: Observation) => plan(o).status.conditions?.find((c) => c.type === "Ready");

describe("plan with pod counts", () => {
  it("writes the observed counts to status.pods", () => {
    expect(plan(observe(md("Rollout"), { matched: 2, current: 2, stale: 0 })).status.pods).toEqual({
      matched: 2,
      current: 2,
      stale: 0,
    });
  });
  it("Rollout with stale pods: Ready False, RollingOut", () => {
    expect(ready(observe(md("Rollout"), { matched: 2, current: 1, stale: 1 }))).toMatchObject({
      status: "False",
      reason: "RollingOut",
    });
  });
  it("Pinned with stale pods: Ready True, and the message counts them", () => {
    const c = ready(observe(md("Pinned"), { matched: 2, current: 0, stale: 2 }));
    expect(c).toMatchObject({ status: "True", reason: "Ready" });
    expect(c?.message).toContain("0 of 2 selected pods mount it; 2 keep an earlier digest");
  });
  it("without counts, the previous ones are kept", () => {
    expect(plan(observe(md("Rollout", { pods: { matched: 3, current: 3, stale: 0 } }))).status.pods).toEqual({
      matched: 3,
      current: 3,
      stale: 0,
    });
  });
  it("new counts replace the previous ones", () => {
    expect(
      plan(
        observe(md("Rollout", { pods: { matched: 3, current: 3, stale: 0 } }), {
          matched: 0,
          current: 0,
          stale: 0,
        }),
      ).status.pods,
    ).toEqual({ matched: 0, current: 0, stale: 0 });
  });
});
