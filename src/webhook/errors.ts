/**
 * Why the webhook could not answer an HTTP request with an AdmissionReview. Each code has one
 * HTTP status, assigned here and nowhere else (`httpStatus`); the handler maps every failure to a
 * response in one place. A refused pod is not an error: it is an AdmissionReview with
 * `allowed: false`, answered with 200.
 */
import { OperatorError } from "../errors.js";

export type WebhookErrorCode =
  /** The body is larger than the limit (the apiserver's own limit on AdmissionReviews is 3 MiB). */
  | "BodyTooLarge"
  /** Not JSON, not an admission.k8s.io/v1 AdmissionReview, or a pod that does not parse. */
  | "MalformedReview"
  /** A Content-Type other than application/json. */
  | "UnsupportedMediaType"
  /** The ModelDeployment cache has not loaded yet: answering now could admit pods without their model. */
  | "NotSynced"
  /** The server holds its limit of admission bytes in flight (server.ts): retry shortly. */
  | "Overloaded"
  | "MethodNotAllowed"
  | "NotFound";

const STATUS: Record<WebhookErrorCode, number> = {
  BodyTooLarge: 413,
  MalformedReview: 400,
  UnsupportedMediaType: 415,
  NotSynced: 503,
  Overloaded: 503,
  MethodNotAllowed: 405,
  NotFound: 404,
};

/** A request the webhook answers with an HTTP error instead of an AdmissionReview. */
export class WebhookRequestError extends OperatorError<WebhookErrorCode> {
  /** The HTTP status for `code`. */
  get httpStatus(): number {
    return STATUS[this.code];
  }
}
