import { describe, expect, it } from "vitest";
import { matches } from "./matches.js";

describe("matches: every field we set has the same value; extra fields are ignored", () => {
  it.each([
    ["equal primitives", 1, 1, true],
    ["different primitives", "a", "b", false],
    [
      "extra defaulted fields",
      { name: "c", args: ["x"] },
      { name: "c", args: ["x"], terminationMessagePath: "/dev/termination-log" },
      true,
    ],
    ["a missing field", { name: "c", readOnly: true }, { name: "c" }, false],
    ["undefined wanted fields", { name: "c", subPath: undefined }, { name: "c" }, true],
    ["arrays of another length", { args: ["a"] }, { args: ["a", "b"] }, false],
    ["arrays item by item", [{ a: 1 }], [{ a: 1, b: 2 }], true],
    ["an object against an array", { a: 1 }, [1], false],
    ["an array against an object", [1], { 0: 1 }, false],
    ["an object against null", { a: 1 }, null, false],
    ["null against null", null, null, true],
  ])("%s", (_, wanted, actual, expected) => expect(matches(wanted, actual)).toBe(expected));
});
