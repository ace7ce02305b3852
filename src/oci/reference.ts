import { InvalidReferenceError } from "./errors.js";

/**
 * An OCI reference, normalised the way the container ecosystem does it (distribution/reference):
 * a bare name gets the default registry and, there, the `library/` namespace; a reference with
 * neither tag nor digest gets the tag `latest`. `registry` keeps the port; `repository` is
 * lowercase; `tag` and `digest` may both be set (the digest then wins when pulling).
 */
export interface ImageReference {
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** Registry assumed for names without a host part, as every container tool does. */
export const DEFAULT_REGISTRY = "docker.io";
const DEFAULT_REGISTRY_ALIASES = new Set(["docker.io", "index.docker.io"]);
/** Where the default registry's HTTP API actually lives. */
const DEFAULT_REGISTRY_ENDPOINT = "registry-1.docker.io";
const DEFAULT_TAG = "latest";
const MAX_NAME_LENGTH = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * Parses and normalises a reference such as `registry.example.com:5000/models/llama:v1`,
 * `localhost/m@sha256:…` or `ubuntu`. Throws InvalidReferenceError naming what is wrong.
 */
export function parseReference(input: string): ImageReference {
  const fail = (reason: string): never => {
    throw new InvalidReferenceError(input, reason);
  };
  if (input.length === 0) fail("it is empty");
  if (input !== input.trim()) fail("it has leading or trailing whitespace");
  if (input.includes("://"))
    fail("remove the URL scheme; a reference looks like host[:port]/repository[:tag][@digest]");

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) fail(`"${digest}" is not a digest (expected algorithm:hex, e.g. sha256:…)`);
    const [algorithm, encoded = ""] = digest.split(":");
    if (algorithm === "sha256" && !/^[a-f0-9]{64}$/.test(encoded))
      fail("a sha256 digest has 64 lowercase hex characters");
    if (algorithm === "sha512" && !/^[a-f0-9]{128}$/.test(encoded))
      fail("a sha512 digest has 128 lowercase hex characters");
  }

  // A tag is what follows the last ":" after the last "/" (a ":" before it is a port).
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.indexOf(":", lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag))
      fail(
        `"${tag}" is not a valid tag (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")`,
      );
  }
  if (rest.length === 0) fail("the repository name is missing");

  let registry = DEFAULT_REGISTRY;
  let repository = rest;
  const firstSlash = rest.indexOf("/");
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    if (
      first.includes(".") ||
      first.includes(":") ||
      first === "localhost" ||
      first !== first.toLowerCase()
    ) {
      registry = first;
      repository = rest.slice(firstSlash + 1);
    }
  }
  if (!DOMAIN.test(registry)) fail(`"${registry}" is not a valid registry host[:port]`);
  if (DEFAULT_REGISTRY_ALIASES.has(registry)) {
    registry = DEFAULT_REGISTRY;
    if (!repository.includes("/")) repository = `library/${repository}`;
  }
  if (repository !== repository.toLowerCase()) fail("repository names must be lowercase");
  for (const component of repository.split("/")) {
    if (!PATH_COMPONENT.test(component)) {
      fail(
        `"${component}" is not a valid repository path component (lowercase letters, digits and single separators . _ __ -)`,
      );
    }
  }
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH)
    fail(`the name is longer than ${MAX_NAME_LENGTH} characters`);

  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { registry, repository, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

/** The canonical string: `registry/repository[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/** The immutable form `registry/repository@digest` that pods and pulls use. */
export function pinnedReference(ref: ImageReference, digest: string): string {
  return `${ref.registry}/${ref.repository}@${digest}`;
}

/** What the manifest endpoint is asked for: the digest when there is one, else the tag. */
export function manifestSelector(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** The host[:port] that serves the registry's HTTP API. */
export function registryEndpoint(registry: string): string {
  return registry === DEFAULT_REGISTRY ? DEFAULT_REGISTRY_ENDPOINT : registry;
}

/** Whether a registry is on this machine; loopback registries are the usual plain-HTTP exception. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.replace(/:[0-9]+$/, "");
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
