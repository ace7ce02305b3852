/**
 * The webhook's HTTP core, independent of the server runtime: routing, body limits, parsing,
 * `admit`, and the one place where failures become HTTP answers (`errorAnswer`). The Node HTTPS
 * server (server.ts) drives it on the hot path without building Request/Response objects; `fetch`
 * offers the same behaviour on web-standard Request/Response for any other runtime and for tests.
 *
 * Guarantees:
 * - `review` and `fetch` never throw: a bad body is a 400, an oversized one a 413, a wrong
 *   Content-Type a 415, a request before the ModelDeployment cache synced a 503 (so the
 *   apiserver applies the webhook's failurePolicy rather than admitting a pod without its model),
 *   anything unexpected a logged 500. Each of these is logged once and counted as `error`.
 * - Allowed and patched answers are logged at debug, denials at info, with the pod and uid.
 */
import { describeError } from "../errors.js";
import type { Logger } from "../runtime/logger.js";
import type { KubeObject } from "../runtime/kube-object.js";
import type { Store } from "../runtime/store.js";
import type { InitContainerSettings } from "../mount/types.js";
import { AdmissionReview, checkedAs, resultOf, type AdmissionReviewResponse } from "./admission-review.js";
import { admit, type AdmitContext, type PlanMounts } from "./admit.js";
import { CandidateCache, type AdmissionPolicy } from "./candidates.js";
import { WebhookRequestError } from "./errors.js";
import { noopWebhookMetrics, type WebhookMetrics } from "./metrics.js";

/** The admission endpoint's path. */
export const MUTATE_PODS_PATH = "/mutate-pods";
/** The health endpoint's path (the same process serves /healthz and /readyz on the health server too). */
export const HEALTHZ_PATH = "/healthz";
/** The apiserver's limit on an AdmissionReview body (3 MiB); larger bodies get 413. */
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;

/** Options of `createAdmissionHandler`. */
export interface AdmissionHandlerOptions {
  readonly store: Store<KubeObject>;
  readonly settings: InitContainerSettings;
  /** Default: src/mount `planMounts`. */
  readonly planMounts?: PlanMounts;
  readonly logger: Logger;
  /** Default: records nothing. */
  readonly metrics?: WebhookMetrics;
  /** Whether the store holds the initial list; until then reviews get 503. Default: always synced. */
  readonly hasSynced?: () => boolean;
  /** Default DEFAULT_MAX_BODY_BYTES. */
  readonly maxBodyBytes?: number;
  /** `run --allowed-registries`: checked again against every pinned reference at admission. */
  readonly allowedRegistries?: readonly string[];
  /** `run --verification-policy`: which references need a verified signature in status. */
  readonly signaturesRequired?: AdmissionPolicy["signaturesRequired"];
}

/** An HTTP answer: status, body and its Content-Type. */
export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** What a request asks for. */
export type Route = "review" | "healthz";

/** The webhook's HTTP behaviour. */
export interface AdmissionHandler {
  readonly maxBodyBytes: number;
  /**
   * Routes a request; throws WebhookRequestError NotFound or MethodNotAllowed (the caller maps it
   * with `errorAnswer`).
   */
  route(method: string | undefined, path: string): Route;
  /**
   * Answers one admission body that the caller read within `maxBodyBytes`. `startedAt` is a
   * `performance.now()` value taken when the request arrived (default: now), for the latency
   * histogram. Never throws.
   */
  review(body: string, contentType: string | undefined, startedAt?: number): HttpAnswer;
  /** Answers a request that failed before `review` (e.g. BodyTooLarge), logging and counting it. Never throws. */
  fail(err: unknown, startedAt?: number): HttpAnswer;
  /** The same behaviour on web-standard Request/Response. Never rejects. */
  fetch(request: Request): Promise<Response>;
}

const JSON_TYPE = "application/json";
const TEXT_TYPE = "text/plain; charset=utf-8";
const OK: HttpAnswer = { status: 200, contentType: TEXT_TYPE, body: "ok\n" };

/** Creates the handler; the ModelDeployment cache it compiles into lives as long as it does. */
export function createAdmissionHandler(options: AdmissionHandlerOptions): AdmissionHandler {
  const logger = options.logger.child({ component: "webhook" });
  const metrics = options.metrics ?? noopWebhookMetrics;
  const hasSynced = options.hasSynced ?? (() => true);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const context: AdmitContext = {
    store: options.store,
    settings: options.settings,
    ...(options.planMounts !== undefined && { planMounts: options.planMounts }),
    candidates: new CandidateCache({
      allowedRegistries: options.allowedRegistries ?? [],
      ...(options.signaturesRequired !== undefined && { signaturesRequired: options.signaturesRequired }),
    }),
  };

  const fail = (err: unknown, startedAt = performance.now()): HttpAnswer => {
    const answer = errorAnswer(err, logger);
    metrics.observe("error", (performance.now() - startedAt) / 1000);
    return answer;
  };

  const review = (
    body: string,
    contentType: string | undefined,
    startedAt = performance.now(),
  ): HttpAnswer => {
    try {
      if (!hasSynced()) {
        throw new WebhookRequestError(
          "NotSynced",
          "the webhook has not loaded the ModelDeployments yet; retry shortly",
        );
      }
      if (contentType !== undefined && !isJson(contentType)) {
        throw new WebhookRequestError(
          "UnsupportedMediaType",
          `Content-Type must be ${JSON_TYPE}, not ${contentType}`,
        );
      }
      const parsed = parseReview(body);
      const answer = admit(parsed, context);
      const result = resultOf(answer);
      metrics.observe(result, (performance.now() - startedAt) / 1000);
      logAnswer(logger, result, parsed, answer);
      return { status: 200, contentType: JSON_TYPE, body: JSON.stringify(answer) };
    } catch (err) {
      return fail(err, startedAt);
    }
  };

  const route = (method: string | undefined, path: string): Route => {
    if (path === MUTATE_PODS_PATH) {
      if (method !== "POST")
        throw new WebhookRequestError("MethodNotAllowed", `${MUTATE_PODS_PATH} takes POST`);
      return "review";
    }
    if (path === HEALTHZ_PATH) {
      if (method !== "GET" && method !== "HEAD")
        throw new WebhookRequestError("MethodNotAllowed", `${HEALTHZ_PATH} takes GET`);
      return "healthz";
    }
    throw new WebhookRequestError("NotFound", `no endpoint at ${path}`);
  };

  return {
    maxBodyBytes,
    route,
    review,
    fail,
    async fetch(request) {
      const startedAt = performance.now();
      let which: Route;
      try {
        which = route(request.method, new URL(request.url).pathname);
      } catch (err) {
        return toResponse(errorAnswer(err, logger));
      }
      if (which === "healthz") return toResponse(OK);
      try {
        const body = await readLimited(request, maxBodyBytes);
        return toResponse(review(body, request.headers.get("content-type") ?? undefined, startedAt));
      } catch (err) {
        return toResponse(fail(err, startedAt));
      }
    },
  };
}

/**
 * Maps any failure to its HTTP answer — the one place this happens. WebhookRequestErrors get
 * their status and message (logged at warn, or debug for routing misses); anything else is a bug
 * or an unexpected input: logged at error with its stack and answered 500 without details.
 */
export function errorAnswer(err: unknown, logger: Logger): HttpAnswer {
  if (err instanceof WebhookRequestError) {
    const quiet = err.code === "NotFound" || err.code === "MethodNotAllowed";
    logger[quiet ? "debug" : "warn"](
      { code: err.code, status: err.httpStatus, reason: err.message },
      "admission request refused",
    );
    return { status: err.httpStatus, contentType: TEXT_TYPE, body: `${err.message}\n` };
  }
  logger.error({ err }, "admission request failed");
  return { status: 500, contentType: TEXT_TYPE, body: "internal error; see the operator's log\n" };
}

/** JSON text → AdmissionReview; throws WebhookRequestError MalformedReview naming the first problem. */
export function parseReview(body: string): AdmissionReview {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    throw new WebhookRequestError("MalformedReview", `the body is not JSON: ${describeError(err)}`);
  }
  const parsed = checkedAs(AdmissionReview, json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new WebhookRequestError(
    "MalformedReview",
    `the body is not an admission.k8s.io/v1 AdmissionReview${
      issue === undefined ? "" : ` (at ${issue.path.join(".") || "(root)"}: ${issue.message})`
    }`,
  );
}

function isJson(contentType: string): boolean {
  const semicolon = contentType.indexOf(";");
  return (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase() === JSON_TYPE;
}

function logAnswer(
  logger: Logger,
  result: string,
  review: AdmissionReview,
  answer: AdmissionReviewResponse,
): void {
  const { uid, namespace, name, dryRun } = review.request;
  if (result === "denied") {
    logger.info({ uid, namespace, name, dryRun, reason: answer.response.status?.message }, "pod denied");
  } else if (logger.isLevelEnabled("debug")) {
    logger.debug({ uid, namespace, name, dryRun, result }, "pod admitted");
  }
}

function toResponse(answer: HttpAnswer): Response {
  return new Response(answer.body, {
    status: answer.status,
    headers: { "content-type": answer.contentType },
  });
}

/** The body as text, refusing (413) once it exceeds `limit` bytes — before reading it all. */
async function readLimited(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limit) throw tooLarge(limit);
  if (request.body === null) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The 413 for a body over `limit` bytes. */
export function tooLarge(limit: number): WebhookRequestError {
  return new WebhookRequestError("BodyTooLarge", `the body exceeds ${limit} bytes`);
}
