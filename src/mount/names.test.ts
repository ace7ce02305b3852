import { describe, expect, it } from "vitest";
import {
  CA_VOLUME_NAME,
  dnsLabelName,
  isDnsLabel,
  modelVolumeName,
  pullContainerName,
  secretVolumeName,
  shortHash,
} from "./names.js";

describe("dnsLabelName", () => {
  const long = "a".repeat(100);
  it.each([
    ["a short valid name is kept", "llama3-8b", "modelpack-model-llama3-8b"],
    [
      "dots are replaced and hashed",
      "llama3.1-8b",
      `modelpack-model-llama3-1-8b-${shortHash("llama3.1-8b")}`,
    ],
    ["uppercase is lowercased and hashed", "Llama", `modelpack-model-llama-${shortHash("Llama")}`],
    ["a name that just fits is kept", "x".repeat(47), `modelpack-model-${"x".repeat(47)}`],
    [
      "one more character is hashed",
      "x".repeat(48),
      `modelpack-model-${"x".repeat(36)}-${shortHash("x".repeat(48))}`,
    ],
    ["a long name is cut and hashed", long, `modelpack-model-${"a".repeat(36)}-${shortHash(long)}`],
    [
      "trailing dashes of the cut part go",
      `${"a".repeat(35)}.b${"c".repeat(40)}`,
      `modelpack-model-${"a".repeat(35)}-${shortHash(`${"a".repeat(35)}.b${"c".repeat(40)}`)}`,
    ],
    ["an empty name is only the hash", "", `modelpack-model-${shortHash("")}`],
  ])("%s", (_, name, expected) => {
    const result = modelVolumeName(name);
    expect(result).toBe(expected);
    expect(isDnsLabel(result)).toBe(true);
  });

  it("keeps names that sanitise alike apart", () => {
    expect(modelVolumeName("llama3.1")).not.toBe(modelVolumeName("llama3-1"));
    expect(modelVolumeName(`${"a".repeat(60)}x`)).not.toBe(modelVolumeName(`${"a".repeat(60)}y`));
  });

  it("is deterministic and always a label for every kind", () => {
    for (const name of ["m", "a.b.c", "x".repeat(253), "UPPER_case"]) {
      for (const make of [modelVolumeName, pullContainerName, secretVolumeName]) {
        expect(make(name)).toBe(make(name));
        expect(isDnsLabel(make(name))).toBe(true);
      }
    }
    expect(isDnsLabel(CA_VOLUME_NAME)).toBe(true);
  });

  it("cannot give a model volume the name of a secret or CA volume", () => {
    expect(modelVolumeName("ca")).not.toBe(CA_VOLUME_NAME);
    expect(modelVolumeName("x")).not.toBe(secretVolumeName("x"));
    expect(dnsLabelName("p-", "q")).toBe("p-q");
  });
});

describe("isDnsLabel", () => {
  it.each([
    ["a", true],
    ["a-b-1", true],
    ["x".repeat(63), true],
    ["x".repeat(64), false],
    ["-a", false],
    ["a-", false],
    ["a.b", false],
    ["A", false],
    ["", false],
  ])("%s → %s", (value, expected) => expect(isDnsLabel(value)).toBe(expected));
});
