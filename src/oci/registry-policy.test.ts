import { describe, expect, it } from "vitest";
import {
  checkAllowed,
  checkRealm,
  isPlainHttp,
  registryBaseUrl,
  type RegistryPolicy,
} from "./registry-policy.js";

describe("registry policy", () => {
  it.each<[string, RegistryPolicy, string, boolean]>([
    ["none declared", {}, "r.test:5000", false],
    ["all declared", { plainHttp: true }, "r.test:5000", true],
    ["listed", { plainHttp: ["r.test:5000"] }, "r.test:5000", true],
    ["another port", { plainHttp: ["r.test:5000"] }, "r.test:5001", false],
  ])("isPlainHttp: %s", (_what, policy, host, expected) => {
    expect(isPlainHttp(policy, host)).toBe(expected);
    expect(registryBaseUrl(policy, host).startsWith(expected ? "http://" : "https://")).toBe(true);
  });

  it.each<[string, RegistryPolicy, string, boolean]>([
    ["an HTTPS realm", {}, "https://auth.test/token", true],
    ["a plain realm, undeclared", {}, "http://auth.test/token", false],
    [
      "a plain realm on a declared registry's host, another port",
      { plainHttp: ["r.test:5000"] },
      "http://r.test:5001/token",
      true,
    ],
    ["a plain realm on another host", { plainHttp: ["r.test:5000"] }, "http://auth.test/token", false],
  ])("checkRealm: %s", (_what, policy, realm, allowed) => {
    const run = () => checkRealm(policy, "r.test:5000", new URL(realm));
    if (allowed) expect(run).not.toThrow();
    else expect(run).toThrow(/not HTTPS/);
  });

  it.each<[string, RegistryPolicy, boolean]>([
    ["no allow-list", {}, true],
    ["listed", { allowedRegistries: ["r.test"] }, true],
    ["not listed", { allowedRegistries: ["other.test"] }, false],
    ["empty list", { allowedRegistries: [] }, false],
  ])("checkAllowed: %s", (_what, policy, allowed) => {
    const run = () => checkAllowed(policy, "r.test");
    if (allowed) expect(run).not.toThrow();
    else expect(run).toThrow(/not in the allowed registries/);
  });
});
