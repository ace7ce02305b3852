/**
 * OCI digest grammar (image-spec descriptor.md): `algorithm ":" encoded`, algorithm components
 * `[a-z0-9]+` joined by one of `+._-`, encoded `[a-zA-Z0-9=_-]+`. Registered algorithms add their
 * own encoding rule; unregistered ones pass on grammar alone, as the spec asks.
 */
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

// A Map, not an object literal: an algorithm named "constructor" must not find Object.prototype.
const REGISTERED: ReadonlyMap<string, { readonly pattern: RegExp; readonly rule: string }> = new Map([
  ["sha256", { pattern: /^[a-f0-9]{64}$/, rule: "64 lowercase hex characters" }],
  ["sha512", { pattern: /^[a-f0-9]{128}$/, rule: "128 lowercase hex characters" }],
]);

/** Whether `s` is a well-formed OCI digest (grammar, plus the encoding rule of sha256/sha512). */
export function isOciDigest(s: string): boolean {
  return explainDigest(s) === undefined;
}

/** Why `s` is not a well-formed OCI digest, as one clause for a message; undefined when it is. */
export function explainDigest(s: string): string | undefined {
  if (!DIGEST.test(s)) {
    return 'a digest must look like "sha256:<64 lowercase hex>" (algorithm ":" encoded)';
  }
  const colon = s.indexOf(":");
  const registered = REGISTERED.get(s.slice(0, colon));
  if (registered !== undefined && !registered.pattern.test(s.slice(colon + 1))) {
    return `a ${s.slice(0, colon)} digest must have ${registered.rule} after the colon`;
  }
  return undefined;
}
