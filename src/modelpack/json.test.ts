import { describe, expect, it } from "vitest";
import { isJsonObject } from "./issues.js";
import { parseJson } from "./json.js";

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function valueOf(input: string | Uint8Array, options?: Parameters<typeof parseJson>[1]): unknown {
  const result = parseJson(input, options);
  if (!result.ok) throw new Error(`unexpected failure: ${result.error.message} at ${result.error.offset}`);
  return result.value;
}

function errorOf(
  input: string | Uint8Array,
  options?: Parameters<typeof parseJson>[1],
): { message: string; offset: number } {
  const result = parseJson(input, options);
  if (result.ok) throw new Error(`unexpected success: ${JSON.stringify(result.value)}`);
  return result.error;
}

describe("parseJson: values", () => {
  it.each([
    "{}",
    "[]",
    '""',
    "0",
    "-0.5e+10",
    "1E-3",
    "true",
    "false",
    "null",
    ' \t\r\n{"a" : [1, 2.5, -3, "x", {"b": null}] , "c": {}} \n',
    '"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC"',
    '"héllo wörld 🙂 — ünïcødé"',
    '{"a":"a very long ascii string that takes the decoder path rather than the short loop"}',
    "[[[[[]]]]]",
    "123456789012345678901234567890",
  ])("parses %j like JSON.parse", (text) => {
    expect(valueOf(text)).toEqual(JSON.parse(text));
    expect(valueOf(utf8(text))).toEqual(JSON.parse(text));
  });

  it("decodes a surrogate-pair escape into one code point", () => {
    expect(valueOf('"\\ud83d\\ude00"')).toBe("😀");
  });

  it.each([
    ['"\\ud800"', "\uFFFD"],
    ['"\\udc00"', "\uFFFD"],
    ['"\\ud800x"', "\uFFFDx"],
    ['"\\ud800\\u0041"', "\uFFFDA"],
    ['"\\ud800\\ud800\\udc00"', "\uFFFD\u{10000}"],
  ])("decodes the lone surrogate escape %s to U+FFFD as Go does", (text, expected) => {
    expect(valueOf(text)).toBe(expected);
  });

  it("keeps __proto__ as an own key", () => {
    const value = valueOf('{"__proto__": {"polluted": true}, "a": 1}');
    if (!isJsonObject(value)) throw new Error("not an object");
    expect(Object.keys(value)).toEqual(["__proto__", "a"]);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(value["polluted"]).toBeUndefined();
    const probe: Record<string, unknown> = {};
    expect(probe["polluted"]).toBeUndefined();
  });

  it("parses a few-MB manifest quickly and exactly", () => {
    const layers = Array.from({ length: 20_000 }, (_, i) => ({
      mediaType: "application/vnd.cncf.model.weight.v1.raw",
      digest: `sha256:${i.toString(16).padStart(64, "0")}`,
      size: i * 1024,
      annotations: { "org.cncf.model.filepath": `weights/shard-${i}.safetensors`, note: "ünïcødé ✓" },
    }));
    const text = JSON.stringify({ schemaVersion: 2, layers });
    expect(text.length).toBeGreaterThan(4_000_000);
    const started = performance.now();
    const value = valueOf(utf8(text));
    const elapsed = performance.now() - started;
    expect(value).toEqual(JSON.parse(text));
    expect(elapsed).toBeLessThan(2000);
  });
});

describe("parseJson: syntax errors", () => {
  it.each([
    ["", "unexpected end of JSON input", 0],
    ["   ", "unexpected end of JSON input", 3],
    ["{", "unexpected end of JSON input", 1],
    ['{"a"', "unexpected end of JSON input", 4],
    ['{"a":', "unexpected end of JSON input", 5],
    ['{"a":1', "unexpected end of JSON input", 6],
    ["[1,", "unexpected end of JSON input", 3],
    ['"abc', "unexpected end of JSON input", 4],
    ["{a:1}", "invalid character 'a' looking for beginning of object key string", 1],
    ['{"a" 1}', "invalid character '1' after object key", 5],
    ['{"a":1 "b":2}', "invalid character '\"' after object key:value pair", 7],
    ['{"a":1,}', "invalid character '}' looking for beginning of object key string", 7],
    ["[1,]", "invalid character ']' looking for beginning of value", 3],
    ["[1 2]", "invalid character '2' after array element", 3],
    ["01", "invalid character '1' after top-level value", 1],
    ["1.", "unexpected end of JSON input", 2],
    ["1.e5", "invalid character 'e' after decimal point in numeric literal", 2],
    [".5", "invalid character '.' looking for beginning of value", 0],
    ["-", "unexpected end of JSON input", 1],
    ["-a", "invalid character 'a' in numeric literal", 1],
    ["1e", "unexpected end of JSON input", 2],
    ["1e+", "unexpected end of JSON input", 3],
    ["+1", "invalid character '+' looking for beginning of value", 0],
    ["NaN", "invalid character 'N' looking for beginning of value", 0],
    ["tru", "unexpected end of JSON input", 3],
    ["trUe", "invalid character 'U' in literal true (expecting 'u')", 2],
    ["nul", "unexpected end of JSON input", 3],
    ["{} {}", "invalid character '{' after top-level value", 3],
    ['"a\tb"', "invalid character byte 0x09 in string literal", 2],
    ['"\\x"', "invalid character 'x' in string escape code", 2],
    ['"\\u12G4"', "invalid character 'G' in \\u hexadecimal character escape", 5],
    ["'a'", "invalid character '\\'' looking for beginning of value", 0],
    ["[1]\u00a0", "invalid character byte 0xC2 after top-level value", 3],
  ])("rejects %j: %s at %d", (text, message, offset) => {
    expect(errorOf(text)).toEqual({ message, offset });
  });

  it("rejects numbers a float64 cannot hold, as Go does", () => {
    expect(errorOf("[1e400]")).toEqual({
      message: "number 1e400 is out of range for a 64-bit float",
      offset: 1,
    });
    expect(errorOf("-1e309").message).toContain("out of range");
    expect(valueOf("1e308")).toBe(1e308);
  });

  it("rejects a leading BOM like Go's encoding/json", () => {
    expect(errorOf(bytes(0xef, 0xbb, 0xbf, 0x7b, 0x7d))).toEqual({
      message: "a UTF-8 byte order mark (BOM) is not allowed before the JSON value",
      offset: 0,
    });
    expect(errorOf("\ufeff{}").offset).toBe(0);
  });

  it("reports byte offsets, not UTF-16 indices", () => {
    expect(errorOf('{"é": x}').offset).toBe(7);
  });

  it("accepts 10000 nested arrays and rejects 10001 (Go's limit)", () => {
    expect(parseJson("[".repeat(10_000) + "]".repeat(10_000)).ok).toBe(true);
    const error = errorOf("[".repeat(10_001) + "]".repeat(10_001));
    expect(error).toEqual({
      message: "exceeded max depth of 10000 nested objects and arrays",
      offset: 10_000,
    });
    expect(errorOf('{"a":'.repeat(5) + "1" + "}".repeat(5), { maxDepth: 4 }).offset).toBe(20);
  });
});

describe("parseJson: duplicate keys", () => {
  it.each([
    ['{"a":1,"a":2}', '"a"', 7],
    ['{"a":1,"b":2,"a":3}', '"a"', 13],
    ['{"x":{"a":1,"a":2}}', '"a"', 12],
    ['[{"a":1},{"a":1,"a":1}]', '"a"', 16],
    ['{"a":1,"\\u0061":2}', '"a"', 7],
    ['{"é":1,"\\u00e9":2}', '"é"', 8],
    ['{"\\ud800":1,"\\udfff":2}', '"\uFFFD"', 12],
    ['{"":1,"":2}', '""', 6],
  ])("rejects %s by default", (text, key, offset) => {
    expect(errorOf(text)).toEqual({ message: `duplicate object key ${key}`, offset });
  });

  it("treats keys that differ in case or by escaping a different character as distinct", () => {
    expect(valueOf('{"a":1,"A":2,"a\\n":3,"a\\t":4}')).toEqual({ a: 1, A: 2, "a\n": 3, "a\t": 4 });
  });

  it("collects every overwritten occurrence with its path when asked, keeping the last value", () => {
    const result = parseJson('{"d":{"n":1,"n":"x","n":"y"},"l":[0,{"k":true,"k":false}],"d":{}}', {
      duplicateKeys: "collect",
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value).toEqual({ d: {}, l: [0, { k: false }] });
    expect(result.duplicates).toEqual([
      { path: ["d"], key: "n", offset: 12, overwritten: 1 },
      { path: ["d"], key: "n", offset: 20, overwritten: "x" },
      { path: ["l", 1], key: "k", offset: 46, overwritten: true },
      { path: [], key: "d", offset: 58, overwritten: { n: "y" } },
    ]);
  });
});

describe("parseJson: UTF-8", () => {
  it.each([
    [bytes(0x22, 0xff, 0x22), 1],
    [bytes(0x22, 0xc0, 0xaf, 0x22), 1], // overlong "/"
    [bytes(0x22, 0xed, 0xa0, 0x80, 0x22), 1], // encoded surrogate
    [bytes(0x22, 0xf4, 0x90, 0x80, 0x80, 0x22), 1], // above U+10FFFF
    [bytes(0x22, 0x61, 0xe2, 0x82, 0x22), 2], // truncated sequence
  ])("rejects invalid UTF-8 %o by default", (input, offset) => {
    expect(errorOf(input).offset).toBe(offset);
    expect(errorOf(input).message).toMatch(/^invalid UTF-8 byte 0x[0-9A-F]{2} in string$/);
  });

  it("replaces each invalid byte with U+FFFD, as Go does, when asked", () => {
    const result = parseJson(bytes(0x22, 0x61, 0xe2, 0x82, 0x62, 0xff, 0x22), { invalidUtf8: "replace" });
    expect(result).toEqual({ ok: true, value: "a\uFFFD\uFFFDb\uFFFD", duplicates: [], invalidUtf8Offset: 2 });
  });

  it("rejects invalid UTF-8 outside strings either way", () => {
    expect(errorOf(bytes(0x5b, 0xff, 0x5d), { invalidUtf8: "replace" }).message).toBe(
      "invalid character byte 0xFF looking for beginning of value",
    );
  });

  it("treats lone surrogates in string input as invalid text", () => {
    expect(errorOf('"a\ud800"')).toEqual({ message: "invalid text: lone UTF-16 surrogate", offset: 2 });
    const replaced = parseJson('"é\udc00"', { invalidUtf8: "replace" });
    expect(replaced).toEqual({ ok: true, value: "é\uFFFD", duplicates: [], invalidUtf8Offset: 3 });
  });

  it("accepts every well-formed sequence length", () => {
    expect(valueOf(utf8('"$ ¢ € 𐍈"'))).toBe("$ ¢ € 𐍈");
  });
});
