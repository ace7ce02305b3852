import { describe, expect, it } from "vitest";
import { COMMANDS, PULL, VALIDATE } from "./command-specs.js";
import {
  commandHelp,
  editDistance,
  parseFlags,
  suggestFlag,
  unknownFlagMessage,
  wantsJsonOutput,
} from "./flags.js";

describe("editDistance", () => {
  it.each([
    ["dest", "dest", 0],
    ["dset", "dest", 1], // a transposition counts once
    ["dst", "dest", 1],
    ["concurency", "concurrency", 1],
    ["abc", "xyz", 3],
    ["", "ab", 2],
  ])("%s → %s is %i", (a, b, d) => expect(editDistance(a, b)).toBe(d));
});

describe("suggestFlag", () => {
  const known = ["dest", "concurrency", "config", "kubeconfig", "output", "help"];
  it.each([
    ["dset", "dest"],
    ["concurency", "concurrency"],
    ["confg", "config"],
    ["kube", "kubeconfig"], // the only flag it is a prefix of
    ["Dest", "dest"],
    ["x", undefined], // one letter is never "close"
    ["frobnicate", undefined],
    ["con", undefined], // a prefix of two flags
  ])("%s → %s", (name, expected) => expect(suggestFlag(name, known)).toBe(expected));
});

describe("parseFlags", () => {
  it.each([
    [["r", "--dset", "x"], "unknown flag --dset (did you mean --dest?)"],
    [["r", "--config", "x"], "unknown flag --config for pull (it is a flag of validate)"],
    [["r", "-x"], "unknown flag -x; run modelpack-operator pull --help"],
    [["r", "--dest"], "--dest needs a value: --dest DIR"],
    [["r", "--dest", "--plain-http"], "--dest needs a value, but --plain-http follows it"],
    [["r", "--plain-http=yes"], "--plain-http takes no value"],
  ])("refuses %j with our message", (args, message) => {
    expect(() => parseFlags(PULL, args, COMMANDS)).toThrow(message);
  });

  it("takes -o as --output, - as a value, and --flag=-x", () => {
    expect(parseFlags(VALIDATE, ["-o", "json", "--config", "-"]).values).toMatchObject({
      output: "json",
      config: "-",
    });
    expect(parseFlags(PULL, ["r", "--dest=-x"]).values.dest).toBe("-x");
  });
});

describe("wantsJsonOutput", () => {
  it.each([
    [["--output", "json"], true],
    [["--output=json"], true],
    [["-o", "json"], true],
    [["-ojson"], true],
    [["--output", "text"], false],
    [["--", "-o", "json"], false],
    [[], false],
  ])("%j → %s", (args, expected) => expect(wantsJsonOutput(args)).toBe(expected));
});

describe("commandHelp", () => {
  it.each(COMMANDS.map((c) => [c.name, c] as const))(
    "%s's help describes every flag its parser accepts, and only those",
    (_name, command) => {
      const help = commandHelp(command);
      const shown = [...help.matchAll(/^ {2}(?:-\w, )?--([a-z-]+)/gm)].map((m) => m[1]);
      expect(shown.sort()).toEqual([...Object.keys(command.flags), "output", "help"].sort());
      for (const spec of Object.values(command.flags)) expect(spec.description.length).toBeGreaterThan(10);
    },
  );

  it("names a flag of another command in the message", () => {
    expect(unknownFlagMessage(VALIDATE, "--dest", COMMANDS)).toContain("it is a flag of pull");
  });
});
