/**
 * Pure builders for status fields whose form the API fixes: the short digest shown by
 * `kubectl get`, and the bounded validation report.
 */
import { truncate } from "./truncate.js";
import {
  MAX_ISSUE_CODE_LENGTH,
  MAX_ISSUE_MESSAGE_LENGTH,
  MAX_ISSUE_PATH_LENGTH,
  MAX_STATUS_ISSUES,
  type StatusIssue,
  type ValidationReport,
} from "./v1alpha1.js";

/** Hex digits kept by shortDigest, as `docker images` shows image IDs. */
export const SHORT_DIGEST_LENGTH = 12;

/**
 * `sha256:3f1c0a9b2e4d…` → `sha256:3f1c0a9b2e4d`: the algorithm and the first 12 characters of
 * the encoded part. A string without ":" is cut to 12 characters.
 */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(":");
  if (colon < 0) return digest.slice(0, SHORT_DIGEST_LENGTH);
  return digest.slice(0, colon + 1 + SHORT_DIGEST_LENGTH);
}

/** A finding as validators report it (src/modelpack Issue, lint findings mapped to a path). */
export interface Finding {
  readonly code: string;
  /** Empty or absent for the document itself. */
  readonly path?: string | undefined;
  readonly message: string;
}

/**
 * status.validation from every finding: each list keeps its first MAX_STATUS_ISSUES entries (the
 * order validators report them in, most basic first), every field is cut to the schema's limit,
 * and the counts give the totals so a reader knows when entries were left out. Lists and counts
 * that would be empty or zero are omitted.
 */
export function validationReport(findings: {
  readonly errors?: readonly Finding[];
  readonly warnings?: readonly Finding[];
  readonly lint?: readonly Finding[];
}): ValidationReport {
  const { errors = [], warnings = [], lint = [] } = findings;
  return {
    ...(errors.length > 0 && { errors: bounded(errors), errorCount: errors.length }),
    ...(warnings.length > 0 && { warnings: bounded(warnings), warningCount: warnings.length }),
    ...(lint.length > 0 && { lint: bounded(lint), lintCount: lint.length }),
  };
}

function bounded(findings: readonly Finding[]): StatusIssue[] {
  return findings.slice(0, MAX_STATUS_ISSUES).map((f) => ({
    code: truncate(f.code, MAX_ISSUE_CODE_LENGTH),
    ...(f.path !== undefined && f.path !== "" && { path: truncate(f.path, MAX_ISSUE_PATH_LENGTH) }),
    message: truncate(f.message, MAX_ISSUE_MESSAGE_LENGTH),
  }));
}
