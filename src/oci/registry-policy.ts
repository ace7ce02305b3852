/**
 * Which registries may be used and how they are spoken to: the allow-list, plain HTTP, and where
 * credentials may be sent (token realms). Pure functions of the client's options.
 */
import { RegistryError } from "./errors.js";
import { registryEndpoint } from "./reference.js";

/** The registry policy options of the client (RegistryClientOptions). */
export interface RegistryPolicy {
  /** Registries (host[:port]) spoken to over plain HTTP; true means every registry. */
  readonly plainHttp?: boolean | readonly string[];
  /** When set, only these registries may be used (admin policy). */
  readonly allowedRegistries?: readonly string[];
}

/** The host name of a host[:port], undefined when it is not one. */
function hostnameOf(host: string): string | undefined {
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return undefined;
  }
}

/** Whether `host` (host[:port]) is spoken to over plain HTTP. */
export function isPlainHttp(policy: RegistryPolicy, host: string): boolean {
  const plain = policy.plainHttp;
  return plain === true || (Array.isArray(plain) && plain.includes(host));
}

/** `http(s)://endpoint` of a registry. */
export function registryBaseUrl(policy: RegistryPolicy, registry: string): string {
  return `${isPlainHttp(policy, registry) ? "http" : "https"}://${registryEndpoint(registry)}`;
}

/**
 * A token realm gets credentials (Basic, a refresh token) and hands out the bearer token, so it
 * must be HTTPS, unless its host is declared plain-HTTP: listed as host[:port], or its host
 * name is that of a declared registry (a token service on another port of the same machine).
 */
export function checkRealm(policy: RegistryPolicy, registry: string, url: URL): void {
  if (url.protocol === "https:") return;
  const declared =
    url.protocol === "http:" &&
    (isPlainHttp(policy, url.host) ||
      (Array.isArray(policy.plainHttp) && policy.plainHttp.some((h) => hostnameOf(h) === url.hostname)));
  if (declared) return;
  throw new RegistryError(
    "InvalidResponse",
    `registry ${registry} sends its token requests to ${url.origin}${url.pathname}, which is not HTTPS; refusing to ` +
      `send credentials or ask for a token there. Serve the token service over HTTPS, or, on a trusted network, ` +
      `declare ${url.host} a plain-HTTP registry (--plain-http-registries)`,
  );
}

/** Throws RegistryNotAllowed for a registry outside the allow-list. */
export function checkAllowed(policy: RegistryPolicy, registry: string): void {
  const allowed = policy.allowedRegistries;
  if (allowed !== undefined && !allowed.includes(registry)) {
    throw new RegistryError(
      "RegistryNotAllowed",
      `registry ${registry} is not in the allowed registries (${allowed.join(", ") || "none"}); ` +
        `use an allowed registry or ask the administrator to add it`,
    );
  }
}
