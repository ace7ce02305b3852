import { z } from "zod";
import { describeError } from "../errors.js";
import { RegistryError } from "./errors.js";
import { isValidHeaderValue } from "./http.js";
import { DEFAULT_REGISTRY } from "./reference.js";

/** What we can present to a registry for one host. */
export type Credential =
  | PresentedCredential
  /** A credential helper we cannot run; using it fails with a clear error. */
  | { readonly kind: "helper"; readonly helper: string; readonly source: string };

/** The credentials we present ourselves, with where each was read from (for error messages). */
type PresentedCredential = (
  | { readonly kind: "basic"; readonly username: string; readonly password: string }
  /** An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint. */
  | { readonly kind: "identityToken"; readonly username?: string; readonly token: string }
  /** A bearer token sent as is (`registrytoken`). */
  | { readonly kind: "registryToken"; readonly token: string }
) & { readonly source?: string };

/** Looks up the credential for a registry host[:port]; undefined means anonymous. */
export interface CredentialStore {
  lookup(registry: string): Credential | undefined;
}

const AuthEntry = z.looseObject({
  auth: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  identitytoken: z.string().optional(),
  registrytoken: z.string().optional(),
});
type AuthEntry = z.infer<typeof AuthEntry>;

/** `~/.docker/config.json` and the `.dockerconfigjson` key of a Kubernetes pull secret. */
const DockerConfig = z.looseObject({
  auths: z.record(z.string(), AuthEntry).optional(),
  credsStore: z.string().optional(),
  credHelpers: z.record(z.string(), z.string()).optional(),
});

/** The legacy `.dockercfg` format: the auths map at the top level. */
const LegacyDockerCfg = z.record(z.string(), AuthEntry);

/** `https://index.docker.io/v1/` → `docker.io`; `http://host:5000/path` → `host:5000`. */
export function normalizeRegistryKey(key: string): string {
  const host = key
    .replace(/^[a-z]+:\/\//i, "")
    .replace(/\/.*$/, "")
    .toLowerCase();
  return host === "index.docker.io" || host === "registry-1.docker.io" ? DEFAULT_REGISTRY : host;
}

function credentialFromEntry(entry: AuthEntry, source: string, key: string): PresentedCredential | undefined {
  let username = entry.username;
  let password = entry.password;
  if (entry.auth !== undefined && entry.auth !== "") {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) {
      throw new RegistryError(
        "UnsupportedCredentials",
        `${source}: the "auth" value for ${key} is not base64 of "username:password"; recreate it with docker login or kubectl create secret docker-registry`,
      );
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  // Values that end up in an Authorization header (or a token request): a CR or LF in one would
  // inject headers, so such an entry is refused outright, not sanitized.
  for (const [field, value] of [
    ["username", username],
    ["identitytoken", entry.identitytoken],
    ["registrytoken", entry.registrytoken],
  ] as const) {
    if (value !== undefined && !isValidHeaderValue(value)) {
      throw new RegistryError(
        "UnsupportedCredentials",
        `${source}: the ${field} for ${key} contains a CR, LF or another control character, which is never valid in ` +
          `credentials (and would inject HTTP headers); recreate the entry with docker login or kubectl create secret docker-registry`,
      );
    }
  }
  if (entry.identitytoken !== undefined && entry.identitytoken !== "") {
    return {
      kind: "identityToken",
      token: entry.identitytoken,
      source,
      ...(username !== undefined && { username }),
    };
  }
  if (entry.registrytoken !== undefined && entry.registrytoken !== "") {
    return { kind: "registryToken", token: entry.registrytoken, source };
  }
  if (username !== undefined && password !== undefined) return { kind: "basic", username, password, source };
  return undefined;
}

/**
 * Parses a Docker config (either format) into a store. `source` names the file or Secret in
 * error messages. Throws RegistryError("UnsupportedCredentials") on a document we cannot read.
 */
export function parseDockerConfig(json: string, source: string): CredentialStore {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new RegistryError("UnsupportedCredentials", `${source}: not valid JSON (${describeError(err)})`);
  }
  const modern = DockerConfig.safeParse(raw);
  const isModern =
    modern.success &&
    (modern.data.auths !== undefined ||
      modern.data.credsStore !== undefined ||
      modern.data.credHelpers !== undefined);
  let auths: Record<string, AuthEntry>;
  let credsStore: string | undefined;
  let credHelpers: Record<string, string> = {};
  if (isModern) {
    auths = modern.data.auths ?? {};
    credsStore = modern.data.credsStore;
    credHelpers = modern.data.credHelpers ?? {};
  } else {
    const legacy = LegacyDockerCfg.safeParse(raw);
    if (!legacy.success) {
      throw new RegistryError(
        "UnsupportedCredentials",
        `${source}: not a Docker config (expected {"auths": {"<host>": {"auth": "<base64 user:pass>"}}})`,
      );
    }
    auths = legacy.data;
  }

  const byHost = new Map<string, Credential>();
  for (const [key, entry] of Object.entries(auths)) {
    const credential = credentialFromEntry(entry, source, key);
    const host = normalizeRegistryKey(key);
    if (credential !== undefined && !byHost.has(host)) byHost.set(host, credential);
  }
  const helpers = new Map(Object.entries(credHelpers).map(([k, v]) => [normalizeRegistryKey(k), v]));

  return {
    lookup(registry: string): Credential | undefined {
      const host = registry.toLowerCase();
      const helper = helpers.get(host);
      if (helper !== undefined) return { kind: "helper", helper: `docker-credential-${helper}`, source };
      const found = byHost.get(host);
      if (found !== undefined) return found;
      if (credsStore !== undefined && credsStore !== "") {
        return { kind: "helper", helper: `docker-credential-${credsStore}`, source };
      }
      return undefined;
    },
  };
}

/** A store that tries each store in order (several pull secrets, or secrets then a file). */
export function chainCredentialStores(stores: readonly CredentialStore[]): CredentialStore {
  return {
    lookup(registry: string): Credential | undefined {
      for (const store of stores) {
        const found = store.lookup(registry);
        if (found !== undefined) return found;
      }
      return undefined;
    },
  };
}

/** The anonymous store. */
export const anonymousCredentials: CredentialStore = { lookup: () => undefined };
