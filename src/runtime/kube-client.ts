/**
 * Raw JSON calls and line streams against the Kubernetes API, authenticated exactly as
 * `@kubernetes/client-node` does it (`KubeConfig.applySecurityAuthentication`: client
 * certificates, bearer/exec/OIDC tokens, CA, proxy), but with what its `Watch` lacks:
 * - an AbortSignal on every call, honoured while connecting too (client-node's `Watch` returns
 *   its AbortController only after the response headers arrived);
 * - the apiserver's Status (reason, code, retryAfterSeconds) in every error, as a `KubeApiError`;
 * - no inactivity timer of its own on streams (client-node aborts every watch that is silent for
 *   30 s); the informer runs its own watchdog on the injected clock;
 * - exceptions thrown by the line callback propagate (client-node's `Watch` swallows them).
 *
 * Connections are pooled per KubeConfig: the first dispatcher client-node builds for it (TLS
 * client certificate, CA) is kept and reused, because a fresh TLS connection per call costs
 * milliseconds and memory on every status write. Tokens are still applied per call, so rotated
 * service-account tokens work; a kubeconfig whose client certificate changes needs a new
 * KubeConfig object.
 */
import { HttpMethod, RequestContext, type KubeConfig } from "@kubernetes/client-node";
import { request, type Dispatcher } from "undici";
import { describeError } from "../errors.js";
import { KubeApiError, kubeApiErrorFromResponse } from "./kube-errors.js";

/**
 * The field manager of every write the operator makes: stable, so server-side apply owns exactly
 * the operator's fields and a re-apply by another replica changes nothing.
 */
export const FIELD_MANAGER = "modelpack-operator";

/** A query parameter value; undefined leaves the parameter out. */
export type QueryValue = string | number | boolean | undefined;

/** One call to the API. */
export interface KubeRequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path below the server URL, e.g. `/apis/coordination.k8s.io/v1/namespaces/ns/leases/name`. */
  path: string;
  /** Query parameters; undefined values are left out. */
  query?: Record<string, QueryValue>;
  /** Sent as JSON. */
  body?: unknown;
  /** Default `application/json` (use `application/apply-patch+yaml` etc. for patches). */
  contentType?: string;
  signal?: AbortSignal;
  /** Limit for the response headers, and for each gap between body chunks. Default 60 s. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;

interface Prepared {
  url: URL;
  what: string;
  headers: Record<string, string>;
  dispatcher: Dispatcher | undefined;
}

async function prepare(kubeConfig: KubeConfig, options: KubeRequestOptions): Promise<Prepared> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) {
    throw new KubeApiError("Unreachable", "the kubeconfig has no current cluster; set a current context");
  }
  const method = options.method ?? "GET";
  const url = new URL(cluster.server.replace(/\/+$/, "") + options.path);
  for (const [key, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  const context = new RequestContext(url.toString(), HttpMethod[method]);
  await kubeConfig.applySecurityAuthentication(context);
  const headers: Record<string, string> = { ...context.getHeaders(), accept: "application/json" };
  if (options.body !== undefined) headers["content-type"] = options.contentType ?? "application/json";
  return {
    url,
    what: `${method} ${options.path}`,
    headers,
    dispatcher: pooled(kubeConfig, context.getDispatcher()),
  };
}

function retryAfter(headers: Record<string, string | string[] | undefined>): number | undefined {
  const value = headers["retry-after"];
  const seconds = Number(Array.isArray(value) ? value[0] : value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}

// Module state: one pooled dispatcher per injected KubeConfig, so every client built from the same
// KubeConfig shares its connections. A WeakMap: a KubeConfig no longer referenced drops its pool.
const pools = new WeakMap<KubeConfig, Dispatcher>();

/** The pooled dispatcher of this KubeConfig (keeping the first one built, dropping the others). */
function pooled(kubeConfig: KubeConfig, fresh: Dispatcher | undefined): Dispatcher | undefined {
  if (fresh === undefined) return undefined;
  const existing = pools.get(kubeConfig);
  if (existing === undefined) {
    pools.set(kubeConfig, fresh);
    return fresh;
  }
  if (existing !== fresh) fresh.destroy().catch(() => undefined);
  return existing;
}

/** A thrown value as a KubeApiError; the signal's reason when the caller aborted. */
function transportError(what: string, err: unknown, signal: AbortSignal | undefined): unknown {
  if (err instanceof KubeApiError) return err;
  if (signal?.aborted) return signal.reason;
  return new KubeApiError("Unreachable", `${what}: ${describeError(err)}`, { cause: err });
}

async function open(options: KubeRequestOptions, prepared: Prepared, bodyTimeout: number) {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const response = await request(prepared.url, {
    method: options.method ?? "GET",
    headers: prepared.headers,
    ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
    ...(prepared.dispatcher && { dispatcher: prepared.dispatcher }),
    ...(options.signal && { signal: options.signal }),
    headersTimeout: timeoutMs,
    bodyTimeout,
  });
  if (response.statusCode >= 300) {
    const text = await response.body.text();
    throw kubeApiErrorFromResponse(prepared.what, response.statusCode, text, retryAfter(response.headers));
  }
  return response;
}

/**
 * One JSON request. Resolves with the parsed response body (undefined if empty). Rejects with a
 * KubeApiError (the apiserver's Status, or `Unreachable`), or with the signal's reason if aborted.
 */
export async function kubeRequest(kubeConfig: KubeConfig, options: KubeRequestOptions): Promise<unknown> {
  const prepared = await prepare(kubeConfig, options);
  try {
    const response = await open(options, prepared, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const text = await response.body.text();
    if (text.length === 0) return undefined;
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new KubeApiError("InvalidResponse", `${prepared.what}: the response is not JSON`, { cause: err });
    }
  } catch (err) {
    throw transportError(prepared.what, err, options.signal);
  }
}

/**
 * A streaming GET: calls `onText` with the body as decoded text, chunk by chunk as it arrives (a
 * chunk never ends inside a character). Resolves when the body ended; rejects with a KubeApiError
 * if it cannot be opened or breaks, with whatever `onText` throws, or with the signal's reason
 * once aborted. `idleTimeoutMs` limits each gap between chunks (0: none); default
 * `options.timeoutMs`, else 60 s.
 */
export async function kubeStreamText(
  kubeConfig: KubeConfig,
  options: KubeRequestOptions,
  onText: (text: string) => void,
  idleTimeoutMs: number = options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
): Promise<void> {
  const prepared = await prepare(kubeConfig, options);
  let callbackError: { error: unknown } | undefined;
  const emit = (text: string): void => {
    if (text.length === 0) return;
    try {
      onText(text);
    } catch (err) {
      callbackError = { error: err };
      throw err;
    }
  };
  try {
    const response = await open(options, prepared, idleTimeoutMs);
    const decoder = new TextDecoder();
    for await (const chunk of response.body) {
      if (chunk instanceof Uint8Array) emit(decoder.decode(chunk, { stream: true }));
    }
    emit(decoder.decode());
  } catch (err) {
    if (callbackError) throw callbackError.error;
    throw transportError(prepared.what, err, options.signal);
  }
}

/**
 * A streaming GET (a watch): calls `onLine` with each non-empty line of the body, in order.
 * Resolves when the server ends the stream; rejects with a KubeApiError if it cannot be opened or
 * breaks, with whatever `onLine` throws, or with the signal's reason once aborted. No timeout
 * applies between lines: the caller watches for silence itself.
 */
export async function kubeStreamLines(
  kubeConfig: KubeConfig,
  options: KubeRequestOptions,
  onLine: (line: string) => void,
): Promise<void> {
  let pending = "";
  const emit = (line: string): void => {
    if (line.length > 0) onLine(line);
  };
  await kubeStreamText(
    kubeConfig,
    options,
    (text) => {
      pending += text;
      let start = 0;
      for (let newline = pending.indexOf("\n"); newline >= 0; newline = pending.indexOf("\n", start)) {
        emit(pending.slice(start, newline).trim());
        start = newline + 1;
      }
      pending = pending.slice(start);
    },
    0,
  );
  emit(pending.trim());
}

/**
 * Server-side apply of `body` at `path` as FIELD_MANAGER (or `fieldManager`), taking over fields
 * others set (force): the operator is the source of truth for what it applies. Resolves with the
 * object as stored; rejects with a KubeApiError.
 */
export async function serverSideApply(
  kubeConfig: KubeConfig,
  path: string,
  body: unknown,
  options: {
    signal?: AbortSignal | undefined;
    timeoutMs?: number | undefined;
    fieldManager?: string | undefined;
  } = {},
): Promise<unknown> {
  return await kubeRequest(kubeConfig, {
    method: "PATCH",
    path,
    query: { fieldManager: options.fieldManager ?? FIELD_MANAGER, force: true },
    contentType: "application/apply-patch+yaml",
    body,
    signal: options.signal,
    timeoutMs: options.timeoutMs,
  });
}
