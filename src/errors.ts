/**
 * The base of every error this project throws on purpose. `code` is a stable, machine-readable
 * identifier that callers map to an outcome once per surface (a condition reason, an HTTP status,
 * an exit code); `message` is for people and always names the object, the cause and the fix.
 */
export class OperatorError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Renders any thrown value as one line for logs and CLI output. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The `code` of a Node system error (`ENOENT`, `EACCES`, …), if it is one. */
export function errnoCode(err: unknown): string | undefined {
  const code = err instanceof Error && "code" in err ? err.code : undefined;
  return typeof code === "string" ? code : undefined;
}
