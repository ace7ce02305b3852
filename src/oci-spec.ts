/**
 * Facts of the OCI image spec that both sides of the project need: the digest grammar and the
 * manifest media types. One definition, imported by `oci/` (the registry client) and by
 * `modelpack/` (the ModelPack rules). It lives here, beside errors.ts, because DESIGN.md lets
 * neither of those folders import the other; like errors.ts it is pure and imports nothing.
 */

/**
 * OCI digest grammar (image-spec descriptor.md): `algorithm ":" encoded`, algorithm components
 * `[a-z0-9]+` joined by one of `+._-`, encoded `[a-zA-Z0-9=_-]+`. Registered algorithms add their
 * own encoding rule (REGISTERED_DIGEST_ALGORITHMS); unregistered ones pass on grammar alone, as
 * the spec asks.
 */
export const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * The registered algorithms and the rule for their encoded part. A Map, not an object literal: an
 * algorithm named "constructor" must not find Object.prototype.
 */
export const REGISTERED_DIGEST_ALGORITHMS: ReadonlyMap<
  string,
  { readonly pattern: RegExp; readonly rule: string }
> = new Map([
  ["sha256", { pattern: /^[a-f0-9]{64}$/, rule: "64 lowercase hex characters" }],
  ["sha512", { pattern: /^[a-f0-9]{128}$/, rule: "128 lowercase hex characters" }],
]);

/** Whether `s` is a well-formed OCI digest (grammar, plus the encoding rule of sha256/sha512). */
export function isOciDigest(s: string): boolean {
  return explainDigest(s) === undefined;
}

/** Why `s` is not a well-formed OCI digest, as one clause for a message; undefined when it is. */
export function explainDigest(s: string): string | undefined {
  if (!DIGEST_GRAMMAR.test(s)) {
    return 'a digest must look like "sha256:<64 lowercase hex>" (algorithm ":" encoded)';
  }
  const colon = s.indexOf(":");
  const registered = REGISTERED_DIGEST_ALGORITHMS.get(s.slice(0, colon));
  if (registered !== undefined && !registered.pattern.test(s.slice(colon + 1))) {
    return `a ${s.slice(0, colon)} digest must have ${registered.rule} after the colon`;
  }
  return undefined;
}

/** OCI image manifest and index media types. */
export const OCI_MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json";
/** Docker's manifest and manifest list, which registries still serve. */
export const DOCKER_MANIFEST_V2_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_MANIFEST_LIST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json";
