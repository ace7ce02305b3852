/**
 * Which signatures a model reference needs (pure): the administrator's verification policy
 * (`run --verification-policy FILE`, a document this module parses with zod) maps registry and
 * repository patterns to required keys or identities; a ModelDeployment's own
 * `spec.model.verify` can add a requirement, never remove one. Every requirement must be met by
 * at least one signature (any one of its keys or identities verifies it).
 */
import { createHash } from "node:crypto";
import { z } from "zod";

/** A keyless signer: the OIDC issuer and the certificate's subject (exact or a regular expression). */
export const IdentitySpec = z
  .object({
    issuer: z.string().min(1).max(1024).describe("OIDC issuer URL the signing certificate names."),
    subject: z.string().min(1).max(1024).optional().describe("Exact certificate identity (SAN)."),
    subjectRegExp: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .describe("Regular expression the certificate identity must match (anchor it with ^…$)."),
  })
  .refine((i) => (i.subject === undefined) !== (i.subjectRegExp === undefined), {
    message: "give exactly one of subject and subjectRegExp",
  });
export type IdentitySpec = z.infer<typeof IdentitySpec>;

/** One rule of the administrator's policy. */
export const PolicyRule = z
  .object({
    name: z.string().min(1).max(128),
    repositories: z
      .array(z.string().min(1).max(512))
      .min(1)
      .max(64)
      .describe("host[:port]/repository patterns: * matches within one path segment, ** across segments."),
    publicKeys: z.array(z.string().min(1).max(16_384)).max(16).default([]).describe("PEM public keys."),
    identities: z.array(IdentitySpec).max(16).default([]),
    trustedRootFile: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe("A Sigstore trusted root (JSON), relative to the policy file's folder."),
    requireTransparencyLog: z.boolean().default(false),
  })
  .refine((r) => r.publicKeys.length + r.identities.length > 0, {
    message: "a rule needs at least one of publicKeys and identities",
  });
export type PolicyRule = z.infer<typeof PolicyRule>;

/** The document `run --verification-policy FILE` reads (YAML or JSON). */
export const VerificationPolicy = z.object({
  apiVersion: z.literal("modelpack.dev/v1alpha1").optional(),
  kind: z.literal("VerificationPolicy").optional(),
  rules: z.array(PolicyRule).max(256),
});
export type VerificationPolicy = z.infer<typeof VerificationPolicy>;

/** A trusted public key, resolved to its PEM text. */
export interface TrustedKey {
  /** Where it came from, for messages: `policy rule prod`, `ConfigMap keys/cosign.pub`. */
  readonly name: string;
  readonly pem: string;
}

/** One requirement: a signature by any one of `keys` or `identities`. */
export interface Requirement {
  /** Who demands it, for messages: `verification policy rule "prod"` or `spec.model.verify`. */
  readonly source: string;
  readonly keys: readonly TrustedKey[];
  readonly identities: readonly IdentitySpec[];
  /** The Sigstore trusted root JSON (needed for identities and transparency-log entries). */
  readonly trustedRoot?: string;
  readonly requireTransparencyLog: boolean;
}

/**
 * Whether `name` (`host[:port]/repository`) matches `pattern`: `*` stands for any characters
 * but `/`, `**` for any characters; everything else is literal. Case-sensitive, whole string.
 */
export function matchesRepository(pattern: string, name: string): boolean {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === "*" && pattern.charAt(i + 1) === "*") {
      source += ".*";
      i++;
    } else if (c === "*") source += "[^/]*";
    else source += c.replace(/[\\^$.|?+()[\]{}]/g, "\\$&");
  }
  return new RegExp(`^${source}$`).test(name);
}

/** The rules of `policy` that cover `registry/repository`, in file order. */
export function applicableRules(
  policy: VerificationPolicy | undefined,
  registry: string,
  repository: string,
): PolicyRule[] {
  const name = `${registry}/${repository}`;
  return (policy?.rules ?? []).filter((r) => r.repositories.some((p) => matchesRepository(p, name)));
}

/** A rule as a requirement, with its trusted root read (by the caller) into `trustedRoot`. */
export function ruleRequirement(rule: PolicyRule, trustedRoot: string | undefined): Requirement {
  return {
    source: `verification policy rule "${rule.name}"`,
    keys: rule.publicKeys.map((pem, i) => ({ name: `policy rule ${rule.name} key ${i + 1}`, pem })),
    identities: rule.identities,
    ...(trustedRoot !== undefined && { trustedRoot }),
    requireTransparencyLog: rule.requireTransparencyLog,
  };
}

/**
 * A short fingerprint of what is required (keys, identities, trusted roots, flags), stable across
 * processes: a verification recorded under one fingerprint is not reused under another.
 */
export function requirementFingerprint(requirements: readonly Requirement[]): string {
  const hash = createHash("sha256");
  for (const r of requirements) {
    hash.update(
      JSON.stringify([
        r.keys.map((k) => k.pem.trim()),
        r.identities.map((i) => [i.issuer, i.subject ?? null, i.subjectRegExp ?? null]),
        r.trustedRoot ?? null,
        r.requireTransparencyLog,
      ]),
    );
    hash.update("\n");
  }
  return `sha256:${hash.digest("hex").slice(0, 16)}`;
}
