import { describe, expect, it } from "vitest";
import { ModelDeployment, type Condition } from "../api/index.js";
import type { ArtifactInspection } from "../artifact/inspect.js";
import type { ClusterCapabilities } from "./capabilities.js";
import { plan, resolveFailure, type Observation } from "./plan.js";
import { crio, D1, D2, inspection } from "../../test/controller/fixtures.js";

const now = new Date("2026-11-25T12:00:00Z");
const later = new Date("2026-11-25T12:10:00Z");

const md = (
  overrides: { reference?: string; strategy?: string; status?: unknown; generation?: number } = {},
): ModelDeployment =>
  ModelDeployment.parse({
    apiVersion: "modelpack.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name: "llama", namespace: "serving", generation: overrides.generation ?? 1 },
    spec: {
      model: { reference: overrides.reference ?? "registry.example.com/models/llama:v1" },
      selector: { matchLabels: { app: "llama" } },
      mount: { path: "/models/llama" },
      ...(overrides.strategy !== undefined && { strategy: overrides.strategy }),
    },
    ...(overrides.status !== undefined && { status: overrides.status }),
  });

const containerd: ClusterCapabilities = {
  ...crio,
  nodes: [{ name: "n1", containerRuntimeVersion: "containerd://2.1.0", kubeletVersion: "v1.35.8" }],
};
const condition = (conditions: readonly Condition[] | undefined, type: string) =>
  conditions?.find((c) => c.type === type);
const observe = (o: Partial<Observation> & { outcome: Observation["outcome"] }): Observation => ({
  modelDeployment: md(),
  capabilities: crio,
  now,
  ...o,
});

describe("plan", () => {
  it("resolves, validates and picks ImageVolume on CRI-O: Ready", () => {
    const p = plan(observe({ outcome: { inspection: inspection() } }));
    expect(p.status.resolved).toMatchObject({
      digest: D1,
      shortDigest: "sha256:111111111111",
      reference: `registry.example.com/models/llama@${D1}`,
    });
    expect(p.status.strategy).toBe("ImageVolume");
    expect(p.status.model).toMatchObject({
      name: "llama",
      family: "llama3",
      layers: 1,
      files: 1,
      sizeBytes: 100,
    });
    for (const type of ["Resolved", "Validated", "MountSupported", "Ready"])
      expect(condition(p.status.conditions, type)?.status, type).toBe("True");
    expect(condition(p.status.conditions, "Stalled")).toBeUndefined();
    expect(p.status.observedGeneration).toBe(1);
    expect(p.requeueAfterMs).toBe(600_000);
    expect(p.events.map((e) => e.reason)).toEqual(["Resolved", "Ready"]);
  });

  it("falls back to InitContainer on containerd and says why", () => {
    const p = plan(observe({ capabilities: containerd, outcome: { inspection: inspection() } }));
    expect(p.status.strategy).toBe("InitContainer");
    expect(condition(p.status.conditions, "MountSupported")).toMatchObject({
      status: "True",
      reason: "InitContainerFallback",
    });
    expect(condition(p.status.conditions, "MountSupported")?.message).toContain(
      "containerd 2.1.0 cannot mount",
    );
    expect(condition(p.status.conditions, "Ready")?.status).toBe("True");
  });

  it("is not Ready while the InitContainer pulls' CA bundle cannot be published, and retries (Reconciling)", () => {
    const failure = "cannot write the registry CA bundle as ConfigMap serving/modelpack-ca-bundle: forbidden";
    const p = plan(
      observe({ capabilities: containerd, outcome: { inspection: inspection() }, caBundleFailure: failure }),
    );
    expect(p.status.strategy).toBe("InitContainer");
    expect(condition(p.status.conditions, "MountSupported")).toMatchObject({
      status: "False",
      reason: "CABundleUnavailable",
      message: failure,
    });
    expect(condition(p.status.conditions, "Ready")?.status).toBe("False");
    expect(condition(p.status.conditions, "Reconciling")).toMatchObject({
      status: "True",
      reason: "CABundleUnavailable",
    });
    expect(condition(p.status.conditions, "Stalled")).toBeUndefined();
    expect(p.events).toContainEqual({ type: "Warning", reason: "CABundleUnavailable", message: failure });
    // ImageVolume pods do not mount it: the same failure does not matter there.
    expect(
      condition(
        plan(observe({ outcome: { inspection: inspection() }, caBundleFailure: failure })).status.conditions,
        "Ready",
      )?.status,
    ).toBe("True");
  });

  it("stalls a forced ImageVolume the cluster cannot mount", () => {
    const p = plan(
      observe({
        modelDeployment: md({ strategy: "ImageVolume" }),
        capabilities: { ...crio, imageVolumeField: "dropped" },
        outcome: { inspection: inspection() },
      }),
    );
    expect(p.status.strategy).toBeUndefined();
    expect(condition(p.status.conditions, "MountSupported")).toMatchObject({
      status: "False",
      reason: "ImageVolumeUnsupported",
    });
    expect(condition(p.status.conditions, "Stalled")).toMatchObject({
      status: "True",
      reason: "ImageVolumeUnsupported",
    });
    expect(condition(p.status.conditions, "Ready")?.status).toBe("False");
  });

  it.each([
    [
      "a legacy config",
      {
        valid: false,
        legacy: { specVersion: "v0.0.6", message: "follows model-spec v0.0.6 (diff_ids)" },
        errors: [{ code: "config.legacy", path: "modelfs", message: "legacy" }],
      },
      "LegacyModelPack",
    ],
    [
      "a validation error",
      {
        valid: false,
        errors: [{ code: "config.schema.type", path: "descriptor.name", message: "must be a string" }],
      },
      "ValidationFailed",
    ],
    [
      "a config far larger than any model's",
      {
        valid: false,
        errors: [
          { code: "ConfigTooLarge", path: "config.size", message: "the model config is 6291456 bytes" },
        ],
      },
      "ConfigTooLarge",
    ],
    [
      "a container image",
      {
        valid: false,
        artifactType: undefined,
        errors: [{ code: "manifest.artifact-type", path: "artifactType", message: "missing" }],
        manifest: {
          ...inspection().manifest!,
          artifactType: undefined,
          config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: D2, size: 1 },
        },
      },
      "NotModelPack",
    ],
  ] as const)("fails Validated for %s and stalls", (_name, extra, reason) => {
    const p = plan(
      observe({ outcome: { inspection: inspection(D1, extra as Partial<ArtifactInspection>) } }),
    );
    expect(condition(p.status.conditions, "Validated")).toMatchObject({ status: "False", reason });
    expect(condition(p.status.conditions, "Stalled")).toMatchObject({ status: "True", reason });
    expect(p.status.strategy).toBeUndefined();
    expect(p.events.some((e) => e.type === "Warning" && e.reason === reason)).toBe(true);
  });

  it.each([
    ["Unreachable", "RegistryUnavailable"],
    ["RateLimited", "RegistryUnavailable"],
    ["Timeout", "RegistryUnavailable"],
    ["Unauthorized", "Unauthorized"],
    ["Denied", "Unauthorized"],
    ["NotFound", "ManifestNotFound"],
    ["DigestMismatch", "DigestMismatch"],
  ] as const)(
    "a %s refresh failure keeps the digest verified for this generation in service: Ready stays True",
    (code, reason) => {
      const ready = plan(observe({ outcome: { inspection: inspection() } }));
      expect(ready.status.resolved?.observedGeneration).toBe(1);
      const p = plan(
        observe({
          modelDeployment: md({ status: ready.status }),
          now: later,
          outcome: { failure: resolveFailure(code, "cannot refresh") },
        }),
      );
      expect(p.status.resolved).toEqual(ready.status.resolved);
      expect(p.status.strategy).toBe("ImageVolume");
      expect(p.status.model).toEqual(ready.status.model);
      expect(condition(p.status.conditions, "Resolved")).toMatchObject({ status: "False", reason });
      expect(condition(p.status.conditions, "Resolved")?.message).toBe(
        `cannot refresh; serving ${D1} verified at 2026-11-25T12:00:00Z until the registry answers again (only a change of the spec drops it)`,
      );
      expect(condition(p.status.conditions, "Ready")).toMatchObject({ status: "True", reason: "Ready" });
      expect(condition(p.status.conditions, "Ready")?.message).toContain(
        `last refresh failed (Resolved: ${reason})`,
      );
      expect(condition(p.status.conditions, "Stalled")).toBeUndefined();
      expect(condition(p.status.conditions, "Reconciling")).toBeUndefined();
      expect(p.events).toContainEqual(expect.objectContaining({ type: "Warning", reason }));
      // and again: level-based, still serving
      const again = plan(
        observe({
          modelDeployment: md({ status: p.status }),
          now: later,
          outcome: { failure: resolveFailure(code, "cannot refresh") },
        }),
      );
      expect(again.status).toEqual(p.status);
    },
  );

  it("a status written before resolved.observedGeneration existed still serves when Validated is True for the generation", () => {
    const ready = plan(observe({ outcome: { inspection: inspection() } }));
    const { observedGeneration: _dropped, ...legacyResolved } = ready.status.resolved ?? {
      reference: "",
      digest: "",
      shortDigest: "",
      resolvedAt: "",
    };
    const p = plan(
      observe({
        modelDeployment: md({ status: { ...ready.status, resolved: legacyResolved } }),
        outcome: { failure: resolveFailure("ServerError", "503") },
      }),
    );
    expect(condition(p.status.conditions, "Ready")?.status).toBe("True");
  });

  it("after a spec change, a transient failure keeps the last resolution for display but is not Ready", () => {
    const ready = plan(observe({ outcome: { inspection: inspection() } }));
    const p = plan(
      observe({
        modelDeployment: md({ status: ready.status, generation: 2 }),
        now: later,
        outcome: { failure: resolveFailure("Unreachable", "cannot reach registry") },
      }),
    );
    expect(p.status.resolved?.digest).toBe(D1);
    expect(condition(p.status.conditions, "Resolved")).toMatchObject({
      status: "False",
      reason: "RegistryUnavailable",
      message: "cannot reach registry",
    });
    expect(condition(p.status.conditions, "Ready")?.status).toBe("False");
    expect(condition(p.status.conditions, "Reconciling")?.status).toBe("True");
    expect(condition(p.status.conditions, "Stalled")).toBeUndefined();
  });

  it.each([
    ["Unauthorized", "Unauthorized"],
    ["NotFound", "ManifestNotFound"],
    ["InvalidReference", "ReferenceInvalid"],
    ["RegistryNotAllowed", "RegistryNotAllowed"],
    ["DigestMismatch", "DigestMismatch"],
  ] as const)(
    "after a spec change, a %s failure clears the resolution and stalls with %s",
    (code, reason) => {
      const ready = plan(observe({ outcome: { inspection: inspection() } }));
      const p = plan(
        observe({
          modelDeployment: md({ status: ready.status, generation: 2 }),
          outcome: { failure: resolveFailure(code, "boom") },
        }),
      );
      expect(p.status.resolved).toBeUndefined();
      expect(condition(p.status.conditions, "Stalled")).toMatchObject({ status: "True", reason });
    },
  );

  it("a failure before anything was ever verified is not Ready", () => {
    const p = plan(observe({ outcome: { failure: resolveFailure("ServerError", "503") } }));
    expect(p.status.resolved).toBeUndefined();
    expect(condition(p.status.conditions, "Ready")?.status).toBe("False");
  });

  it("notices a moved tag: new digest, resolvedAt moves, an event", () => {
    const first = plan(observe({ outcome: { inspection: inspection(D1) } }));
    const moved = plan(
      observe({
        modelDeployment: md({ status: first.status }),
        now: later,
        outcome: { inspection: inspection(D2) },
      }),
    );
    expect(moved.status.resolved?.digest).toBe(D2);
    expect(moved.status.resolved?.resolvedAt).toBe("2026-11-25T12:10:00Z");
    expect(moved.events).toContainEqual(expect.objectContaining({ reason: "DigestChanged" }));
  });

  it("is level-based: the same observation twice changes nothing and emits no event", () => {
    const first = plan(observe({ outcome: { inspection: inspection() } }));
    const again = plan(
      observe({
        modelDeployment: md({ status: first.status }),
        now: later,
        outcome: { inspection: inspection() },
      }),
    );
    expect(again.status).toEqual(first.status);
    expect(again.events).toEqual([]);
  });

  it("does not requeue a digest reference", () => {
    const p = plan(
      observe({
        modelDeployment: md({ reference: `registry.example.com/models/llama@${D1}` }),
        outcome: { inspection: inspection() },
      }),
    );
    expect(p.requeueAfterMs).toBeUndefined();
  });
});
