/**
 * Checking one found signature against one requirement, with sigstore-js (@sigstore/bundle
 * parses and validates bundles, @sigstore/verify checks signatures, certificate chains,
 * timestamps and transparency-log entries): CPU only, no I/O. What is ours is only what cosign
 * means by an image signature: a DSSE in-toto statement of predicate type
 * `https://sigstore.dev/cosign/sign/v1` whose subject is the artifact's digest, or (cosign v2) a
 * simple-signing payload naming the digest, turned into a message-signature bundle so that the
 * same verifier checks it.
 */
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { bundleFromJSON, type Bundle } from "@sigstore/bundle";
import { X509Certificate } from "@sigstore/core";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import {
  PolicyError,
  toSignedEntity,
  toTrustMaterial,
  VerificationError,
  Verifier,
  type Signer,
  type TrustMaterial,
} from "@sigstore/verify";
import { z } from "zod";
import type { CheckResult } from "./decide.js";
import type { FoundSignature } from "./find.js";
import type { IdentitySpec, Requirement, TrustedKey } from "./policy.js";

/** The predicate type of cosign's image signatures in the bundle format. */
export const COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1";
const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

const Statement = z.looseObject({
  predicateType: z.string(),
  subject: z
    .array(z.looseObject({ digest: z.record(z.string(), z.string()).optional() }))
    .max(1024)
    .default([]),
});
const SimpleSigning = z.looseObject({
  critical: z.looseObject({
    image: z.looseObject({ "docker-manifest-digest": z.string() }),
    type: z.string().optional(),
  }),
});

/** A trusted root parsed once per requirement (parsing costs more than checking). */
const EMPTY_ROOT = TrustedRoot.fromJSON({
  mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
});

/** A requirement prepared for checking: keys and the trusted root parsed. */
export interface PreparedRequirement {
  readonly requirement: Requirement;
  readonly keys: readonly { readonly key: TrustedKey; readonly object: KeyObject; readonly id: string }[];
  readonly root: TrustedRoot;
  readonly hasRoot: boolean;
  /** Why the requirement's own material is unusable (a key or root that does not parse). */
  readonly problem?: string;
}

/** The short fingerprint shown for a key: sha256 of its DER SubjectPublicKeyInfo. */
export function keyFingerprint(key: KeyObject): string {
  const der = key.export({ type: "spki", format: "der" });
  return `sha256:${createHash("sha256").update(der).digest("hex")}`;
}

/** Parses a requirement's keys and trusted root; problems are reported by `checkSignature`. */
export function prepareRequirement(requirement: Requirement): PreparedRequirement {
  const keys: { key: TrustedKey; object: KeyObject; id: string }[] = [];
  for (const key of requirement.keys) {
    try {
      const object = createPublicKey(key.pem);
      keys.push({ key, object, id: keyFingerprint(object) });
    } catch (err) {
      return {
        requirement,
        keys,
        root: EMPTY_ROOT,
        hasRoot: false,
        problem: `${key.name} is not a PEM public key (${err instanceof Error ? err.message : String(err)})`,
      };
    }
  }
  if (requirement.trustedRoot === undefined) return { requirement, keys, root: EMPTY_ROOT, hasRoot: false };
  try {
    const root = TrustedRoot.fromJSON(JSON.parse(requirement.trustedRoot));
    // Building the trust material parses every key and certificate in the root.
    toTrustMaterial(root);
    return { requirement, keys, root, hasRoot: true };
  } catch (err) {
    return {
      requirement,
      keys,
      root: EMPTY_ROOT,
      hasRoot: false,
      problem: `the trusted root of ${requirement.source} does not parse (${err instanceof Error ? err.message : String(err)})`,
    };
  }
}

/** Whether a keyless signer's identity is one of `identities` (issuer exact; subject exact or RegExp). */
export function identityMatches(
  identities: readonly IdentitySpec[],
  signer: { readonly subject?: string | undefined; readonly issuer?: string | undefined },
): IdentitySpec | undefined {
  return identities.find((i) => {
    if (signer.issuer !== i.issuer || signer.subject === undefined) return false;
    if (i.subject !== undefined) return signer.subject === i.subject;
    try {
      return new RegExp(i.subjectRegExp ?? "(?!)").test(signer.subject);
    } catch {
      return false;
    }
  });
}

function subjectDigests(statement: z.infer<typeof Statement>): string[] {
  return statement.subject.flatMap((s) =>
    Object.entries(s.digest ?? {}).map(([alg, hex]) => `${alg}:${hex}`),
  );
}

/** The bundle and artifact bytes to verify, or why the signature cannot be about `digest`. */
function toEntity(
  found: FoundSignature,
  digest: string,
): { bundle: Bundle; artifact?: Buffer } | { invalid: string } {
  if (found.kind === "malformed") return { invalid: found.message };
  if (found.kind === "legacy") {
    const payload = Buffer.from(found.payload);
    let named: string | undefined;
    try {
      const parsed = SimpleSigning.safeParse(JSON.parse(payload.toString("utf8")));
      named = parsed.success ? parsed.data.critical.image["docker-manifest-digest"] : undefined;
    } catch {
      named = undefined;
    }
    if (named === undefined) return { invalid: "its payload is not a cosign simple-signing document" };
    if (named !== digest) return { invalid: `it signs ${named}, not ${digest}` };
    const certificate = found.certificate === undefined ? undefined : pemToDer(found.certificate);
    try {
      const bundle = bundleFromJSON({
        mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
        verificationMaterial: {
          ...(certificate === undefined
            ? { publicKey: { hint: "" } }
            : { certificate: { rawBytes: certificate.toString("base64") } }),
          tlogEntries: [],
          timestampVerificationData: { rfc3161Timestamps: [] },
        },
        messageSignature: {
          messageDigest: {
            algorithm: "SHA2_256",
            digest: createHash("sha256").update(payload).digest("base64"),
          },
          signature: found.signature,
        },
      });
      return { bundle, artifact: payload };
    } catch (err) {
      return { invalid: `its signature annotation does not parse (${describe(err)})` };
    }
  }
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(found.bundle);
  } catch (err) {
    return { invalid: `its Sigstore bundle does not parse (${describe(err)})` };
  }
  if (bundle.content.$case !== "dsseEnvelope")
    return { invalid: "its bundle holds a message signature, not a cosign image signature (DSSE)" };
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    return { invalid: `its DSSE payload type is ${envelope.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}` };
  let statement: z.infer<typeof Statement>;
  try {
    const parsed = Statement.safeParse(JSON.parse(Buffer.from(envelope.payload).toString("utf8")));
    if (!parsed.success) return { invalid: "its DSSE payload is not an in-toto statement" };
    statement = parsed.data;
  } catch {
    return { invalid: "its DSSE payload is not JSON" };
  }
  if (statement.predicateType !== COSIGN_SIGN_PREDICATE)
    return { invalid: `it is an attestation (${statement.predicateType}), not a cosign signature` };
  const subjects = subjectDigests(statement);
  if (!subjects.includes(digest))
    return { invalid: `it signs ${subjects.join(", ") || "nothing"}, not ${digest}` };
  return { bundle };
}

function pemToDer(pem: string): Buffer | undefined {
  const body = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem)?.[1];
  return body === undefined ? undefined : Buffer.from(body.replace(/\s+/g, ""), "base64");
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function verifier(prepared: PreparedRequirement, key: KeyObject | undefined, keyless: boolean): Verifier {
  const material: TrustMaterial = toTrustMaterial(prepared.root, () => {
    if (key === undefined)
      throw new VerificationError({ code: "PUBLIC_KEY_ERROR", message: "no trusted key" });
    return { publicKey: key, validFor: () => true };
  });
  return new Verifier(material, {
    tlogThreshold: prepared.requirement.requireTransparencyLog ? 1 : 0,
    // A certificate is checked at a signed time (a transparency-log entry or an RFC 3161
    // timestamp): without one a short-lived certificate's validity means nothing.
    timestampThreshold: keyless ? 1 : 0,
    // SCTs are required where the trusted root names certificate-transparency logs.
    ctlogThreshold: keyless && prepared.root.ctlogs.length > 0 ? 1 : 0,
  });
}

/**
 * Checks one signature against one requirement: verified (naming the signer), untrusted (a valid
 * signature by someone the requirement does not trust), invalid (malformed, about another
 * digest, or altered) or unavailable (the requirement lacks the trust material to check it).
 */
export function checkSignature(
  found: FoundSignature,
  digest: string,
  prepared: PreparedRequirement,
): CheckResult {
  if (prepared.problem !== undefined) return { kind: "unavailable", message: prepared.problem };
  const entity = toEntity(found, digest);
  if ("invalid" in entity) return { kind: "invalid", message: entity.invalid };
  const signed = toSignedEntity(entity.bundle, entity.artifact);
  const { requirement } = prepared;
  const tlogs = signed.tlogEntries.length;
  if (tlogs > 0 && prepared.root.tlogs.length === 0)
    return {
      kind: "unavailable",
      message: `it carries a transparency-log entry, and ${requirement.source} gives no trusted root naming that log to check it against: add the trusted root (the public-good one for rekor.sigstore.dev)`,
    };

  if (signed.key.$case === "public-key") {
    if (prepared.keys.length === 0)
      return {
        kind: "untrusted",
        message: `it is signed with a key, and ${requirement.source} trusts identities only`,
      };
    const failures: string[] = [];
    for (const candidate of prepared.keys) {
      try {
        verifier(prepared, candidate.object, false).verify(signed);
        return { kind: "verified", signer: `key ${candidate.id} (${candidate.key.name})` };
      } catch (err) {
        const code = err instanceof VerificationError ? err.code : undefined;
        if (code !== "SIGNATURE_ERROR") return classify(err, prepared);
        failures.push(candidate.id);
      }
    }
    // A signature that no trusted key verifies: the bundle's key hint tells another signer apart
    // from an altered signature by one of ours (cosign writes the key's fingerprint there).
    const hint = signed.key.hint;
    const ours = hint !== "" && prepared.keys.some((k) => hintNames(hint, k.object));
    return ours
      ? { kind: "invalid", message: `its signature does not verify with the key it names (${hint}): altered` }
      : {
          kind: "untrusted",
          message: `no trusted key verifies it (${hint === "" ? "it names no key" : `signed by key ${hint}`}; trusted: ${failures.join(", ")})`,
        };
  }

  if (!prepared.hasRoot)
    return {
      kind: "unavailable",
      message: `it is a keyless signature (certificate), and ${requirement.source} gives no trusted root to check the certificate against`,
    };
  if (found.kind === "legacy" && tlogs === 0)
    return {
      kind: "unavailable",
      message:
        "it is a cosign v2 keyless signature, whose signing time is in a Rekor entry this operator does not read; re-sign with cosign v3 (Sigstore bundle)",
    };
  let signer: Signer;
  try {
    signer = verifier(prepared, undefined, true).verify(signed);
  } catch (err) {
    return classify(err, prepared);
  }
  const subject = signer.identity?.subjectAlternativeName;
  const issuer = signer.identity?.extensions?.issuer;
  const who = `${subject ?? "(no identity)"} (issuer ${issuer ?? "none"})`;
  if (identityMatches(requirement.identities, { subject, issuer }) === undefined)
    return {
      kind: "untrusted",
      message: `signed by ${who}, which matches none of the trusted identities`,
    };
  return { kind: "verified", signer: who };
}

function hintNames(hint: string, key: KeyObject): boolean {
  const der = key.export({ type: "spki", format: "der" });
  const sum = createHash("sha256").update(der);
  const raw = sum.digest();
  return [raw.toString("base64"), raw.toString("hex"), raw.toString("base64url")].includes(hint);
}

function classify(err: unknown, prepared: PreparedRequirement): CheckResult {
  if (err instanceof PolicyError) return { kind: "untrusted", message: err.message };
  if (!(err instanceof VerificationError)) return { kind: "invalid", message: describe(err) };
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
  switch (err.code) {
    case "CERTIFICATE_ERROR":
    case "PUBLIC_KEY_ERROR":
      return {
        kind: "untrusted",
        message: `${err.message}${cause} (not issued under ${prepared.requirement.source}'s trusted root)`,
      };
    case "TIMESTAMP_ERROR":
      return prepared.requirement.requireTransparencyLog || prepared.root.timestampAuthorities.length > 0
        ? { kind: "invalid", message: `${err.message}${cause}` }
        : {
            kind: "invalid",
            message: `${err.message}${cause}: a keyless signature needs a signed time (a transparency-log entry or an RFC 3161 timestamp)`,
          };
    default:
      return { kind: "invalid", message: `${err.message}${cause}` };
  }
}

/** What a found signature says about its signer, unverified (for `inspect`). */
export function describeSignature(found: FoundSignature): string {
  if (found.kind === "malformed") return `unreadable: ${found.message}`;
  if (found.kind === "legacy") {
    if (found.certificate === undefined) return "a key (cosign v2 simple signing; the key is not named)";
    const der = pemToDer(found.certificate);
    return der === undefined ? "a certificate that does not parse" : certificateSigner(der);
  }
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(found.bundle);
  } catch (err) {
    return `unreadable: ${describe(err)}`;
  }
  const material = bundle.verificationMaterial.content;
  switch (material.$case) {
    case "publicKey":
      return `key ${material.publicKey.hint === "" ? "(not named)" : material.publicKey.hint}`;
    case "certificate":
      return certificateSigner(Buffer.from(material.certificate.rawBytes));
    case "x509CertificateChain": {
      const leaf = material.x509CertificateChain.certificates[0];
      return leaf === undefined
        ? "an empty certificate chain"
        : certificateSigner(Buffer.from(leaf.rawBytes));
    }
  }
}

function certificateSigner(der: Buffer): string {
  try {
    const cert = X509Certificate.parse(Buffer.from(der));
    const issuerV2 = cert.extension("1.3.6.1.4.1.57264.1.8")?.valueObj.subs[0]?.value.toString("ascii");
    const issuer = issuerV2 ?? cert.extension("1.3.6.1.4.1.57264.1.1")?.value.toString("ascii");
    return `identity ${cert.subjectAltName ?? "(none)"} (issuer ${issuer ?? "none"})`;
  } catch (err) {
    return `a certificate that does not parse (${describe(err)})`;
  }
}
