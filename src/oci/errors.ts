import { OperatorError } from "../errors.js";

/**
 * Why a registry operation failed. Callers turn these into condition reasons (controller),
 * exit codes (CLI) or retries; the set is closed so every caller handles every case.
 */
export type RegistryErrorCode =
  | "InvalidReference"
  | "NotFound"
  | "Unauthorized"
  | "Denied"
  | "DigestMismatch"
  | "TooLarge"
  | "Unreachable"
  | "Timeout"
  | "RateLimited"
  | "ServerError"
  | "InvalidResponse"
  | "UnsupportedCredentials"
  | "RegistryNotAllowed";

/** A failed registry operation; `retryable` says whether the same request may succeed later. */
export class RegistryError extends OperatorError<RegistryErrorCode> {
  readonly status: number | undefined;
  readonly retryable: boolean;
  /** Seconds the registry asked us to wait (Retry-After), when it said so. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: RegistryErrorCode,
    message: string,
    options: { status?: number; retryable?: boolean; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(code, message, { cause: options.cause });
    this.status = options.status;
    this.retryable = options.retryable ?? false;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** Bytes that do not hash to the digest that names them: never trusted, never retried blindly. */
export class DigestMismatchError extends RegistryError {
  readonly expected: string;
  readonly actual: string;

  constructor(what: string, expected: string, actual: string) {
    super(
      "DigestMismatch",
      `${what}: content digest ${actual} does not match the expected ${expected}; ` +
        `the registry served corrupt or tampered content — re-push the artifact or check any proxy in between`,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/** A reference string that cannot be parsed. */
export class InvalidReferenceError extends RegistryError {
  constructor(reference: string, reason: string) {
    super("InvalidReference", `invalid reference "${reference}": ${reason}`);
  }
}
