import { describe, expect, it, vi } from "vitest";
import {
  CertificateError,
  CertificateFeed,
  checkCertificates,
  splitPem,
  staticCertificateSource,
} from "./certificate-source.js";
import { selfSignedServingCertificates } from "./x509.js";

const first = selfSignedServingCertificates({ ipAddresses: ["127.0.0.1"] });
const second = selfSignedServingCertificates({ ipAddresses: ["127.0.0.1"] });

describe("CertificateFeed", () => {
  it("resolves waiters on the first publish and tells listeners about later changes only", async () => {
    const feed = new CertificateFeed();
    const listener = vi.fn();
    feed.subscribe(listener);
    const ready = feed.ready();
    feed.publish(first);
    await expect(ready).resolves.toBe(first);
    expect(listener).not.toHaveBeenCalled();
    feed.publish({ ...first }); // same content
    expect(listener).not.toHaveBeenCalled();
    feed.publish(second);
    expect(listener).toHaveBeenCalledWith(second);
    expect(feed.current()).toBe(second);
  });

  it("rejects a waiter when its signal aborts, and stops telling an unsubscribed listener", async () => {
    const feed = new CertificateFeed();
    const abort = new AbortController();
    const ready = feed.ready(abort.signal);
    abort.abort(new Error("stop"));
    await expect(ready).rejects.toThrow("stop");
    const listener = vi.fn();
    const unsubscribe = feed.subscribe(listener);
    feed.publish(first);
    unsubscribe();
    feed.publish(second);
    expect(listener).not.toHaveBeenCalled();
  });

  it("keeps telling listeners when one throws", () => {
    const feed = staticCertificateSource(first) as CertificateFeed;
    const after = vi.fn();
    feed.subscribe(() => {
      throw new Error("listener bug");
    });
    feed.subscribe(after);
    feed.publish(second);
    expect(after).toHaveBeenCalledOnce();
  });
});

describe("checkCertificates", () => {
  it("accepts a matching, unexpired pair and bundle", () => {
    expect(checkCertificates(first)).toBe(first);
  });

  it.each([
    ["a certificate that is not PEM", { ...first, certPem: "x" }, /not a PEM X.509 certificate/],
    ["a key that is not PEM", { ...first, keyPem: "x" }, /not a PEM private key/],
    ["a key of another certificate", { ...first, keyPem: second.keyPem }, /does not belong to the key/],
    ["a bundle that is not PEM", { ...first, caPem: "x" }, /CA bundle/],
  ])("refuses %s", (_, input, message) => {
    expect(() => checkCertificates(input)).toThrow(CertificateError);
    expect(() => checkCertificates(input)).toThrow(message);
  });

  it("refuses an expired certificate", () => {
    expect(() => checkCertificates(first, Date.now() + 2 * 24 * 3600_000)).toThrow(/expired at/);
  });

  it("splits a bundle into its certificates", () => {
    expect(splitPem(first.caPem + second.caPem)).toEqual([first.caPem, second.caPem]);
    expect(() => splitPem("")).toThrow(CertificateError);
  });
});
