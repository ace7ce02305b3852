import { describe, expect, it } from "vitest";
import { Reason } from "../api/index.js";
import type { Mountability } from "../modelpack/index.js";
import type { ClusterCapabilities, NodeRuntime } from "./capabilities.js";
import type { VariantObservation } from "./image-variant.js";
import { planImageVariant, variantOption, variantRecheck, VARIANT_RECHECK_MS } from "./plan-image-variant.js";
import { decideStrategy, IMAGE_MOUNTABILITY } from "./strategy.js";

const rawCncf: Mountability = {
  crio: { mountable: true, minVersion: "1.34.0", reason: "raw layers named by org.cncf.model.filepath" },
  containerd: { mountable: false, reason: "containerd mounts only images" },
};
const tarLayers: Mountability = {
  crio: { mountable: false, reason: "CRI-O mounts the tar blob itself" },
  containerd: { mountable: false, reason: "containerd mounts only images" },
};
const node = (name: string, runtime: string): NodeRuntime => ({
  name,
  containerRuntimeVersion: runtime,
  kubeletVersion: "v1.35.8",
});
const caps = (...nodes: NodeRuntime[]): ClusterCapabilities => ({
  imageVolumeField: "kept",
  serverVersion: "v1.35.8",
  nodes,
});
const VARIANT = `sha256:${"b".repeat(64)}`;
const REPO = "registry.example/models/llama";
const PINNED = `${REPO}@sha256:${"a".repeat(64)}`;
const found = (problems: string[] = [], signature?: VariantObservation["signature"]): VariantObservation => ({
  outcome: { found: { digest: VARIANT, problems, mount: IMAGE_MOUNTABILITY }, via: "api" },
  ...(signature !== undefined && { signature }),
});
const containerd = node("c1", "containerd://2.4.2");
const crio = node("o1", "cri-o://1.36.3");

/** decideStrategy with what plan.ts passes it, then the variant's status. */
function decide(
  requested: "Auto" | "ImageVolume",
  capabilities: ClusterCapabilities,
  mount: Mountability,
  observed: VariantObservation | undefined,
) {
  const decision = decideStrategy(requested, capabilities, mount, variantOption(observed, PINNED));
  return { decision, step: planImageVariant(observed, decision, REPO) };
}

describe("the image variant in the strategy decision", () => {
  it("containerd nodes, a matching variant: ImageVolume mounts the variant; status and condition say so", () => {
    const { decision, step } = decide("Auto", caps(containerd), rawCncf, found());
    expect(decision.strategy).toBe("ImageVolume");
    expect(decision.variant).toBe(VARIANT);
    expect(decision.mountSupported.message).toContain(`image variant ${VARIANT}`);
    expect(step.status).toMatchObject({
      used: true,
      digest: VARIANT,
      reference: `${REPO}@${VARIANT}`,
      reason: Reason.ImageVariantUsed,
    });
    expect(step.condition).toMatchObject({ status: "True", reason: Reason.ImageVariantUsed });
  });

  it("a forced ImageVolume works on containerd through the variant", () => {
    expect(decide("ImageVolume", caps(containerd), tarLayers, found()).decision).toMatchObject({
      strategy: "ImageVolume",
      variant: VARIANT,
    });
  });

  it("CRI-O nodes that mount the artifact keep the artifact (no variant looked for)", () => {
    const { decision, step } = decide("Auto", caps(crio), rawCncf, undefined);
    expect(decision).toMatchObject({ strategy: "ImageVolume" });
    expect(decision.variant).toBeUndefined();
    expect(step.status).toMatchObject({ used: false, reason: Reason.ImageVariantNotNeeded });
    expect(step.condition).toBeUndefined();
  });

  it("containerd and CRI-O nodes, a raw artifact: the variant mounts on both (CRI-O mounts images too)", () => {
    expect(decide("Auto", caps(containerd, crio), rawCncf, found()).decision.variant).toBe(VARIANT);
  });

  it("no variant: InitContainer, and MountSupported says to publish one where it would help", () => {
    const none: VariantObservation = { outcome: { none: true, via: "tag" } };
    const { decision, step } = decide("Auto", caps(containerd), rawCncf, none);
    expect(decision.strategy).toBe("InitContainer");
    expect(decision.mountSupported.message).toContain(
      `publish an image variant (modelpack-operator publish-image ${PINNED})`,
    );
    expect(step.status).toMatchObject({ used: false, reason: Reason.ImageVariantNotFound });
    // Where a variant would not help (an old containerd), no such advice.
    const old = decide("Auto", caps(node("c0", "containerd://1.7.20")), rawCncf, none).decision;
    expect(old.mountSupported.message).not.toContain("publish an image variant");
  });

  it("a variant that does not match: never mounted; a warning condition and event name the problems", () => {
    const { decision, step } = decide(
      "Auto",
      caps(containerd),
      rawCncf,
      found(["layer 0 comes from sha256:x"]),
    );
    expect(decision.strategy).toBe("InitContainer");
    expect(decision.variant).toBeUndefined();
    expect(step.status).toMatchObject({ used: false, digest: VARIANT, reason: Reason.ImageVariantMismatch });
    expect(step.condition).toMatchObject({ status: "False", reason: Reason.ImageVariantMismatch });
    expect(step.condition?.message).toContain("layer 0 comes from sha256:x");
    expect(step.event?.type).toBe("Warning");
    expect(decide("ImageVolume", caps(containerd), rawCncf, found(["x"])).decision.strategy).toBeUndefined();
  });

  it("signatures required: an unsigned variant is not used; a signed one is, recorded as verified", () => {
    const unsigned = decide(
      "Auto",
      caps(containerd),
      rawCncf,
      found([], { verified: false, message: "no signature" }),
    );
    expect(unsigned.decision.strategy).toBe("InitContainer");
    expect(unsigned.step.status).toMatchObject({
      used: false,
      verified: false,
      reason: Reason.ImageVariantUnsigned,
    });
    expect(unsigned.step.condition?.status).toBe("False");
    const signed = decide("Auto", caps(containerd), rawCncf, found([], { verified: true }));
    expect(signed.step.status).toMatchObject({ used: true, verified: true });
  });

  it("a registry failure while looking: not used, retried", () => {
    const { step } = decide("Auto", caps(containerd), rawCncf, { outcome: { failure: "503" } });
    expect(step.status?.reason).toBe(Reason.ImageVariantUnavailable);
  });

  it("a variant not used is looked for again within 5 minutes; a used or unneeded one is not", () => {
    const notFound = { used: false, reason: Reason.ImageVariantNotFound, message: "" };
    expect(variantRecheck({}, notFound)).toEqual({ requeueAfterMs: VARIANT_RECHECK_MS });
    expect(variantRecheck({ requeueAfterMs: 1000 }, notFound)).toEqual({ requeueAfterMs: 1000 });
    expect(variantRecheck({}, { used: true, reason: Reason.ImageVariantUsed, message: "" })).toEqual({});
    expect(variantRecheck({}, undefined)).toEqual({});
  });
});
