import type * as NodeHttp from "node:http";
import type { IncomingMessage } from "node:http";
import type * as NodeHttps from "node:https";
import { createRequire } from "node:module";
import type { Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import { describeError } from "../errors.js";
import { RegistryError } from "./errors.js";

// `node:http` is required, not imported: importing it as an ES module reads every export to
// build the module namespace, and `http.WebSocket` (with CloseEvent, MessageEvent) is a lazy
// getter that loads Node's bundled undici — start-up time before the first byte of every pull,
// for names we never use (figures: the README's benchmark section). `require` returns the exports object and touches no getter.
const require = createRequire(import.meta.url);
const { Agent: HttpAgent, request: httpRequest } = require("node:http") as typeof NodeHttp;
const { Agent: HttpsAgent, request: httpsRequest } = require("node:https") as typeof NodeHttps;

/**
 * The HTTP edge of the registry client, on Node's own `http`/`https` with keep-alive agents.
 * Node's client is already in the binary and loads quickly; undici (which the Kubernetes side
 * uses) takes several times longer to load, and every `pull` in an init container would pay that
 * before its first byte. Bodies are Node streams, and redirects are followed here by hand so the Authorization
 * header never crosses to another host.
 */
export interface HttpRequest {
  readonly method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH";
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  /**
   * A POST, PUT or PATCH body: bytes, or a function that opens a fresh stream of it (called once per
   * request sent, so a retried upload streams from the start again).
   */
  readonly body?: RequestBody;
  readonly signal?: AbortSignal;
}

/** What a POST or PUT sends: bytes, or a function that opens a fresh stream of them. */
export type RequestBody = string | Uint8Array | (() => Readable);

export interface HttpResponse {
  readonly status: number;
  readonly url: URL;
  header(name: string): string | undefined;
  /** The body; the caller must consume it or call `discard`. */
  readonly body: Readable;
  discard(): Promise<void>;
}

export interface HttpTransportOptions {
  /** Extra trusted CA certificates (PEM), added to the system roots. */
  readonly caPem?: string | readonly string[];
  /** Skip TLS verification entirely (the CLI's --insecure). */
  readonly insecureSkipTlsVerify?: boolean;
  /** How long to wait for response headers. Default 30 s. */
  readonly headersTimeoutMs?: number;
  /** How long a body may stall between chunks. Default 60 s. */
  readonly bodyTimeoutMs?: number;
  readonly maxRedirects?: number;
}

/** The statuses whose Location is followed, by this transport and by the direct blob path. */
export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
export const DEFAULT_MAX_REDIRECTS = 5;

/**
 * The headers to send to a redirect's target: credentials are for the registry that asked for
 * them, so a redirect to another origin (a CDN or object store) never receives them.
 */
export function headersForRedirect(
  headers: Readonly<Record<string, string>>,
  from: URL,
  to: URL,
): Record<string, string> {
  if (to.origin === from.origin) return { ...headers };
  return Object.fromEntries(
    Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADERS.has(k.toLowerCase())),
  );
}

/** Headers that carry credentials: never sent to another origin than the one they were meant for. */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(["authorization", "proxy-authorization", "cookie"]);

/**
 * Refuses a request whose body would follow a redirect to another origin: the body of a token
 * request holds a refresh token (or a password), which belongs to the origin it was meant for.
 * Same-origin redirects keep it (RFC 9110 §15.4.8 keeps method and body on 307/308).
 */
export function checkBodyRedirect(method: string, hasBody: boolean, from: URL, to: URL): void {
  if (!hasBody || to.origin === from.origin) return;
  throw new RegistryError(
    "InvalidResponse",
    `${from.origin}${from.pathname} answered a ${method} that carries credentials in its body with a redirect to ` +
      `another origin (${to.origin}); refusing to send the body there. Point the registry's token realm at the ` +
      `token service's final URL`,
  );
}

// RFC 9110 §5.5 field values: visible ASCII, obs-text, spaces and tabs; no CR, LF, NUL or other
// control characters. §5.1 field names: tokens.
const INVALID_FIELD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether a string may be sent as an HTTP header value as is (no CR/LF or other controls). */
export function isValidHeaderValue(value: string): boolean {
  return !INVALID_FIELD_VALUE.test(value);
}

/**
 * Refuses headers that would inject other headers or requests (a CR or LF in a token from a
 * hostile token service, a pull secret's username, …) before anything is written to a socket.
 * The value is never quoted in the message: it is usually a secret.
 */
export function checkHeaders(headers: Readonly<Record<string, string>>, url: URL): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!FIELD_NAME.test(name) || !isValidHeaderValue(value)) {
      throw new RegistryError(
        "InvalidResponse",
        `refusing to send the "${FIELD_NAME.test(name) ? name : "(invalid name)"}" header to ${url.origin}: it contains a CR, LF ` +
          `or another character not allowed in an HTTP header (header injection); the value comes from the ` +
          `credentials (pull secret or Docker config) or from the registry's token service: fix the one that produced it`,
      );
    }
  }
}
const RETRYABLE_SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);
const TIMEOUT_CODES = new Set(["ERR_REGISTRY_TIMEOUT"]);

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** Maps a thrown network error to a RegistryError that says what to do. */
export function classifyNetworkError(err: unknown, url: URL): Error {
  if (err instanceof RegistryError) return err;
  // An abort is the caller's own doing: pass it through untouched.
  if (err instanceof Error && err.name === "AbortError") return err;
  const code = errorCode(err) ?? "";
  const where = `${url.protocol}//${url.host}`;
  if (TIMEOUT_CODES.has(code)) {
    return new RegistryError("Timeout", `registry ${where} did not answer in time: ${describeError(err)}`, {
      retryable: true,
      cause: err,
    });
  }
  if (RETRYABLE_SOCKET_CODES.has(code)) {
    return new RegistryError(
      "Unreachable",
      `cannot reach registry ${where}: ${describeError(err)} (${code})`,
      { retryable: true, cause: err },
    );
  }
  if (code === "ENOTFOUND") {
    return new RegistryError(
      "Unreachable",
      `registry host ${url.hostname} does not resolve; check the reference's registry name`,
      { cause: err },
    );
  }
  if (
    code.startsWith("ERR_SSL") ||
    code.includes("CERT") ||
    code.includes("SELF_SIGNED") ||
    code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
  ) {
    return new RegistryError(
      "Unreachable",
      `TLS with registry ${where} failed (${code}: ${describeError(err)}); trust its CA with --ca-file (or the operator's CA bundle), ` +
        `or, for a registry that serves plain HTTP, name it as a plain-HTTP registry`,
      { cause: err },
    );
  }
  return new RegistryError("Unreachable", `request to registry ${where} failed: ${describeError(err)}`, {
    retryable: true,
    cause: err,
  });
}

/** Sends HTTP requests for the registry client; one instance holds one connection pool. */
export class HttpTransport {
  readonly #http: NodeHttp.Agent;
  readonly #https: NodeHttps.Agent;
  readonly #maxRedirects: number;
  readonly #headersTimeoutMs: number;
  readonly #bodyTimeoutMs: number;

  constructor(options: HttpTransportOptions = {}) {
    const ca = options.caPem === undefined ? undefined : [options.caPem].flat();
    this.#http = new HttpAgent({ keepAlive: true });
    this.#https = new HttpsAgent({
      keepAlive: true,
      // A custom CA adds to Node's bundled roots instead of replacing them.
      ...(ca !== undefined && { ca: [...ca, ...rootCertificates] }),
      rejectUnauthorized: options.insecureSkipTlsVerify !== true,
    });
    this.#maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
    this.#headersTimeoutMs = options.headersTimeoutMs ?? 30_000;
    this.#bodyTimeoutMs = options.bodyTimeoutMs ?? 60_000;
  }

  /** Sends a request, following redirects; throws RegistryError on network failure. */
  async send(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let headers: Record<string, string> = { ...req.headers };
    let method = req.method;
    for (let hop = 0; ; hop++) {
      checkHeaders(headers, url);
      let res: IncomingMessage;
      try {
        res = await this.#exchange(
          method,
          url,
          headers,
          method === "POST" || method === "PUT" || method === "PATCH" ? req.body : undefined,
          req.signal,
        );
      } catch (err) {
        throw classifyNetworkError(err, url);
      }
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (
        REDIRECT_STATUSES.has(status) &&
        typeof location === "string" &&
        hop >= this.#maxRedirects &&
        method !== "PUT" &&
        method !== "PATCH"
      ) {
        await drain(res);
        throw new RegistryError(
          "InvalidResponse",
          `${req.url.href}: more than ${this.#maxRedirects} redirects; the registry or its storage is misconfigured`,
        );
      }
      // A PUT or PATCH (an upload) is never redirected: its answer goes to the caller as it is.
      if (
        REDIRECT_STATUSES.has(status) &&
        typeof location === "string" &&
        hop < this.#maxRedirects &&
        method !== "PUT" &&
        method !== "PATCH"
      ) {
        await drain(res);
        const next = new URL(location, url);
        if (next.protocol !== "http:" && next.protocol !== "https:") {
          throw new RegistryError(
            "InvalidResponse",
            `${url.origin}${url.pathname}: redirect to an unsupported URL ${next.protocol}//…`,
          );
        }
        checkBodyRedirect(method, method === "POST" && req.body !== undefined, url, next);
        headers = headersForRedirect(headers, url, next);
        // 303 turns any method into GET without a body; 301/302 do so for POST (as browsers do).
        if (status === 303 || (method === "POST" && status !== 307 && status !== 308)) {
          method = "GET";
          headers = Object.fromEntries(
            Object.entries(headers).filter(([k]) => !/^content-(type|length)$/i.test(k)),
          );
        }
        url = next;
        continue;
      }
      return {
        status,
        url,
        header(name: string): string | undefined {
          const value = res.headers[name.toLowerCase()];
          return Array.isArray(value) ? value.join(", ") : value;
        },
        body: res,
        discard: () => drain(res),
      };
    }
  }

  /** One request and its response headers; an idle timer covers the headers, then the body. */
  #exchange(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: RequestBody | undefined,
    signal: AbortSignal | undefined,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const secure = url.protocol === "https:";
      const req = (secure ? httpsRequest : httpRequest)(url, {
        method,
        headers,
        agent: secure ? this.#https : this.#http,
        ...(signal !== undefined && { signal }),
      });
      const timeout = (what: string, ms: number): Error =>
        Object.assign(new Error(`no ${what} from ${url.protocol}//${url.host} for ${ms} ms`), {
          code: "ERR_REGISTRY_TIMEOUT",
        });
      req.setTimeout(this.#headersTimeoutMs, () =>
        req.destroy(timeout("response headers", this.#headersTimeoutMs)),
      );
      // Kept for the whole exchange: a failure after the headers reaches the body stream too.
      req.on("error", reject);
      req.once("response", (res) => {
        req.setTimeout(this.#bodyTimeoutMs, () => res.destroy(timeout("body bytes", this.#bodyTimeoutMs)));
        resolve(res);
      });
      if (typeof body === "function") {
        const stream = body();
        stream.once("error", (err) => req.destroy(err));
        req.once("close", () => stream.destroy());
        stream.pipe(req);
      } else req.end(body);
    });
  }

  async close(): Promise<void> {
    this.#http.destroy();
    this.#https.destroy();
  }
}

/** Reads and drops the rest of a body, so its connection goes back to the pool; never throws. */
function drain(res: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (res.complete || res.destroyed) return resolve();
    res.once("end", resolve);
    res.once("close", resolve);
    res.once("error", () => resolve());
    res.resume();
  });
}
