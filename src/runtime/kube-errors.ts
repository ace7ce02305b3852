/**
 * Errors of calls to the Kubernetes API, mapped once from the `Status` object the apiserver sends
 * (HTTP errors and in-stream watch ERROR events alike) or from a transport failure.
 */
import { z } from "zod";
import { OperatorError } from "../errors.js";

/**
 * Why an API call failed: the Status `reason` when the apiserver gave a known one, else derived
 * from the HTTP status. `Unreachable` is a transport failure (no response at all);
 * `ResourceVersionTooLarge` is a Timeout whose cause says the requested resourceVersion is ahead
 * of the server (e.g. after etcd was restored), which needs a fresh list like `Expired`.
 */
export type KubeApiErrorCode =
  | "BadRequest"
  | "Unauthorized"
  | "Forbidden"
  | "NotFound"
  | "AlreadyExists"
  | "Conflict"
  | "Gone"
  | "Expired"
  | "Invalid"
  | "TooManyRequests"
  | "InternalError"
  | "ServiceUnavailable"
  | "ServerTimeout"
  | "Timeout"
  | "ResourceVersionTooLarge"
  | "Unreachable"
  | "InvalidResponse"
  | "Unknown";

const KNOWN_REASONS = new Set<string>([
  "BadRequest",
  "Unauthorized",
  "Forbidden",
  "NotFound",
  "AlreadyExists",
  "Conflict",
  "Gone",
  "Expired",
  "Invalid",
  "TooManyRequests",
  "InternalError",
  "ServiceUnavailable",
  "ServerTimeout",
  "Timeout",
]);

function isKnownReason(reason: string): reason is KubeApiErrorCode {
  return KNOWN_REASONS.has(reason);
}

/** A failed API call. `status` is the HTTP status (or the Status `code`), 0 when nothing answered. */
export class KubeApiError extends OperatorError<KubeApiErrorCode> {
  readonly status: number;
  /** Seconds the server asked us to wait (Status details or Retry-After), if it said so. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: KubeApiErrorCode,
    message: string,
    options: { status?: number; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(code, message, { cause: options.cause });
    this.status = options.status ?? 0;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** The fields of a `meta/v1 Status` that decide what a client does. */
export const KubeStatus = z.looseObject({
  kind: z.literal("Status").optional(),
  code: z.number().int().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  details: z
    .looseObject({
      retryAfterSeconds: z.number().int().optional(),
      causes: z
        .array(z.looseObject({ reason: z.string().optional(), message: z.string().optional() }))
        .optional(),
    })
    .optional(),
});
export type KubeStatus = z.infer<typeof KubeStatus>;

function codeFor(
  status: number,
  reason: string | undefined,
  causes: readonly { reason?: string }[],
): KubeApiErrorCode {
  if (causes.some((c) => c.reason === "ResourceVersionTooLarge")) return "ResourceVersionTooLarge";
  if (reason && isKnownReason(reason)) return reason;
  switch (status) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return status >= 500 ? "InternalError" : "Unknown";
  }
}

/**
 * The error for a Status object (`what` names the call, e.g. `GET /api/v1/pods`). `httpStatus` is
 * used when the Status carries no code (an in-stream watch ERROR always does).
 */
export function kubeApiErrorFromStatus(
  what: string,
  status: KubeStatus,
  httpStatus = 0,
  retryAfterHeader?: number,
): KubeApiError {
  const code = status.code ?? httpStatus;
  const causes = status.details?.causes ?? [];
  const retryAfterSeconds = status.details?.retryAfterSeconds ?? retryAfterHeader;
  const message = `${what}: ${status.message ?? status.reason ?? `HTTP ${code}`}`;
  return new KubeApiError(codeFor(code, status.reason, causes), message, {
    status: code,
    ...(retryAfterSeconds !== undefined && { retryAfterSeconds }),
  });
}

/** The error for an HTTP error response whose body may or may not be a Status. */
export function kubeApiErrorFromResponse(
  what: string,
  httpStatus: number,
  body: string,
  retryAfterHeader?: number,
): KubeApiError {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  const parsed = KubeStatus.safeParse(json);
  const status: KubeStatus = parsed.success
    ? parsed.data
    : { message: body.trim().slice(0, 200) || undefined };
  return kubeApiErrorFromStatus(what, status, httpStatus, retryAfterHeader);
}

/**
 * Whether a list or watch must start over from a fresh list: the resourceVersion it resumed from
 * has been compacted away (410 Gone / reason Expired / "too old resource version"), or is ahead of
 * what the server has (ResourceVersionTooLarge).
 */
export function isResourceVersionUnavailable(err: unknown): boolean {
  if (!(err instanceof KubeApiError)) return false;
  return (
    err.code === "Expired" ||
    err.code === "Gone" ||
    err.code === "ResourceVersionTooLarge" ||
    err.status === 410 ||
    /too old resource version/i.test(err.message)
  );
}

/** Whether the error is a Conflict (optimistic-concurrency failure: re-read and retry). */
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === "Conflict";
}

/** Whether the error is a NotFound (the object does not exist). */
export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === "NotFound";
}

/** Whether the error is a Forbidden (RBAC refused the request). */
export function isForbidden(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === "Forbidden";
}

/** Whether the error is an AlreadyExists (a create lost a race). */
export function isAlreadyExists(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === "AlreadyExists";
}
