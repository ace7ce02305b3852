import { describe, expect, it } from "vitest";
import {
  applicableRules,
  matchesRepository,
  requirementFingerprint,
  ruleRequirement,
  VerificationPolicy,
  type Requirement,
} from "./policy.js";

describe("matchesRepository", () => {
  it.each([
    ["registry.example.com/prod/*", "registry.example.com/prod/llama", true],
    ["registry.example.com/prod/*", "registry.example.com/prod/team/llama", false],
    ["registry.example.com/prod/**", "registry.example.com/prod/team/llama", true],
    ["registry.example.com/prod/**", "registry.example.com/production/llama", false],
    ["registry.example.com/**", "registry.example.com/a", true],
    ["registry.example.com:5000/m", "registry.example.com:5000/m", true],
    ["registry.example.com/m", "registry.example.com/m2", false],
    ["*/models/x", "localhost:5000/models/x", true],
    ["registry.example.com/a.b", "registry.example.com/aXb", false],
    ["REGISTRY.example.com/a", "registry.example.com/a", false],
  ])("%s against %s: %s", (pattern, name, expected) => {
    expect(matchesRepository(pattern, name)).toBe(expected);
  });
});

const policy = VerificationPolicy.parse({
  rules: [
    { name: "prod", repositories: ["registry.example.com/prod/**"], publicKeys: ["PEM-A"] },
    {
      name: "ci",
      repositories: ["registry.example.com/prod/llm/*", "other.example.com/**"],
      identities: [{ issuer: "https://issuer.example.com", subjectRegExp: "^https://ci/" }],
      requireTransparencyLog: true,
    },
  ],
});

describe("applicableRules", () => {
  it.each([
    ["registry.example.com", "prod/llm/llama", ["prod", "ci"]],
    ["registry.example.com", "prod/vision", ["prod"]],
    ["registry.example.com", "dev/llama", []],
    ["other.example.com", "x/y", ["ci"]],
  ])("%s/%s is covered by %j", (registry, repository, names) => {
    expect(applicableRules(policy, registry, repository).map((r) => r.name)).toEqual(names);
  });

  it("no policy covers nothing", () => {
    expect(applicableRules(undefined, "registry.example.com", "prod/x")).toEqual([]);
  });
});

describe("VerificationPolicy", () => {
  it.each([
    [{ rules: [{ name: "r", repositories: ["a/b"] }] }, "at least one of publicKeys and identities"],
    [
      { rules: [{ name: "r", repositories: ["a/b"], identities: [{ issuer: "i" }] }] },
      "exactly one of subject",
    ],
    [
      {
        rules: [
          {
            name: "r",
            repositories: ["a/b"],
            identities: [{ issuer: "i", subject: "s", subjectRegExp: "s" }],
          },
        ],
      },
      "exactly one of subject",
    ],
    [{ rules: [{ name: "r", repositories: [], publicKeys: ["k"] }] }, "Too small"],
  ])("refuses %j", (doc, message) => {
    const parsed = VerificationPolicy.safeParse(doc);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.message).toContain(message);
  });
});

describe("requirementFingerprint", () => {
  const base: Requirement = ruleRequirement(policy.rules[0]!, undefined);
  it.each<[string, Requirement[]]>([
    ["another key", [{ ...base, keys: [{ name: "x", pem: "PEM-B" }] }]],
    ["a trusted root", [{ ...base, trustedRoot: "{}" }]],
    ["transparency log required", [{ ...base, requireTransparencyLog: true }]],
    ["a second requirement", [base, base]],
  ])("changes with %s", (_, other) => {
    expect(requirementFingerprint(other)).not.toBe(requirementFingerprint([base]));
  });

  it("ignores where a key came from and whitespace around its PEM", () => {
    expect(requirementFingerprint([{ ...base, keys: [{ name: "elsewhere", pem: "PEM-A\n" }] }])).toBe(
      requirementFingerprint([base]),
    );
  });
});
