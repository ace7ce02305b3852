import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { splitPem } from "./certificate-source.js";
import { decideRotation, rotatedBundle, type StoredCertificates } from "./rotation.js";
import { createCertificateAuthority, issueServingCertificate } from "./x509.js";

const T0 = Date.UTC(2026, 0, 1);
const DAY = 24 * 3600_000;
const names = { dnsNames: [], ipAddresses: ["127.0.0.1"] };

function stored(
  options: {
    caDays?: number;
    certDays?: number;
    certNames?: { dnsNames?: string[]; ipAddresses?: string[] };
    at?: number;
  } = {},
): StoredCertificates {
  const at = options.at ?? T0;
  const ca = createCertificateAuthority({ now: at, validityMs: (options.caDays ?? 300) * DAY });
  const leaf = issueServingCertificate(ca, {
    ...(options.certNames ?? names),
    now: at,
    validityMs: (options.certDays ?? 30) * DAY,
  });
  return {
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    caBundlePem: ca.certPem,
    certPem: leaf.certPem,
    keyPem: leaf.keyPem,
  };
}

describe("decideRotation", () => {
  const fresh = stored();
  const other = stored();
  const skew = 5 * 60_000;

  it.each([
    ["nothing stored", undefined, T0, "rotate-ca", /no certificates stored/],
    [
      "a CA key that does not match",
      { ...fresh, caKeyPem: other.caKeyPem },
      T0,
      "rotate-ca",
      /CA or its key/,
    ],
    ["garbage", { ...fresh, caCertPem: "nope" }, T0, "rotate-ca", /CA or its key/],
    [
      "a CA certificate that is not a CA",
      { ...fresh, caCertPem: fresh.certPem, caKeyPem: fresh.keyPem },
      T0,
      "rotate-ca",
      /not a CA/,
    ],
    ["a CA past 2/3 of its life", fresh, T0 + 201 * DAY, "rotate-ca", /CA is due for renewal/],
    [
      "a bundle without the CA",
      { ...fresh, caBundlePem: other.caCertPem },
      T0,
      "rotate-ca",
      /bundle does not hold/,
    ],
    [
      "a serving certificate from another CA",
      { ...fresh, certPem: other.certPem, keyPem: other.keyPem },
      T0,
      "issue",
      /not issued by the current CA/,
    ],
    [
      "a serving key that does not match",
      { ...fresh, keyPem: other.keyPem },
      T0,
      "issue",
      /does not parse or match/,
    ],
    [
      "a serving certificate past 2/3 of its life",
      fresh,
      T0 + 21 * DAY,
      "issue",
      /serving certificate is due for renewal/,
    ],
  ] as const)("%s → %s", (_, input, now, action, reason) => {
    const decision = decideRotation(input, names, now);
    expect(decision.action).toBe(action);
    expect(decision.action !== "keep" && decision.reason).toMatch(reason);
  });

  it("re-issues when a wanted name is missing", () => {
    const decision = decideRotation(
      fresh,
      { dnsNames: ["webhook.ns.svc"], ipAddresses: ["127.0.0.1", "10.0.0.1"] },
      T0,
    );
    expect(decision).toEqual({
      action: "issue",
      reason: "the serving certificate does not cover webhook.ns.svc, 10.0.0.1",
    });
  });

  it("keeps fresh certificates until the serving certificate's renewal point (2/3 of its life)", () => {
    const decision = decideRotation(fresh, names, T0 + DAY);
    const from = T0 - skew;
    expect(decision).toEqual({ action: "keep", renewAt: from + ((30 * DAY + skew) * 2) / 3 });
  });

  it("honours another renewal fraction", () => {
    expect(decideRotation(fresh, names, T0 + 16 * DAY, 0.5).action).toBe("issue");
    expect(decideRotation(fresh, names, T0 + 16 * DAY, 0.9).action).toBe("keep");
  });
});

describe("rotatedBundle", () => {
  it("puts the new CA first and keeps earlier CAs that are still valid", () => {
    const old = createCertificateAuthority({ now: T0, validityMs: 10 * DAY }).certPem;
    const expired = createCertificateAuthority({ now: T0 - 20 * DAY, validityMs: 10 * DAY }).certPem;
    const next = createCertificateAuthority({ now: T0 + DAY, validityMs: 10 * DAY }).certPem;
    const bundle = splitPem(rotatedBundle(next, old + expired, T0 + DAY));
    expect(bundle.map((pem) => new X509Certificate(pem).fingerprint256)).toEqual(
      [next, old].map((pem) => new X509Certificate(pem).fingerprint256),
    );
  });

  it("keeps at most `keep` earlier CAs and drops an unreadable bundle", () => {
    const cas = Array.from(
      { length: 4 },
      () => createCertificateAuthority({ now: T0, validityMs: DAY }).certPem,
    );
    expect(splitPem(rotatedBundle(cas[0]!, cas.slice(1).join(""), T0))).toHaveLength(3);
    expect(splitPem(rotatedBundle(cas[0]!, "garbage", T0))).toHaveLength(1);
  });
});
