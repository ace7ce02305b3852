import { describe, expect, it } from "vitest";
import { ModelDeployment } from "../api/index.js";
import { verificationProblem, type AdmissionPolicy } from "./candidates.js";

const D1 = "sha256:" + "1".repeat(64);
const D2 = "sha256:" + "2".repeat(64);
const md = (verify: boolean, recorded: string | undefined): ModelDeployment =>
  ModelDeployment.parse({
    apiVersion: "modelpack.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name: "llama", namespace: "serving", generation: 1 },
    spec: {
      model: {
        reference: "registry.example.com/prod/llama:v1",
        ...(verify && { verify: { publicKeys: [{ configMapKeyRef: { name: "keys", key: "cosign.pub" } }] } }),
      },
      selector: { matchLabels: { app: "llama" } },
      mount: { path: "/models/llama" },
    },
    ...(recorded !== undefined && {
      status: {
        verification: {
          digest: recorded,
          requirement: "sha256:0",
          verifiedAt: "2026-01-01T00:00:00Z",
          signatures: [],
        },
      },
    }),
  });
const prod: AdmissionPolicy = {
  signaturesRequired: (r, repo) => r === "registry.example.com" && repo.startsWith("prod/"),
};
const none: AdmissionPolicy = {};

describe("verificationProblem", () => {
  it.each<[string, ModelDeployment, AdmissionPolicy, string | undefined]>([
    ["nothing required", md(false, undefined), none, undefined],
    ["policy: verified digest recorded", md(false, D1), prod, undefined],
    ["policy: nothing recorded", md(false, undefined), prod, "records no verified signature"],
    ["policy: another digest recorded", md(false, D2), prod, `records ${D2}, not the pinned ${D1}`],
    ["spec.model.verify: nothing recorded", md(true, undefined), none, "spec.model.verify"],
    ["spec.model.verify: recorded", md(true, D1), none, undefined],
  ])("%s", (_, object, policy, problem) => {
    const found = verificationProblem(object, D1, policy);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });
});
