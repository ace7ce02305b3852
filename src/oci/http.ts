import type { Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import { Agent, request, type Dispatcher } from "undici";
import { describeError } from "../errors.js";
import { RegistryError } from "./errors.js";

/**
 * The HTTP edge of the registry client. We use undici's `request` rather than `fetch`: blob
 * bodies are Node streams (no web-stream copy on the pull hot path), and redirects are followed
 * here by hand so the Authorization header never crosses to another host.
 */
export interface HttpRequest {
  readonly method: "GET" | "HEAD" | "POST";
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal?: AbortSignal;
}

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

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const RETRYABLE_SOCKET_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN",
  "UND_ERR_SOCKET", "UND_ERR_CLOSED",
]);
const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);

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
    return new RegistryError("Timeout", `registry ${where} did not answer in time (${code})`, { retryable: true, cause: err });
  }
  if (RETRYABLE_SOCKET_CODES.has(code)) {
    return new RegistryError("Unreachable", `cannot reach registry ${where}: ${describeError(err)} (${code})`, { retryable: true, cause: err });
  }
  if (code === "ENOTFOUND") {
    return new RegistryError("Unreachable", `registry host ${url.hostname} does not resolve; check the reference's registry name`, { cause: err });
  }
  if (code.startsWith("ERR_SSL") || code.includes("CERT") || code.includes("SELF_SIGNED") || code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE") {
    return new RegistryError(
      "Unreachable",
      `TLS with registry ${where} failed (${code}: ${describeError(err)}); trust its CA with --ca-file (or the operator's CA bundle), ` +
        `or, for a registry that serves plain HTTP, name it as a plain-HTTP registry`,
      { cause: err },
    );
  }
  return new RegistryError("Unreachable", `request to registry ${where} failed: ${describeError(err)}`, { retryable: true, cause: err });
}

/** Sends HTTP requests for the registry client; one instance holds one connection pool. */
export class HttpTransport {
  readonly #dispatcher: Dispatcher;
  readonly #maxRedirects: number;

  constructor(options: HttpTransportOptions = {}) {
    const ca = options.caPem === undefined ? undefined : [options.caPem].flat();
    this.#dispatcher = new Agent({
      headersTimeout: options.headersTimeoutMs ?? 30_000,
      bodyTimeout: options.bodyTimeoutMs ?? 60_000,
      connect: {
        // A custom CA adds to Node's bundled roots instead of replacing them.
        ...(ca !== undefined && { ca: [...ca, ...rootCertificates] }),
        rejectUnauthorized: options.insecureSkipTlsVerify !== true,
      },
    });
    this.#maxRedirects = options.maxRedirects ?? 5;
  }

  /** Sends a request, following redirects; throws RegistryError on network failure. */
  async send(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let headers: Record<string, string> = { ...req.headers };
    let method = req.method;
    for (let hop = 0; ; hop++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          dispatcher: this.#dispatcher,
          method,
          headers,
          ...(req.body !== undefined && method === "POST" && { body: req.body }),
          ...(req.signal !== undefined && { signal: req.signal }),
        });
      } catch (err) {
        throw classifyNetworkError(err, url);
      }
      const location = res.headers.location;
      if (REDIRECTS.has(res.statusCode) && typeof location === "string" && hop < this.#maxRedirects) {
        await res.body.dump();
        const next = new URL(location, url);
        // Credentials are for the registry that asked for them: a blob redirect to a CDN or
        // object store must not receive them.
        if (next.origin !== url.origin) {
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"));
        }
        if (res.statusCode === 303) method = "GET";
        url = next;
        continue;
      }
      const responseUrl = url;
      return {
        status: res.statusCode,
        url: responseUrl,
        header(name: string): string | undefined {
          const value = res.headers[name.toLowerCase()];
          return Array.isArray(value) ? value.join(", ") : value;
        },
        body: res.body,
        discard: async () => {
          try {
            await res.body.dump();
          } catch {
            // the response is abandoned; a broken body changes nothing
          }
        },
      };
    }
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}
