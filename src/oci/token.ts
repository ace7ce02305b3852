/**
 * Bearer tokens from a registry's token service (distribution token spec; OAuth2 refresh tokens
 * for identity tokens), as the registry client asks for them after a Bearer challenge.
 */
import { z } from "zod";
import type { Challenge } from "./auth.js";
import type { Credential } from "./credentials.js";
import { RegistryError } from "./errors.js";
import { isValidHeaderValue, type HttpResponse, type HttpTransport } from "./http.js";
import { parseJson, readCapped } from "./registry-response.js";

const TokenResponse = z.looseObject({
  token: z.string().optional(),
  access_token: z.string().optional(),
  expires_in: z.number().optional(),
});

/** What a token request needs of the client. */
export interface TokenRequestContext {
  readonly http: HttpTransport;
  readonly userAgent: string;
  /** Throws when credentials must not be sent to this realm (registry-policy.ts `checkRealm`). */
  checkRealm(registry: string, url: URL): void;
  /** The Unauthorized error (and its metric) for a refused token request. */
  unauthorized(registry: string, what: string, cause: string): RegistryError;
  /** The error (and its metric) for another non-success answer. */
  failure(res: HttpResponse, what: string): Promise<RegistryError>;
}

/** A token as the service answered it: the token, its lifetime in seconds, the HTTP status. */
export interface IssuedToken {
  readonly token: string;
  readonly expiresInSeconds: number;
  readonly status: number;
}

/** Asks the challenge's realm for a bearer token. Throws RegistryError. */
export async function requestToken(
  context: TokenRequestContext,
  registry: string,
  challenge: Challenge,
  scope: string,
  credential: Credential | undefined,
  signal?: AbortSignal,
): Promise<IssuedToken> {
  const realm = challenge.params.realm;
  if (realm === undefined)
    throw new RegistryError(
      "InvalidResponse",
      `registry ${registry} sent a Bearer challenge without a realm`,
    );
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new RegistryError(
      "InvalidResponse",
      `registry ${registry} sent a Bearer challenge whose realm is not a URL`,
    );
  }
  context.checkRealm(registry, url);
  const service = challenge.params.service;
  const headers: Record<string, string> = { "user-agent": context.userAgent };
  let res: HttpResponse;
  if (credential?.kind === "identityToken") {
    const form = new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: credential.token,
      client_id: "modelpack-operator",
    });
    if (service !== undefined) form.set("service", service);
    if (scope !== "") form.set("scope", scope);
    headers["content-type"] = "application/x-www-form-urlencoded";
    res = await context.http.send({
      method: "POST",
      url,
      headers,
      body: form.toString(),
      ...(signal !== undefined && { signal }),
    });
  } else {
    if (service !== undefined) url.searchParams.set("service", service);
    if (scope !== "") url.searchParams.set("scope", scope);
    if (credential?.kind === "basic") {
      headers.authorization = `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString("base64")}`;
    }
    res = await context.http.send({ method: "GET", url, headers, ...(signal !== undefined && { signal }) });
  }
  if (res.status === 401 || res.status === 403) {
    await res.discard();
    throw context.unauthorized(
      registry,
      `token request to ${url.origin}${url.pathname}`,
      credential === undefined
        ? "the registry requires authentication and no credentials are configured for it"
        : "the registry rejected the configured credentials",
    );
  }
  if (res.status !== 200) throw await context.failure(res, `token request to ${url.origin}${url.pathname}`);
  const body = TokenResponse.safeParse(
    parseJson(await readCapped(res, 1024 * 1024, "token response"), "token response"),
  );
  const token = body.success ? (body.data.token ?? body.data.access_token) : undefined;
  if (token === undefined || token === "")
    throw new RegistryError("InvalidResponse", `the token service of ${registry} answered without a token`);
  if (!isValidHeaderValue(token)) {
    throw new RegistryError(
      "InvalidResponse",
      `the token service of ${registry} (${url.origin}${url.pathname}) answered a token with a CR, LF or another ` +
        `character not allowed in an HTTP header; refusing it (header injection). Fix or replace the token service`,
    );
  }
  return { token, expiresInSeconds: body.success ? (body.data.expires_in ?? 60) : 60, status: res.status };
}
