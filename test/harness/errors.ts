import { OperatorError } from "../../src/errors.js";

/** What went wrong in the harness; tests and the CLI branch on it (e.g. to retry a port clash). */
export type HarnessErrorCode =
  | "tool-build-failed"
  | "tool-missing"
  | "pki-failed"
  | "component-exited"
  | "port-in-use"
  | "not-ready"
  | "version-mismatch"
  | "nodes-not-ready"
  | "not-full"
  | "stopped"
  | "state-invalid";

/**
 * An error of the control-plane harness. `message` names the step that failed and, when a
 * component is involved, ends with the tail of its log and the path of the full log (`logPath`).
 */
export class HarnessError extends OperatorError<HarnessErrorCode> {
  /** The log file of the component that failed, when there is one. */
  readonly logPath: string | undefined;

  constructor(code: HarnessErrorCode, message: string, options?: { cause?: unknown; logPath?: string }) {
    super(code, message, options);
    this.logPath = options?.logPath;
  }
}
