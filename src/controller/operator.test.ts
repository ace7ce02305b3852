import { describe, expect, it } from "vitest";
import { OperatorError } from "../errors.js";
import { podCacheModeFromEnv } from "./operator.js";

describe("podCacheModeFromEnv", () => {
  it.each([
    [undefined, "projected"],
    ["", "projected"],
    ["projected", "projected"],
    ["full", "full"],
  ] as const)("MODELPACK_POD_CACHE=%s → %s", (value, mode) => {
    expect(podCacheModeFromEnv(value === undefined ? {} : { MODELPACK_POD_CACHE: value })).toBe(mode);
  });

  it("refuses another value, naming the variable and what it may be", () => {
    expect(() => podCacheModeFromEnv({ MODELPACK_POD_CACHE: "slim" })).toThrow(OperatorError);
    expect(() => podCacheModeFromEnv({ MODELPACK_POD_CACHE: "slim" })).toThrow(
      /MODELPACK_POD_CACHE is "slim".*"projected".*"full"/,
    );
  });
});
