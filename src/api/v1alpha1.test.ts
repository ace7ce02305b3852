import { describe, expect, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import {
  ModelDeployment,
  ModelDeploymentSpec,
  ModelDeploymentStatus,
  type ModelDeploymentSpecInput,
} from "./v1alpha1.js";

const SHA = "sha256:" + "ab".repeat(32);

const minimalSpec = {
  model: { reference: "registry.example.com/models/llama3-8b:v1" },
  selector: { matchLabels: { app: "llama-server" } },
  mount: { path: "/models/llama3" },
};

/** DESIGN.md §1, as a user writes it. */
const designSpec: ModelDeploymentSpecInput = {
  model: {
    reference: "registry.example.com/models/llama3-8b:v1",
    pullSecrets: [{ name: "regcred" }],
    refreshInterval: "10m",
  },
  selector: { matchLabels: { app: "llama-server" } },
  mount: { path: "/models/llama3", containers: ["vllm"], subPath: "" },
  strategy: "Auto",
  updatePolicy: "Rollout",
};

/** The first issue of a failed parse as `path: message [rule]`, for compact expectations. */
function firstIssue(result: z.ZodSafeParseResult<unknown>): string {
  if (result.success) return "accepted";
  const issue = result.error.issues[0];
  if (issue === undefined) return "rejected without issues";
  const rule =
    issue.code === "custom" && issue.params !== undefined ? ` [${String(issue.params["rule"])}]` : "";
  return `${issue.path.join(".")}: ${issue.message}${rule}`;
}

describe("ModelDeploymentSpec", () => {
  it("applies the same defaults as the CRD", () => {
    expect(ModelDeploymentSpec.parse(minimalSpec)).toEqual({
      ...minimalSpec,
      model: { ...minimalSpec.model, refreshInterval: "10m" },
      strategy: "Auto",
      updatePolicy: "Rollout",
    });
  });

  it("accepts the DESIGN.md example unchanged", () => {
    expect(ModelDeploymentSpec.parse(designSpec)).toEqual(designSpec);
  });

  it("drops unknown fields (the apiserver prunes them too)", () => {
    const parsed = ModelDeploymentSpec.parse({
      ...minimalSpec,
      readOnly: false,
      mount: { path: "/m", readOnly: false },
    });
    expect(parsed).not.toHaveProperty("readOnly");
    expect(parsed.mount).toEqual({ path: "/m" });
  });

  it.each([
    ["pinned digest", { reference: `r.io/m@${SHA}` }],
    ["refresh 0", { reference: "r.io/m:v1", refreshInterval: "0" }],
    ["refresh 30s", { reference: "r.io/m:v1", refreshInterval: "30s" }],
    ["refresh 1h30m", { reference: "r.io/m:v1", refreshInterval: "1h30m" }],
  ])("accepts model: %s", (_name, model) => {
    expect(firstIssue(ModelDeploymentSpec.safeParse({ ...minimalSpec, model }))).toBe("accepted");
  });

  it.each([
    ["matchExpressions only", { matchExpressions: [{ key: "app", operator: "In", values: ["a", "b"] }] }],
    ["Exists without values", { matchExpressions: [{ key: "example.com/gpu", operator: "Exists" }] }],
    ["empty label value", { matchLabels: { tier: "" } }],
  ])("accepts selector: %s", (_name, selector) => {
    expect(firstIssue(ModelDeploymentSpec.safeParse({ ...minimalSpec, selector }))).toBe("accepted");
  });

  const withModel = (model: object) => ({ ...minimalSpec, model: { ...minimalSpec.model, ...model } });
  const withMount = (mount: object) => ({ ...minimalSpec, mount: { ...minimalSpec.mount, ...mount } });
  it.each([
    [
      "missing reference",
      { ...minimalSpec, model: {} },
      "model.reference: Invalid input: expected string, received undefined",
    ],
    ["short name", withModel({ reference: "llama3" }), "model.reference: must start with the registry host"],
    ["bad tag", withModel({ reference: "r.io/m:.x" }), "model.reference: must be host[:port]/repository"],
    ["refresh 10s", withModel({ refreshInterval: "10s" }), "model.refreshInterval: must be at least 30s"],
    ["refresh 5 min", withModel({ refreshInterval: "5 min" }), "model.refreshInterval: must be a duration"],
    [
      "duplicate secret",
      withModel({ pullSecrets: [{ name: "a" }, { name: "a" }] }),
      'model.pullSecrets.1.name: duplicate name "a" (also at index 0)',
    ],
    [
      "secret name",
      withModel({ pullSecrets: [{ name: "Reg_Cred" }] }),
      "model.pullSecrets.0.name: must be the name",
    ],
    ["empty selector", { ...minimalSpec, selector: {} }, "selector: set matchLabels or matchExpressions"],
    [
      "empty matchLabels",
      { ...minimalSpec, selector: { matchLabels: {} } },
      "selector: set matchLabels or matchExpressions",
    ],
    [
      "In without values",
      { ...minimalSpec, selector: { matchExpressions: [{ key: "a", operator: "In" }] } },
      "selector.matchExpressions.0.values: must list at least one value when the operator is In or NotIn [expression-values-required]",
    ],
    [
      "Exists with values",
      { ...minimalSpec, selector: { matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] } },
      "selector.matchExpressions.0.values: must be empty",
    ],
    [
      "unknown operator",
      { ...minimalSpec, selector: { matchExpressions: [{ key: "a", operator: "Like", values: ["x"] }] } },
      'selector.matchExpressions.0.operator: Invalid option: expected one of "In"|"NotIn"|"Exists"|"DoesNotExist"',
    ],
    [
      "bad label key",
      { ...minimalSpec, selector: { matchLabels: { "-app": "x" } } },
      "selector.matchLabels: every key must be a label key",
    ],
    ["relative mount path", withMount({ path: "models" }), "mount.path: must be an absolute path"],
    ["mount path /", withMount({ path: "/" }), "mount.path: must not be /"],
    ["mount path //", withMount({ path: "//" }), "mount.path: must not be /"],
    [
      "mount path with ..",
      withMount({ path: "/models/../etc" }),
      "mount.path: must not contain '..' segments",
    ],
    ["absolute subPath", withMount({ subPath: "/weights" }), "mount.subPath: must be relative"],
    [
      "subPath ..",
      withMount({ subPath: "weights/../../x" }),
      "mount.subPath: must not contain '..' segments",
    ],
    ["empty containers", withMount({ containers: [] }), "mount.containers: Too small"],
    [
      "duplicate containers",
      withMount({ containers: ["a", "a"] }),
      'mount.containers.1: duplicate value "a"',
    ],
    ["container name", withMount({ containers: ["vLLM"] }), "mount.containers.0: must be a container name"],
    [
      "unknown strategy",
      { ...minimalSpec, strategy: "Fast" },
      'strategy: Invalid option: expected one of "Auto"|"ImageVolume"|"InitContainer"',
    ],
    [
      "unknown updatePolicy",
      { ...minimalSpec, updatePolicy: "Never" },
      'updatePolicy: Invalid option: expected one of "Rollout"|"Pinned"',
    ],
  ])("rejects %s", (_name, spec, expected) => {
    expect(firstIssue(ModelDeploymentSpec.safeParse(spec))).toContain(expected);
  });

  it("reports every broken rule of a field, as the apiserver does", () => {
    const result = ModelDeploymentSpec.safeParse(withMount({ path: "models/../x" }));
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => (i.code === "custom" ? i.params?.["rule"] : i.code))).toEqual([
      "mount-path-absolute",
      "mount-path-no-dot-dot",
    ]);
  });

  it("types: parsed values have their defaults, inputs may omit them", () => {
    expectTypeOf<ModelDeploymentSpec["strategy"]>().toEqualTypeOf<"Auto" | "ImageVolume" | "InitContainer">();
    expectTypeOf<ModelDeploymentSpec["model"]["refreshInterval"]>().toEqualTypeOf<string>();
    expectTypeOf<ModelDeploymentSpecInput["strategy"]>().toEqualTypeOf<
      "Auto" | "ImageVolume" | "InitContainer" | undefined
    >();
    expectTypeOf<ModelDeploymentSpecInput["model"]["refreshInterval"]>().toEqualTypeOf<string | undefined>();
  });
});

describe("ModelDeploymentStatus", () => {
  const condition = {
    type: "Ready",
    status: "True",
    observedGeneration: 3,
    lastTransitionTime: "2026-01-02T03:04:05Z",
    reason: "Ready",
    message: "ok",
  };
  const status = {
    observedGeneration: 3,
    resolved: {
      reference: `registry.example.com/models/llama3-8b@${SHA}`,
      digest: SHA,
      shortDigest: "sha256:abababababab",
      resolvedAt: "2026-01-02T03:04:05Z",
    },
    model: {
      name: "llama3-8b",
      family: "llama3",
      format: "safetensors",
      sizeBytes: 16e9,
      layers: 7,
      files: 7,
    },
    strategy: "ImageVolume",
    pods: { matched: 4, current: 4, stale: 0 },
    validation: { warnings: [{ code: "manifest.annotation", message: "…" }], warningCount: 1 },
    conditions: [condition, { ...condition, type: "Resolved", reason: "Resolved" }],
  };

  it("accepts a full status", () => {
    expect(ModelDeploymentStatus.parse(status)).toEqual(status);
  });

  it.each([
    ["Auto as effective strategy", { ...status, strategy: "Auto" }, "strategy"],
    ["duplicate condition type", { ...status, conditions: [condition, condition] }, "conditions.1.type"],
    [
      "condition status yes",
      { ...status, conditions: [{ ...condition, status: "yes" }] },
      "conditions.0.status",
    ],
    [
      "reason with spaces",
      { ...status, conditions: [{ ...condition, reason: "not ready" }] },
      "conditions.0.reason",
    ],
    [
      "time without zone",
      { ...status, conditions: [{ ...condition, lastTransitionTime: "2026-01-02" }] },
      "conditions.0.lastTransitionTime",
    ],
    ["negative pods", { ...status, pods: { matched: -1, current: 0, stale: 0 } }, "pods.matched"],
    [
      "11 errors",
      { ...status, validation: { errors: Array.from({ length: 11 }, () => ({ code: "x", message: "y" })) } },
      "validation.errors",
    ],
  ])("rejects %s", (_name, bad, path) => {
    const result = ModelDeploymentStatus.safeParse(bad);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path.join(".")).toBe(path);
  });
});

describe("ModelDeployment", () => {
  const doc = {
    apiVersion: "modelpack.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name: "llama3-8b", namespace: "serving", generation: 2, finalizers: ["x"] },
    spec: minimalSpec,
  };

  it("parses a document as the apiserver returns it, keeping unknown metadata", () => {
    const parsed = ModelDeployment.parse(doc);
    expect(parsed.metadata).toEqual(doc.metadata);
    expect(parsed.spec.strategy).toBe("Auto");
    expect(parsed.status).toBeUndefined();
  });

  it.each([
    ["another version", { ...doc, apiVersion: "modelpack.dev/v1" }, "apiVersion"],
    ["another kind", { ...doc, kind: "Deployment" }, "kind"],
    ["no spec", { ...doc, spec: undefined }, "spec"],
  ])("rejects %s", (_name, bad, path) => {
    expect(ModelDeployment.safeParse(bad).error?.issues[0]?.path.join(".")).toBe(path);
  });
});
