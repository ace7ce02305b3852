import { describe, expect, it } from "vitest";
import { decideVerification, type CheckResult, type SignatureCheck } from "./decide.js";

const PINNED = "registry.example.com/m@sha256:" + "a".repeat(64);
const check = (result: CheckResult, n = 1): SignatureCheck => ({
  signatureDigest: `sha256:${String(n).repeat(64)}`,
  source: "referrers",
  result,
});
const verified = (signer: string, n = 1) => check({ kind: "verified", signer }, n);
const untrusted = check({ kind: "untrusted", message: "other key" }, 2);
const invalid = check({ kind: "invalid", message: "altered" }, 3);
const unavailable = check({ kind: "unavailable", message: "no trusted root" }, 4);

describe("decideVerification", () => {
  it.each<[string, SignatureCheck[][], string]>([
    ["no signature", [[]], "SignatureMissing"],
    ["one verified", [[verified("key A")]], "Verified"],
    ["verified beside an invalid one", [[invalid, verified("key A")]], "Verified"],
    ["only another signer", [[untrusted]], "UntrustedSigner"],
    ["only an altered one", [[invalid]], "SignatureInvalid"],
    ["altered and another signer", [[invalid, untrusted]], "UntrustedSigner"],
    ["cannot be checked", [[untrusted, unavailable]], "VerificationUnavailable"],
    ["two requirements, both met", [[verified("key A")], [verified("ci", 5)]], "Verified"],
    ["two requirements, the second unmet", [[verified("key A")], [untrusted]], "UntrustedSigner"],
  ])("%s → %s", (_, checks, reason) => {
    const verdict = decideVerification(
      PINNED,
      checks.map((_, i) => ({ source: `requirement ${i}` })),
      checks,
    );
    expect(verdict.verified ? "Verified" : verdict.reason).toBe(reason);
  });

  it("names every requirement's signer and signature when verified", () => {
    const verdict = decideVerification(
      PINNED,
      [{ source: "policy" }, { source: "spec.model.verify" }],
      [[verified("key A")], [verified("ci", 5)]],
    );
    expect(verdict).toEqual({
      verified: true,
      signatures: [
        {
          requirement: "policy",
          signer: "key A",
          signatureDigest: `sha256:${"1".repeat(64)}`,
          source: "referrers",
        },
        {
          requirement: "spec.model.verify",
          signer: "ci",
          signatureDigest: `sha256:${"5".repeat(64)}`,
          source: "referrers",
        },
      ],
    });
  });

  it("messages name the artifact, the requirement and the fix", () => {
    const missing = decideVerification(PINNED, [{ source: 'verification policy rule "prod"' }], [[]]);
    expect(missing.verified).toBe(false);
    if (!missing.verified) {
      expect(missing.message).toContain(PINNED);
      expect(missing.message).toContain('rule "prod"');
      expect(missing.message).toContain("cosign sign");
      expect(missing.transient).toBe(false);
    }
  });
});
