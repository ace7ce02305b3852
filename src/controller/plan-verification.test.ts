import { describe, expect, it } from "vitest";
import { ModelDeployment, type Condition } from "../api/index.js";
import { crio, D1, D2, inspection } from "../../test/controller/fixtures.js";
import { plan, resolveFailure, type Observation } from "./plan.js";
import type { VerificationObservation } from "./verification.js";

const now = new Date("2026-11-25T12:00:00Z");
const later = new Date("2026-11-25T12:10:00Z");
const md = (status?: unknown): ModelDeployment =>
  ModelDeployment.parse({
    apiVersion: "modelpack.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name: "llama", namespace: "serving", generation: 1 },
    spec: {
      model: { reference: "registry.example.com/models/llama:v1" },
      selector: { matchLabels: { app: "llama" } },
      mount: { path: "/models/llama" },
    },
    ...(status !== undefined && { status }),
  });
const get = (conditions: readonly Condition[] | undefined, type: string) =>
  conditions?.find((c) => c.type === type);

const REQ = "sha256:00112233aabbccdd";
const verified: VerificationObservation = {
  requirement: REQ,
  outcome: {
    verified: [
      {
        requirement: 'verification policy rule "prod"',
        signer: "key sha256:ab",
        signatureDigest: D2,
        source: "referrers",
      },
    ],
  },
};
const failed = (
  reason: "SignatureMissing" | "UntrustedSigner" | "VerificationUnavailable",
  transient = false,
) =>
  ({
    requirement: REQ,
    outcome: { failure: { reason, message: `${reason} for the test`, transient } },
  }) as const;

/** A status verified for D1 under REQ, Ready. */
const verifiedStatus = () =>
  plan({
    modelDeployment: md(),
    outcome: { inspection: inspection(D1) },
    capabilities: crio,
    now,
    verification: verified,
  }).status;

describe("plan with signatures", () => {
  it("nothing required: no Verified condition, no status.verification, Ready as before", () => {
    const p = plan({
      modelDeployment: md(),
      outcome: { inspection: inspection(D1) },
      capabilities: crio,
      now,
    });
    expect(get(p.status.conditions, "Verified")).toBeUndefined();
    expect(p.status.verification).toBeUndefined();
    expect(get(p.status.conditions, "Ready")?.status).toBe("True");
  });

  it("verified: Verified True naming the signer, status.verification records digest and signature, Ready", () => {
    const status = verifiedStatus();
    expect(get(status.conditions, "Verified")).toMatchObject({ status: "True", reason: "Verified" });
    expect(get(status.conditions, "Verified")?.message).toContain("key sha256:ab");
    expect(status.verification).toMatchObject({
      digest: D1,
      requirement: REQ,
      signatures: [{ signatureDigest: D2 }],
    });
    expect(get(status.conditions, "Ready")?.status).toBe("True");
  });

  it.each<[string, VerificationObservation, string, string, string | undefined]>([
    ["unsigned", failed("SignatureMissing"), "False", "SignatureMissing", "Stalled"],
    ["another signer", failed("UntrustedSigner"), "False", "UntrustedSigner", "Stalled"],
    [
      "signatures unreadable (registry)",
      failed("VerificationUnavailable", true),
      "False",
      "VerificationUnavailable",
      "Reconciling",
    ],
  ])("first resolution, %s: not Ready (%s %s), %s", (_, verification, status, reason, summary) => {
    const p = plan({
      modelDeployment: md(),
      outcome: { inspection: inspection(D1) },
      capabilities: crio,
      now,
      verification,
    });
    expect(get(p.status.conditions, "Verified")).toMatchObject({ status, reason });
    expect(get(p.status.conditions, "Ready")).toMatchObject({ status: "False", reason });
    expect(get(p.status.conditions, summary ?? "")?.status).toBe("True");
    expect(p.status.verification).toBeUndefined();
  });

  it.each([
    ["unsigned", failed("SignatureMissing")],
    ["another signer", failed("UntrustedSigner")],
    ["signatures unreadable", failed("VerificationUnavailable", true)],
  ])("a moved tag whose new digest is %s: the verified digest stays in service, Ready", (_, verification) => {
    const p = plan({
      modelDeployment: md(verifiedStatus()),
      outcome: { inspection: inspection(D2) },
      capabilities: crio,
      now: later,
      verification,
    });
    expect(p.status.resolved?.digest).toBe(D1);
    expect(p.status.verification?.digest).toBe(D1);
    expect(get(p.status.conditions, "Verified")).toMatchObject({
      status: "False",
      reason: verification.outcome.failure.reason,
    });
    expect(get(p.status.conditions, "Verified")?.message).toContain(`pods keep getting ${D1}`);
    expect(get(p.status.conditions, "Ready")?.status).toBe("True");
    expect(p.events.some((e) => e.type === "Warning")).toBe(true);
  });

  it("a moved tag whose new digest verifies: the new digest, recorded, Ready", () => {
    const p = plan({
      modelDeployment: md(verifiedStatus()),
      outcome: { inspection: inspection(D2) },
      capabilities: crio,
      now: later,
      verification: verified,
    });
    expect(p.status.resolved?.digest).toBe(D2);
    expect(p.status.verification).toMatchObject({ digest: D2, verifiedAt: "2026-11-25T12:10:00Z" });
  });

  it("a registry outage keeps the verified digest and its record: Ready", () => {
    const p = plan({
      modelDeployment: md(verifiedStatus()),
      outcome: { failure: resolveFailure("Unreachable", "registry down") },
      capabilities: crio,
      now: later,
      verification: { requirement: REQ, outcome: { notChecked: true } },
    });
    expect(p.status.resolved?.digest).toBe(D1);
    expect(p.status.verification?.digest).toBe(D1);
    expect(get(p.status.conditions, "Verified")?.status).toBe("True");
    expect(get(p.status.conditions, "Ready")?.status).toBe("True");
  });

  it.each([["the requirements changed (another key)", "sha256:ffffffffffffffff"]])(
    "nothing is kept in service when %s",
    (_, requirement) => {
      const p = plan({
        modelDeployment: md(verifiedStatus()),
        outcome: { inspection: inspection(D2) },
        capabilities: crio,
        now: later,
        verification: {
          requirement,
          outcome: { failure: { reason: "UntrustedSigner", message: "m", transient: false } },
        },
      });
      expect(p.status.resolved?.digest).toBe(D2);
      expect(get(p.status.conditions, "Ready")?.status).toBe("False");
    },
  );

  it("an outage before anything was verified under these requirements is not Ready", () => {
    const p = plan({
      modelDeployment: md(verifiedStatus()),
      outcome: { failure: resolveFailure("Unreachable", "registry down") },
      capabilities: crio,
      now: later,
      verification: { requirement: "sha256:another", outcome: { notChecked: true } },
    } satisfies Observation);
    expect(get(p.status.conditions, "Verified")?.status).toBe("Unknown");
    expect(get(p.status.conditions, "Ready")?.status).toBe("False");
  });
});
