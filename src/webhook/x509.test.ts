import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  CertificateRequestError,
  createCertificateAuthority,
  issueServingCertificate,
  selfSignedServingCertificates,
} from "./x509.js";

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
const HOUR = 3600_000;

describe("createCertificateAuthority", () => {
  const ca = createCertificateAuthority({ now: NOW, validityMs: HOUR });
  const cert = new X509Certificate(ca.certPem);

  it("makes a self-signed CA with the key it returns", () => {
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe("CN=modelpack-operator-webhook-ca");
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails).toMatchObject({ namedCurve: "prime256v1" });
  });

  it("is valid from 5 minutes before now for the validity", () => {
    expect(cert.validFromDate.getTime()).toBe(NOW - 5 * 60_000);
    expect(cert.validToDate.getTime()).toBe(NOW + HOUR);
  });

  it("uses a 16-byte positive serial, different each time", () => {
    const other = new X509Certificate(createCertificateAuthority({ now: NOW, validityMs: HOUR }).certPem);
    expect(cert.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/);
    expect(other.serialNumber).not.toBe(cert.serialNumber);
  });

  it("encodes times from 2050 as GeneralizedTime", () => {
    const late = new X509Certificate(
      createCertificateAuthority({ now: Date.UTC(2049, 11, 31), validityMs: 400 * 24 * HOUR }).certPem,
    );
    expect(late.validToDate.getUTCFullYear()).toBe(2051);
  });

  it.each([0, -1, Number.NaN])("refuses validity %s", (validityMs) => {
    expect(() => createCertificateAuthority({ now: NOW, validityMs })).toThrow(CertificateRequestError);
  });
});

describe("issueServingCertificate", () => {
  const ca = createCertificateAuthority({ now: NOW, validityMs: 10 * HOUR });
  const caCert = new X509Certificate(ca.certPem);
  const serving = issueServingCertificate(ca, {
    dnsNames: ["webhook.modelpack-system.svc", "localhost"],
    ipAddresses: ["127.0.0.1", "::1", "fd00::10:2"],
    now: NOW,
    validityMs: HOUR,
  });
  const cert = new X509Certificate(serving.certPem);

  it("is a non-CA server certificate issued and signed by the CA", () => {
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(serving.keyPem))).toBe(true);
    expect(cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]); // extKeyUsage serverAuth
    expect(cert.subject).toBe("CN=webhook.modelpack-system.svc");
  });

  it("covers every DNS name and IP address", () => {
    expect(cert.subjectAltName).toBe(
      "DNS:webhook.modelpack-system.svc, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FD00:0:0:0:0:0:10:2",
    );
    expect(cert.checkHost("webhook.modelpack-system.svc")).toBe("webhook.modelpack-system.svc");
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(cert.checkIP("127.0.0.2")).toBeUndefined();
  });

  it("refuses a request without names, or with a bad IP address", () => {
    expect(() => issueServingCertificate(ca, { now: NOW, validityMs: HOUR })).toThrow(
      /at least one DNS name or IP address/,
    );
    expect(() =>
      issueServingCertificate(ca, { ipAddresses: ["300.1.1.1"], now: NOW, validityMs: HOUR }),
    ).toThrow(CertificateRequestError);
  });

  it("selfSignedServingCertificates returns a chain that verifies", () => {
    const pair = selfSignedServingCertificates({ ipAddresses: ["127.0.0.1"] });
    const leaf = new X509Certificate(pair.certPem);
    expect(leaf.verify(new X509Certificate(pair.caPem).publicKey)).toBe(true);
    expect(leaf.checkIP("127.0.0.1")).toBe("127.0.0.1");
  });
});

/** The DER of each extension's value, by OID, as hex. */
function extensionValues(certPem: string): Record<string, string> {
  const cert = AsnConvert.parse(new X509Certificate(certPem).raw, Certificate);
  return Object.fromEntries(
    (cert.tbsCertificate.extensions ?? []).map((e) => [
      `${e.extnID}${e.critical ? " critical" : ""}`,
      Buffer.from(e.extnValue.buffer).toString("hex"),
    ]),
  );
}

describe("extension encodings (as the hand-written DER encoder made them)", () => {
  const ca = createCertificateAuthority({ now: NOW, validityMs: HOUR });
  const leaf = issueServingCertificate(ca, {
    dnsNames: ["a.b"],
    ipAddresses: ["10.0.0.1"],
    now: NOW,
    validityMs: HOUR,
  });

  it("CA: cA=TRUE pathLen=0, keyUsage digitalSignature|keyCertSign|cRLSign, a 20-byte key id", () => {
    const values = extensionValues(ca.certPem);
    expect(values["2.5.29.19 critical"]).toBe("30060101ff020100");
    expect(values["2.5.29.15 critical"]).toBe("03020186");
    expect(values["2.5.29.14"]).toMatch(/^0414[0-9a-f]{40}$/);
  });

  it("serving: cA=FALSE, keyUsage digitalSignature, serverAuth, SANs, the CA's key id", () => {
    const values = extensionValues(leaf.certPem);
    const caKeyId = extensionValues(ca.certPem)["2.5.29.14"]!.slice(4);
    expect(values["2.5.29.19 critical"]).toBe("3000");
    expect(values["2.5.29.15 critical"]).toBe("03020780");
    expect(values["2.5.29.37"]).toBe("300a06082b06010505070301");
    expect(values["2.5.29.17"]).toBe(`300b8203612e6287040a000001`);
    expect(values["2.5.29.35"]).toBe(`30168014${caKeyId}`);
  });

  it("refuses IPv4-mapped and zoned IPv6 addresses instead of encoding wrong bytes", () => {
    for (const ip of ["::ffff:10.0.0.1", "fe80::1%eth0"]) {
      expect(() => issueServingCertificate(ca, { ipAddresses: [ip], now: NOW, validityMs: HOUR })).toThrow(
        CertificateRequestError,
      );
    }
  });
});
