import { readFile } from "node:fs/promises";
import { RegistryClient } from "../../oci/client.js";
import { RegistryError } from "../../oci/errors.js";
import { formatReference, parseReference } from "../../oci/reference.js";
import { systemClock } from "../../runtime/clock.js";
import {
  createSignatureVerifier,
  IdentitySpec,
  type Requirement,
  type Verification,
} from "../../signature/index.js";
import { EXIT, print, type CliIo } from "../io.js";
import { registryClientOptions, type RegistryFlags } from "../registry-options.js";
import { UsageError } from "../usage-error.js";

export interface VerifyOptions extends RegistryFlags {
  readonly reference: string;
  readonly output: "text" | "json";
  /** Trusted public key files (PEM). */
  readonly keys: readonly string[];
  readonly identity?: string;
  readonly identityRegExp?: string;
  readonly issuer?: string;
  readonly trustedRoot?: string;
  readonly requireTlog: boolean;
}

async function readFlagFile(flag: string, path: string): Promise<string> {
  return readFile(path, "utf8").catch((err: Error) => {
    throw new UsageError(`cannot read ${flag} ${path}: ${err.message}`);
  });
}

/** The one requirement the flags describe; UsageError for an incomplete or mixed set. */
export async function requirementFromFlags(options: VerifyOptions): Promise<Requirement> {
  const keyless =
    options.identity !== undefined || options.identityRegExp !== undefined || options.issuer !== undefined;
  if (options.keys.length === 0 && !keyless)
    throw new UsageError(
      "verify needs --key FILE, or --certificate-identity ID (or --certificate-identity-regexp RE) with --certificate-oidc-issuer URL",
    );
  if (options.keys.length > 0 && keyless)
    throw new UsageError("give either --key or the --certificate-* flags, not both");
  const trustedRoot =
    options.trustedRoot === undefined ? undefined : await readFlagFile("--trusted-root", options.trustedRoot);
  if (trustedRoot !== undefined) {
    try {
      JSON.parse(trustedRoot);
    } catch {
      throw new UsageError(`--trusted-root ${options.trustedRoot} is not JSON (a Sigstore trusted root)`);
    }
  }
  const identities: IdentitySpec[] = [];
  if (keyless) {
    const parsed = IdentitySpec.safeParse({
      issuer: options.issuer,
      subject: options.identity,
      subjectRegExp: options.identityRegExp,
    });
    if (!parsed.success)
      throw new UsageError(
        "keyless verification needs --certificate-oidc-issuer and exactly one of --certificate-identity and --certificate-identity-regexp",
      );
    if (options.identityRegExp !== undefined) {
      try {
        new RegExp(options.identityRegExp);
      } catch (err) {
        throw new UsageError(`--certificate-identity-regexp: ${(err as Error).message}`);
      }
    }
    if (trustedRoot === undefined)
      throw new UsageError(
        "keyless verification needs --trusted-root FILE (the certificate authority that issued the signing certificate; no Fulcio or TUF is contacted)",
      );
    identities.push(parsed.data);
  }
  const keys = await Promise.all(
    options.keys.map(async (path) => ({ name: path, pem: await readFlagFile("--key", path) })),
  );
  return {
    source: keyless ? "the given identity" : "the given key",
    keys,
    identities,
    ...(trustedRoot !== undefined && { trustedRoot }),
    requireTransparencyLog: options.requireTlog,
  };
}

/** The JSON shape of `verify --output json`; stable for scripts. */
export function verificationJson(pinned: string, digest: string, v: Verification): Record<string, unknown> {
  return v.verified
    ? {
        pinnedReference: pinned,
        digest,
        verified: true,
        signatures: v.signatures.map((s) => ({
          signer: s.signer,
          signatureDigest: s.signatureDigest,
          source: s.source,
        })),
      }
    : { pinnedReference: pinned, digest, verified: false, reason: v.reason, message: v.message };
}

/**
 * `verify REFERENCE`: resolves the reference and checks its cosign signatures against the key or
 * identity given. Exit 0 verified, 1 unsigned / invalid / untrusted, 2 usage, 3 registry error.
 */
export async function verifyCommand(options: VerifyOptions, io: CliIo): Promise<number> {
  const requirement = await requirementFromFlags(options);
  const ref = parseReference(options.reference);
  const client = new RegistryClient(
    await registryClientOptions(options, ref.registry, io.env, (l) => print(io.stderr, l)),
  );
  try {
    const { digest } = await client.resolve(ref, io.signal);
    const pinned = { registry: ref.registry, repository: ref.repository, digest };
    const name = formatReference(pinned);
    const verifier = createSignatureVerifier({ clock: systemClock });
    const result = await verifier.verify(client, pinned, [requirement], {
      ...(io.signal !== undefined && { signal: io.signal }),
    });
    if (options.output === "json")
      print(io.stdout, JSON.stringify(verificationJson(name, digest, result), null, 2));
    else if (result.verified) {
      print(io.stdout, `Verified: ${name}`);
      for (const s of result.signatures)
        print(io.stdout, `  signer:    ${s.signer}\n  signature: ${s.signatureDigest} (${s.source})`);
    } else print(io.stdout, `${result.reason}: ${result.message}`);
    if (result.verified) return EXIT.ok;
    if (result.reason === "VerificationUnavailable" && result.transient)
      throw new RegistryError("Unreachable", result.message);
    return EXIT.invalid;
  } finally {
    await client.close();
  }
}
