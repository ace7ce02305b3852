import { OperatorError } from "../errors.js";

/** Bad flags, arguments or unreadable local files: exit code 2. */
export class UsageError extends OperatorError<"Usage"> {
  constructor(message: string) {
    super("Usage", message);
  }
}
