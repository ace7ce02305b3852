import { describe, expect, it } from "vitest";
import { parseChallenges, TokenCache } from "./auth.js";

describe("parseChallenges", () => {
  it.each([
    [
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:m:pull"',
      [
        {
          scheme: "bearer",
          params: {
            realm: "https://auth.example/token",
            service: "registry.example",
            scope: "repository:m:pull",
          },
        },
      ],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: "basic", params: { realm: "Registry Realm" } }]],
    [
      'Bearer realm="https://a/t",scope="repository:a:pull,push", Basic realm="x"',
      [
        { scheme: "bearer", params: { realm: "https://a/t", scope: "repository:a:pull,push" } },
        { scheme: "basic", params: { realm: "x" } },
      ],
    ],
    ['Bearer realm="a\\"b"', [{ scheme: "bearer", params: { realm: 'a"b' } }]],
    [
      "Bearer realm=token68ish,error=invalid_token",
      [{ scheme: "bearer", params: { realm: "token68ish", error: "invalid_token" } }],
    ],
    ["", []],
    ["  ,, ", []],
  ])("%s", (header, expected) => {
    expect(parseChallenges(header)).toEqual(expected);
  });
});

describe("TokenCache", () => {
  it("expires tokens a little early and keys by registry and scope", () => {
    let now = 0;
    const cache = new TokenCache(() => now);
    cache.set("r", "repository:a:pull", "t1", 60);
    expect(cache.get("r", "repository:a:pull")).toBe("t1");
    expect(cache.get("r", "repository:b:pull")).toBeUndefined();
    expect(cache.get("other", "repository:a:pull")).toBeUndefined();
    now = 53_999;
    expect(cache.get("r", "repository:a:pull")).toBe("t1");
    now = 54_000;
    expect(cache.get("r", "repository:a:pull")).toBeUndefined();
  });
});
