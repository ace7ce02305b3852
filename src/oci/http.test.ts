import { describe, expect, it } from "vitest";
import { RegistryError } from "./errors.js";
import { checkBodyRedirect, checkHeaders, headersForRedirect, isValidHeaderValue } from "./http.js";

describe("isValidHeaderValue", () => {
  it.each([
    ["Bearer abc.def-ghi_jkl", true],
    ["Basic YWxpY2U6cGFzcw==", true],
    ["with spaces\tand a tab", true],
    ["obs-text \u00e9", true],
    ["", true],
    ["abc\r\nX-Injected: yes", false],
    ["abc\nX: y", false],
    ["abc\r", false],
    ["nul\u0000", false],
    ["del\u007f", false],
    ["wide \u20ac", false],
  ])("%j → %s", (value, valid) => {
    expect(isValidHeaderValue(value)).toBe(valid);
  });
});

describe("checkHeaders", () => {
  const url = new URL("https://r.example/v2/");
  it("passes ordinary headers", () => {
    expect(() => checkHeaders({ authorization: "Bearer t", "user-agent": "x" }, url)).not.toThrow();
  });
  it("refuses a bad value without quoting it, and a bad name", () => {
    const err = (() => {
      try {
        checkHeaders({ authorization: "Bearer tok-XYZ\r\nX: y" }, url);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).message).toContain('"authorization" header to https://r.example');
    expect((err as RegistryError).message).not.toContain("tok-XYZ");
    expect(() => checkHeaders({ "x\r\ny": "v" }, url)).toThrow(/invalid name/);
  });
});

describe("redirect policy", () => {
  const from = new URL("https://r.example/token");
  it.each([
    ["same origin", "https://r.example/other", true],
    ["another host", "https://cdn.example/x", false],
    ["another port", "https://r.example:8443/x", false],
    ["a downgrade to http", "http://r.example/x", false],
  ])("credentials to %s: kept %s", (_name, to, kept) => {
    const headers = headersForRedirect(
      { Authorization: "Bearer t", cookie: "c", "proxy-authorization": "p", accept: "a" },
      from,
      new URL(to),
    );
    expect(headers.accept).toBe("a");
    expect("Authorization" in headers).toBe(kept);
    expect("cookie" in headers).toBe(kept);
    expect("proxy-authorization" in headers).toBe(kept);
  });
  it("lets a body follow a redirect only on its origin", () => {
    expect(() => checkBodyRedirect("POST", true, from, new URL("https://r.example/t2"))).not.toThrow();
    expect(() => checkBodyRedirect("GET", false, from, new URL("https://evil.example/"))).not.toThrow();
    expect(() => checkBodyRedirect("POST", true, from, new URL("https://evil.example/"))).toThrow(
      /redirect to another origin \(https:\/\/evil\.example\)/,
    );
  });
});
