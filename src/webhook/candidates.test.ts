import { describe, expect, it } from "vitest";
import { ModelDeployment, type ModelDeploymentStatus } from "../api/index.js";
import {
  condition,
  DIGEST,
  imageVolumeUnsupportedStatus,
  modelDeployment,
  readyStatus,
  REGISTRY,
} from "../../test/webhook/fixtures.js";
import { CandidateCache, compileCandidate } from "./candidates.js";

const ready = readyStatus();
const reconciling = {
  ...ready,
  conditions: [
    condition("Resolved", "False", "RegistryUnavailable", "registry.example.com: connection refused"),
    condition("Ready", "False", "RegistryUnavailable", "Resolved: registry.example.com: connection refused"),
    condition(
      "Reconciling",
      "True",
      "RegistryUnavailable",
      "Resolved: registry.example.com: connection refused",
    ),
  ],
};
const stalledValidation = {
  observedGeneration: 1,
  conditions: [
    condition("Validated", "False", "ValidationFailed", "x fails ModelPack validation"),
    condition(
      "Ready",
      "False",
      "ValidationFailed",
      "Validated: x fails ModelPack validation: config.paramSize: not a size",
    ),
    condition(
      "Stalled",
      "True",
      "ValidationFailed",
      "Validated: x fails ModelPack validation: config.paramSize: not a size",
    ),
  ],
};
const rollingOut = {
  ...ready,
  conditions: [
    ...ready.conditions!.filter((c) => c.type !== "Ready"),
    condition("Ready", "False", "RollingOut", "1 of 2 pods"),
  ],
};

describe("compileCandidate verdicts", () => {
  const cases: [string, ModelDeploymentStatus | undefined, RegExp, number?][] = [
    [
      "no status",
      undefined,
      /not Ready: the operator has not processed it yet; wait for it \(kubectl wait --for=condition=Ready modeldeployment\/m -n serving\).*modelpack-operator is running/,
    ],
    [
      "a status for generation 1 of generation 2",
      { ...ready },
      /has not processed generation 2 of its spec yet \(its status describes generation 1\)/,
      2,
    ],
    [
      "Ready from an older generation on the condition",
      { ...ready, observedGeneration: 2 },
      /has not processed generation 2 of its spec yet \(its status describes generation 1\)/,
      2,
    ],
    [
      "Reconciling",
      reconciling,
      /not Ready: RegistryUnavailable: Resolved: registry.example.com: connection refused\. The operator retries on its own/,
    ],
    [
      "Stalled on validation",
      stalledValidation,
      /not Ready: Stalled, ValidationFailed: Validated: x fails ModelPack validation: config.paramSize: not a size\. This needs someone to act/,
    ],
    [
      "forced ImageVolume on a cluster that drops it",
      imageVolumeUnsupportedStatus(),
      /Stalled, ImageVolumeUnsupported: MountSupported: strategy ImageVolume cannot work: the apiserver \(v1.35.8\) silently drops spec.volumes\[\].image/,
    ],
    [
      "Ready without status.resolved",
      { ...ready, resolved: undefined },
      /says Ready, but its status has no status.resolved/,
    ],
    [
      "Ready without status.strategy",
      { ...ready, strategy: undefined },
      /says Ready, but its status has no status.strategy/,
    ],
    [
      "Ready Unknown",
      { observedGeneration: 1, conditions: [condition("Ready", "Unknown", "Progressing", "…")] },
      /its Ready condition is Unknown/,
    ],
  ];
  it.each(cases)("denies: %s", (_, status, message, generation = 1) => {
    const candidate = compileCandidate(
      modelDeployment({ name: "m", generation, status: status && JSON.parse(JSON.stringify(status)) }),
    );
    expect(candidate?.verdict.admit).toBe(false);
    if (candidate?.verdict.admit === false) {
      expect(candidate.verdict.message).toMatch(/^ModelDeployment serving\/m selects this pod/);
      expect(candidate.verdict.message).toMatch(message);
      expect(candidate.verdict.message).toContain("ReplicaSet");
    }
  });

  it("admits a Ready ModelDeployment with a MountTarget from its status and spec", () => {
    const candidate = compileCandidate(
      modelDeployment({
        name: "m",
        mount: { path: "/models/m", containers: ["server"], subPath: "weights" },
        pullSecrets: ["regcred"],
      }),
    );
    expect(candidate?.verdict).toEqual({
      admit: true,
      target: {
        name: "m",
        namespace: "serving",
        pinnedReference: `${REGISTRY}/models/llama@${DIGEST}`,
        digest: DIGEST,
        strategy: "ImageVolume",
        mountPath: "/models/m",
        subPath: "weights",
        containers: ["server"],
        pullSecrets: ["regcred"],
        sizeBytes: 1_048_576,
      },
    });
  });

  it("leaves out an empty subPath and absent containers", () => {
    const candidate = compileCandidate(modelDeployment({ name: "m", mount: { path: "/m", subPath: "" } }));
    expect(candidate?.verdict.admit && candidate.verdict.target).toMatchObject({ pullSecrets: [] });
    expect(candidate?.verdict.admit && "subPath" in candidate.verdict.target).toBe(false);
    expect(candidate?.verdict.admit && "containers" in candidate.verdict.target).toBe(false);
  });

  it("admits during a rollout (Ready False, reason RollingOut, every step done)", () => {
    const candidate = compileCandidate(modelDeployment({ name: "m", status: rollingOut }));
    expect(candidate?.verdict.admit).toBe(true);
  });

  it("compiles the selector", () => {
    const candidate = compileCandidate(modelDeployment({ name: "m", matchLabels: { app: "x" } }));
    expect(candidate?.matches({ app: "x", other: "y" })).toBe(true);
    expect(candidate?.matches({ app: "y" })).toBe(false);
  });

  it("denies the pods of a ModelDeployment that fails the schema but has a selector", () => {
    const raw = modelDeployment({ name: "bad", mount: { path: "relative/path" } });
    expect(ModelDeployment.safeParse(raw).success).toBe(false);
    const candidate = compileCandidate(raw);
    expect(candidate?.matches({ app: "bad" })).toBe(true);
    expect(candidate?.verdict.admit === false && candidate.verdict.message).toMatch(
      /ModelDeployment serving\/bad selects this pod but does not match the modelpack.dev\/v1alpha1 schema at spec.mount.path/,
    );
  });

  it("ignores an object with no usable selector", () => {
    expect(compileCandidate({ metadata: { name: "x", namespace: "y" }, spec: {} })).toBeUndefined();
    expect(compileCandidate("nonsense")).toBeUndefined();
  });
});

describe("CandidateCache", () => {
  it("compiles each object once and a replaced object again", () => {
    const cache = new CandidateCache();
    const first = modelDeployment({ name: "m", status: undefined });
    const a = cache.get(first);
    expect(cache.get(first)).toBe(a);
    const second = modelDeployment({ name: "m" });
    expect(cache.get(second)?.verdict.admit).toBe(true);
    expect(a?.verdict.admit).toBe(false);
  });

  it("remembers objects that compile to nothing", () => {
    const cache = new CandidateCache();
    const raw = { metadata: {} };
    expect(cache.get(raw)).toBeUndefined();
    expect(cache.get(raw)).toBeUndefined();
  });
});

describe("a status that does not describe the spec is not trusted (whoever can write status/)", () => {
  const md = (resolved: { reference: string; digest: string }, reference = `${REGISTRY}/models/llama:v1`) => {
    const raw = modelDeployment({
      name: "m",
      status: { ...ready, resolved: { ...ready.resolved!, ...resolved } },
    });
    return { ...raw, spec: { ...(raw.spec as object), model: { reference } } };
  };
  it.each<[string, { reference: string; digest: string }, string | undefined, RegExp]>([
    [
      "another repository",
      { reference: `${REGISTRY}/evil/image@${DIGEST}`, digest: DIGEST },
      undefined,
      /status.resolved.reference registry.example.com\/evil\/image@sha256:a+ is not in registry.example.com\/models\/llama/,
    ],
    [
      "another registry",
      { reference: `evil.example/models/llama@${DIGEST}`, digest: DIGEST },
      undefined,
      /is not in registry.example.com\/models\/llama/,
    ],
    [
      "a tag instead of a digest",
      { reference: `${REGISTRY}/models/llama:v1`, digest: DIGEST },
      undefined,
      /is not pinned to status.resolved.digest/,
    ],
    [
      "a digest other than resolved.digest",
      { reference: `${REGISTRY}/models/llama@sha256:${"c".repeat(64)}`, digest: DIGEST },
      undefined,
      /is not pinned to status.resolved.digest/,
    ],
    [
      "a digest other than the spec's",
      { reference: `${REGISTRY}/models/llama@${DIGEST}`, digest: DIGEST },
      `${REGISTRY}/models/llama@sha256:${"d".repeat(64)}`,
      /is not the digest spec.model.reference names/,
    ],
  ])("refuses %s", (_what, resolved, reference, message) => {
    const candidate = compileCandidate(md(resolved, reference));
    expect(candidate?.verdict.admit).toBe(false);
    if (candidate?.verdict.admit === false) {
      expect(candidate.verdict.message).toMatch(message);
      expect(candidate.verdict.message).toMatch(/RBAC on modeldeployments\/status/);
    }
  });

  it("checks the allow-list at admission, not only in the operator", () => {
    const raw = md({ reference: `${REGISTRY}/models/llama@${DIGEST}`, digest: DIGEST });
    expect(compileCandidate(raw)?.verdict.admit).toBe(true);
    expect(compileCandidate(raw, { allowedRegistries: [REGISTRY] })?.verdict.admit).toBe(true);
    const refused = new CandidateCache({ allowedRegistries: ["models.internal:5000"] }).get(raw);
    expect(refused?.verdict).toMatchObject({
      admit: false,
      message: expect.stringMatching(
        /registry registry.example.com is not in the operator's allowed registries \(models.internal:5000\)/,
      ),
    });
  });
});

describe("an image variant in status (status.imageVariant used)", () => {
  const VARIANT = `sha256:${"9".repeat(64)}`;
  const withVariant = (
    variant: Partial<NonNullable<ModelDeploymentStatus["imageVariant"]>>,
    strategy: "ImageVolume" | "InitContainer" = "ImageVolume",
  ) =>
    modelDeployment({
      name: "m",
      status: {
        ...readyStatus({ strategy }),
        imageVariant: { used: true, reason: "ImageVariantUsed", message: "", digest: VARIANT, ...variant },
      },
    });

  it("mounts the variant's reference; the target keeps the artifact's digest", () => {
    const candidate = compileCandidate(withVariant({ reference: `${REGISTRY}/models/llama@${VARIANT}` }));
    expect(candidate?.verdict.admit && candidate.verdict.target).toMatchObject({
      digest: DIGEST,
      pinnedReference: `${REGISTRY}/models/llama@${DIGEST}`,
      imageReference: `${REGISTRY}/models/llama@${VARIANT}`,
    });
  });

  it("ignores it under InitContainer or when not used", () => {
    for (const raw of [
      withVariant({ reference: `${REGISTRY}/models/llama@${VARIANT}` }, "InitContainer"),
      withVariant({ reference: `${REGISTRY}/models/llama@${VARIANT}`, used: false }),
    ]) {
      const candidate = compileCandidate(raw);
      expect(candidate?.verdict.admit && "imageReference" in candidate.verdict.target).toBe(false);
    }
  });

  it.each([
    [
      "another repository",
      `${REGISTRY}/models/other@${VARIANT}`,
      /is not pinned by digest in registry.example.com\/models\/llama/,
    ],
    ["a tag", `${REGISTRY}/models/llama:latest`, /is not pinned by digest/],
    [
      "another registry",
      `evil.example.com/models/llama@${VARIANT}`,
      /is not pinned by digest in registry.example.com/,
    ],
  ])("refuses a variant reference in %s", (_name, reference, message) => {
    const candidate = compileCandidate(withVariant({ reference }));
    expect(candidate?.verdict.admit === false && candidate.verdict.message).toMatch(message);
  });

  it("with signatures required, refuses a used variant that status does not record as verified", () => {
    const raw = withVariant({ reference: `${REGISTRY}/models/llama@${VARIANT}` });
    const status = raw.status as ModelDeploymentStatus;
    const signed = {
      ...raw,
      status: {
        ...status,
        verification: {
          digest: DIGEST,
          requirement: "r",
          verifiedAt: "2026-01-01T00:00:00Z",
          signatures: [],
        },
      },
    };
    const policy = { signaturesRequired: () => true };
    const refused = compileCandidate(signed, policy);
    expect(refused?.verdict.admit === false && refused.verdict.message).toMatch(
      /does not record the image variant sha256:9+ as verified/,
    );
    const verified = {
      ...signed,
      status: { ...signed.status, imageVariant: { ...status.imageVariant!, verified: true } },
    };
    expect(compileCandidate(verified, policy)?.verdict.admit).toBe(true);
  });
});
