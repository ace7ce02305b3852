import { OperatorError } from "../errors.js";

export type PullErrorCode = "UnsafePath" | "UnsupportedEntry" | "UnsupportedLayer" | "InvalidArtifact" | "Io";

/** A pull that cannot place the artifact's files safely; nothing partial is left behind. */
export class PullError extends OperatorError<PullErrorCode> {}
