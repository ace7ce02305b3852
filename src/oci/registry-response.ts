/**
 * Reading registry answers: bodies within a cap, JSON, and a non-success answer as a RegistryError
 * naming what was asked, the status, the registry's own words and what to do.
 */
import { z } from "zod";
import { RegistryError, type RegistryErrorCode } from "./errors.js";
import { classifyNetworkError, type HttpResponse } from "./http.js";

const RegistryErrorBody = z.object({
  errors: z.array(z.looseObject({ code: z.string().optional(), message: z.string().optional() })),
});

/** Statuses a request is retried on. */
export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

export function errorCodeFor(status: number): RegistryErrorCode {
  if (status === 404) return "NotFound";
  if (status === 401) return "Unauthorized";
  if (status === 403) return "Denied";
  if (status === 429) return "RateLimited";
  if (status >= 500 || status === 408) return "ServerError";
  return "InvalidResponse";
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), capped at 5 minutes. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const seconds = /^\d+$/.test(value.trim()) ? Number(value.trim()) : (Date.parse(value) - now) / 1000;
  if (!Number.isFinite(seconds)) return undefined;
  return Math.min(300, Math.max(0, seconds));
}

/** The body, refused (TooLarge) past `cap` bytes, announced or read. */
export async function readCapped(res: HttpResponse, cap: number, what: string): Promise<Uint8Array> {
  const declared = Number(res.header("content-length") ?? NaN);
  if (declared > cap) {
    await res.discard();
    throw new RegistryError(
      "TooLarge",
      `${what} is ${declared} bytes, over the ${cap}-byte limit; refusing to read it`,
    );
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      total += chunk.byteLength;
      if (total > cap) {
        res.body.destroy();
        throw new RegistryError("TooLarge", `${what} is over the ${cap}-byte limit; refusing to read it`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    throw classifyNetworkError(err, res.url);
  }
  return Buffer.concat(chunks, total);
}

/** `bytes` as JSON; InvalidResponse when they are not. */
export function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw new RegistryError("InvalidResponse", `${what} is not valid JSON`);
  }
}

/**
 * A RegistryError from a non-success response (the body is read for the registry's own words),
 * with the hint for its code, `retryable` for 408/429/5xx and the Retry-After it sent.
 */
export async function responseFailure(res: HttpResponse, what: string, now: number): Promise<RegistryError> {
  let detail = "";
  if (res.body.readable) {
    try {
      const text = Buffer.from(await readCapped(res, 64 * 1024, what)).toString("utf8");
      const parsed = RegistryErrorBody.safeParse(JSON.parse(text));
      if (parsed.success)
        detail = parsed.data.errors.map((e) => [e.code, e.message].filter(Boolean).join(": ")).join("; ");
    } catch {
      // a body we cannot read or parse adds nothing
    }
  }
  const code = errorCodeFor(res.status);
  const said = detail !== "" ? ` (registry said: ${detail})` : "";
  const hints: Partial<Record<RegistryErrorCode, string>> = {
    NotFound:
      "check the repository name and the tag or digest; some registries also answer 404 for private repositories without credentials",
    Unauthorized:
      "the registry needs credentials: add a pull secret (dockerconfigjson) or a Docker config entry for this registry",
    Denied:
      "the credentials are valid but may not pull this repository: grant pull access or use other credentials",
    RateLimited: "the registry is rate limiting; retrying later",
    ServerError: "the registry failed; retrying later",
  };
  const retryAfterSeconds = parseRetryAfter(res.header("retry-after"), now);
  return new RegistryError(
    code,
    `${what}: HTTP ${res.status}${said}; ${hints[code] ?? "unexpected answer from the registry"}`,
    {
      status: res.status,
      retryable: RETRYABLE_STATUS.has(res.status),
      ...(retryAfterSeconds !== undefined && { retryAfterSeconds }),
    },
  );
}
