import { describe, expect, it } from "vitest";
import { shortDigest, validationReport } from "./status-fields.js";
import { truncate } from "./truncate.js";
import { ValidationReport } from "./v1alpha1.js";

describe("shortDigest", () => {
  it.each([
    ["sha256:" + "0123456789abcdef".repeat(4), "sha256:0123456789ab"],
    ["sha512:" + "f".repeat(128), "sha512:ffffffffffff"],
    ["sha256:abc", "sha256:abc"],
    ["0123456789abcdef", "0123456789ab"],
  ])("%s → %s", (digest, short) => {
    expect(shortDigest(digest)).toBe(short);
  });
});

describe("validationReport", () => {
  const finding = (i: number) => ({ code: `c${i}`, path: `p${i}`, message: `m${i}` });

  it("omits what is empty", () => {
    expect(validationReport({})).toEqual({});
    expect(validationReport({ errors: [], warnings: [finding(1)] })).toEqual({
      warnings: [finding(1)],
      warningCount: 1,
    });
  });

  it("keeps the first 10 of each list and counts them all", () => {
    const many = Array.from({ length: 25 }, (_, i) => finding(i));
    const report = validationReport({ errors: many, warnings: many.slice(0, 3), lint: many });
    expect(report.errors).toEqual(many.slice(0, 10));
    expect(report.errorCount).toBe(25);
    expect(report.warnings).toHaveLength(3);
    expect(report.lint).toHaveLength(10);
    expect(report.lintCount).toBe(25);
    expect(ValidationReport.safeParse(report).success).toBe(true);
  });

  it("cuts long fields to the schema's limits and drops empty paths", () => {
    const report = validationReport({
      errors: [{ code: "x".repeat(100), path: "", message: "€".repeat(600) }],
      lint: [{ code: "MP001", message: "m" }],
    });
    expect(report.errors?.[0]?.code).toHaveLength(64);
    expect(report.errors?.[0]).not.toHaveProperty("path");
    expect(report.errors?.[0]?.message).toHaveLength(512);
    expect(report.errors?.[0]?.message.endsWith("…")).toBe(true);
    expect(ValidationReport.safeParse(report).success).toBe(true);
  });
});

describe("truncate", () => {
  it.each([
    ["short", 10, "short"],
    ["exactly10!", 10, "exactly10!"],
    ["eleven chars", 10, "eleven ch…"],
    ["😀😀😀😀😀😀", 6, "😀😀…"], // surrogate pairs are never split
    ["a😀b", 3, "a…"],
  ])("truncate(%j, %d) = %j", (text, max, expected) => {
    expect(truncate(text, max)).toBe(expected);
    expect(truncate(text, max).length).toBeLessThanOrEqual(max);
  });
});
