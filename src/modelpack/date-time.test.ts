import { describe, expect, it } from "vitest";
import { explainDateTime, isStrictDateTime } from "./date-time.js";

describe("isStrictDateTime (Go RFC 3339 ∩ jsonschema date-time)", () => {
  it.each([
    "2025-01-01T00:00:00Z",
    "2025-01-01T00:00:00.123456789+08:00",
    "2025-01-01T00:00:00-00:00",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59.9999999999999Z",
    "2024-02-29T12:00:00Z",
    "2000-02-29T12:00:00Z",
    "2025-06-30T23:59:59+23:59",
    "2025-04-30T00:00:00.0-12:00",
  ])("accepts %s", (s) => {
    expect(isStrictDateTime(s)).toBe(true);
    expect(explainDateTime(s)).toBeUndefined();
  });

  it.each([
    ["2025-01-01t00:00:00z", "uppercase T"],
    ["2025-01-01T00:00:00z", "uppercase Z"],
    ["2025-01-01t00:00:00Z", "uppercase T"],
    ["2025-01-01 00:00:00Z", "uppercase T"],
    ["2025-01-01T00:00:00+0800", "±HH:MM"],
    ["2025-01-01T00:00:00+08", "±HH:MM"],
    ["2016-12-31T23:59:60Z", "leap seconds"],
    ["2025-01-01T00:00:00", "offset is missing"],
    ["2025-02-30T00:00:00Z", "day 30 does not exist"],
    ["2023-02-29T00:00:00Z", "day 29 does not exist"],
    ["1900-02-29T00:00:00Z", "day 29 does not exist"],
    ["2025-04-31T00:00:00Z", "day 31 does not exist"],
    ["2025-13-01T00:00:00Z", "month 13"],
    ["2025-00-01T00:00:00Z", "month 00"],
    ["2025-01-00T00:00:00Z", "day 00"],
    ["2025-01-01T24:00:00Z", "hour 24"],
    ["2025-01-01T00:60:00Z", "minute 60"],
    ["2025-01-01T00:00:00+24:00", "offset hour 24"],
    ["2025-01-01T00:00:00+00:60", "offset minute 60"],
    ["2025-01-01T00:00:00.Z", "at least one digit"],
    ["2025-01-01T00:00:00,5Z", "period, not a comma"],
    ["", "empty"],
    ["2025-01-01", "date alone"],
    ["2025/01/01T00:00:00Z", "the form"],
    ["25-01-01T00:00:00Z", "the form"],
    ["2025-1-01T00:00:00Z", "the form"],
    ["2025-01-01T0:00:00Z", "the form"],
    ["2025-01-01T00:00:00Z ", "the form"],
    ["+2025-01-01T00:00:00Z", "the form"],
    ["２０２５-01-01T00:00:00Z", "the form"],
  ])("rejects %j (%s)", (s, why) => {
    expect(isStrictDateTime(s)).toBe(false);
    expect(explainDateTime(s)).toContain(why);
  });
});
