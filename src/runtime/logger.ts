/**
 * The logger factory. Every component takes a `Logger` in its options and derives children from
 * it; nothing in this project keeps a module-level logger.
 *
 * Guarantees: one JSON object per line; `time` is ISO-8601, `level` a label (`info`), `msg` a
 * constant string with everything variable in fields (camelCase keys), errors under `err` with
 * type, message, stack and cause. The factory's `name` goes to the `logger` key, so a child's
 * `name` field (an object's name, as controller-runtime logs it) never collides with it.
 */
import { pino, type DestinationStream, type LevelWithSilent, type Logger } from "pino";

export type { Logger } from "pino";

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** Minimum level written. Default `info`. */
  level?: LevelWithSilent;
  /** Written as `logger` on every line, e.g. `modelpack-operator`. */
  name?: string;
  /** Where lines go. Default: stdout (synchronous writes, so nothing is lost when the process exits). */
  destination?: DestinationStream;
}

/** Creates a root logger; pass it down and derive children with `logger.child({ controller })`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const config = {
    level: options.level ?? "info",
    base: options.name ? { logger: options.name } : {},
    messageKey: "msg",
    errorKey: "err",
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    serializers: { err: pino.stdSerializers.errWithCause },
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** A logger that writes nothing, for tests and optional logging. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
