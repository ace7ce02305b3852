import { describe, expect, it } from "vitest";
import { chainCredentialStores, normalizeRegistryKey, parseDockerConfig } from "./credentials.js";
import { RegistryError } from "./errors.js";

const b64 = (s: string): string => Buffer.from(s).toString("base64");

describe("parseDockerConfig", () => {
  it("reads auths with base64 auth, username/password, identity and registry tokens", () => {
    const store = parseDockerConfig(
      JSON.stringify({
        auths: {
          "r.io": { auth: b64("alice:pa:ss") },
          "https://index.docker.io/v1/": { auth: b64("bob:pw") },
          "http://127.0.0.1:5000": { username: "u", password: "p" },
          "id.io": { auth: b64("carol:"), identitytoken: "refresh" },
          "tok.io": { registrytoken: "bearer" },
        },
      }),
      "config.json",
    );
    expect(store.lookup("r.io")).toEqual({
      kind: "basic",
      username: "alice",
      password: "pa:ss",
      source: "config.json",
    });
    expect(store.lookup("docker.io")).toEqual({
      kind: "basic",
      username: "bob",
      password: "pw",
      source: "config.json",
    });
    expect(store.lookup("127.0.0.1:5000")).toEqual({
      kind: "basic",
      username: "u",
      password: "p",
      source: "config.json",
    });
    expect(store.lookup("id.io")).toEqual({
      kind: "identityToken",
      username: "carol",
      token: "refresh",
      source: "config.json",
    });
    expect(store.lookup("tok.io")).toEqual({ kind: "registryToken", token: "bearer", source: "config.json" });
    expect(store.lookup("none.io")).toBeUndefined();
  });

  it("reads the legacy .dockercfg shape", () => {
    const store = parseDockerConfig(JSON.stringify({ "r.io": { auth: b64("a:b") } }), ".dockercfg");
    expect(store.lookup("r.io")).toEqual({
      kind: "basic",
      username: "a",
      password: "b",
      source: ".dockercfg",
    });
  });

  it("reports credential helpers instead of silently going anonymous", () => {
    const store = parseDockerConfig(
      JSON.stringify({
        auths: { "r.io": { auth: b64("a:b") } },
        credsStore: "desktop",
        credHelpers: { "ecr.io": "ecr-login" },
      }),
      "/home/me/.docker/config.json",
    );
    expect(store.lookup("ecr.io")).toEqual({
      kind: "helper",
      helper: "docker-credential-ecr-login",
      source: "/home/me/.docker/config.json",
    });
    expect(store.lookup("other.io")).toEqual({
      kind: "helper",
      helper: "docker-credential-desktop",
      source: "/home/me/.docker/config.json",
    });
    expect(store.lookup("r.io")).toEqual({
      kind: "basic",
      username: "a",
      password: "b",
      source: "/home/me/.docker/config.json",
    });
  });

  it.each([
    ["not json", "not valid JSON"],
    ["[1]", "not a Docker config"],
    [JSON.stringify({ auths: { "r.io": { auth: b64("nocolon") } } }), "not base64"],
  ])("rejects %j", (json, message) => {
    expect(() => parseDockerConfig(json, "secret ns/regcred")).toThrow(RegistryError);
    expect(() => parseDockerConfig(json, "secret ns/regcred")).toThrow(message);
  });

  it("chains stores in order", () => {
    const a = parseDockerConfig(JSON.stringify({ auths: { "r.io": { auth: b64("a:1") } } }), "a");
    const b = parseDockerConfig(
      JSON.stringify({ auths: { "r.io": { auth: b64("b:2") }, "s.io": { auth: b64("b:3") } } }),
      "b",
    );
    const chained = chainCredentialStores([a, b]);
    expect(chained.lookup("r.io")).toEqual({ kind: "basic", username: "a", password: "1", source: "a" });
    expect(chained.lookup("s.io")).toEqual({ kind: "basic", username: "b", password: "3", source: "b" });
  });

  it.each([
    ["https://index.docker.io/v1/", "docker.io"],
    ["r.io:5000", "r.io:5000"],
    ["http://R.io/v2/", "r.io"],
  ])("normalizeRegistryKey(%s)", (key, expected) => {
    expect(normalizeRegistryKey(key)).toBe(expected);
  });
});

describe("credentials that would inject headers", () => {
  it.each([
    ["username (auth)", { auth: b64("bob\r\nX-Injected: 1:pw") }, /username/],
    ["username (field)", { username: "bob\n", password: "pw" }, /username/],
    ["identitytoken", { identitytoken: "t\r\nX: y" }, /identitytoken/],
    ["registrytoken", { registrytoken: "t\u0000" }, /registrytoken/],
  ])("refuses a CR, LF or control character in the %s", (_name, entry, field) => {
    const parse = (): unknown =>
      parseDockerConfig(JSON.stringify({ auths: { "r.io": entry } }), "secret ns/regcred");
    expect(parse).toThrow(RegistryError);
    expect(parse).toThrow(field);
    expect(parse).toThrow(/secret ns\/regcred.*r\.io.*CR, LF/);
  });

  it("accepts a password with unusual characters (it is base64-encoded on the wire)", () => {
    const store = parseDockerConfig(
      JSON.stringify({ auths: { "r.io": { auth: b64("bob:p\u00e4ss w0rd!") } } }),
      "c",
    );
    expect(store.lookup("r.io")).toEqual({
      kind: "basic",
      username: "bob",
      password: "p\u00e4ss w0rd!",
      source: "c",
    });
  });
});

describe("where a credential came from", () => {
  it("is kept for error messages", () => {
    const auth = Buffer.from("a:b").toString("base64");
    const store = parseDockerConfig(JSON.stringify({ auths: { "r.io": { auth } } }), 'pull secret "regcred"');
    expect(store.lookup("r.io")?.source).toBe('pull secret "regcred"');
  });
});
