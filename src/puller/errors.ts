import { OperatorError } from "../errors.js";

export type PullErrorCode =
  | "UnsafePath"
  | "UnsupportedEntry"
  | "UnsupportedLayer"
  | "InvalidArtifact"
  /** Two layers put different things at one path. */
  | "Conflict"
  /** A layer or the pull exceeds a size or entry limit (a decompression bomb, --max-bytes). */
  | "LimitExceeded"
  | "Io";

/** A pull that cannot place the artifact's files safely; nothing partial is left behind. */
export class PullError extends OperatorError<PullErrorCode> {}
