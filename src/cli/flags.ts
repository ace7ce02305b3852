/**
 * Flag parsing and help for the CLI's commands, from one table per command: the parser accepts
 * exactly the flags the help describes (each `FlagSpec` carries its description), so no flag can
 * be accepted and left undocumented. Pure functions; nothing here reads the environment.
 *
 * Guarantees:
 * - An unknown flag is a UsageError `unknown flag --dset (did you mean --dest?)`, the suggestion
 *   taken from that command's flags by edit distance (or a prefix); a flag of another command says
 *   which command takes it.
 * - A string flag without a value, or followed by another flag, and a boolean flag given a value
 *   are UsageErrors naming the flag; Node's own parser messages never reach the user.
 * - `-o` is `--output`, `-h` is `--help`, for every command.
 */
import { parseArgs } from "node:util";
import { describeError } from "../errors.js";
import { UsageError } from "./usage-error.js";

/** One flag: what node:util's parseArgs needs, plus what the help shows. */
export interface FlagSpec {
  readonly type: "string" | "boolean";
  readonly multiple?: boolean;
  readonly short?: string;
  readonly default?: string | boolean;
  /** The value's placeholder in the help: `FILE`, `DIR`, `N`, `true|false`. String flags only. */
  readonly value?: string;
  /** One or more sentences; wrapped by the help. */
  readonly description: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** A command: its usage line, a summary and its flags (without the common ones). */
export interface CommandSpec<F extends FlagSpecs = FlagSpecs> {
  readonly name: string;
  /** After `modelpack-operator`, e.g. `pull REFERENCE --dest DIR [flags]`. */
  readonly usage: string;
  readonly summary: string;
  readonly flags: F;
  /** Paragraphs shown after the flags. */
  readonly notes?: readonly string[];
}

/** Flags every command takes. */
export const COMMON_FLAGS = {
  output: {
    type: "string",
    short: "o",
    value: "text|json",
    description:
      "text for people (default) or json for scripts; with json, an error is one JSON line " +
      '{"error":{"code":…,"message":…,"exitCode":…}} on stderr.',
  },
  help: { type: "boolean", short: "h", description: "show this help." },
} as const satisfies FlagSpecs;

/**
 * Parses `args` against `flags` plus COMMON_FLAGS, strictly. `others` are the other commands, to
 * tell the user which one takes a flag this one does not. Throws UsageError.
 */
export function parseFlags<F extends FlagSpecs>(
  command: CommandSpec<F>,
  args: readonly string[],
  others: readonly CommandSpec[] = [],
) {
  const options = { ...command.flags, ...COMMON_FLAGS };
  checkTokens(command, options, args, others);
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${describeError(err)}; run modelpack-operator ${command.name} --help`);
  }
}

/** Our messages for what Node's strict parser would refuse with its own. */
function checkTokens(
  command: CommandSpec,
  options: FlagSpecs,
  args: readonly string[],
  others: readonly CommandSpec[],
): void {
  const { tokens } = parseArgs({
    args: [...args],
    options,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const spec = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (spec === undefined) throw new UsageError(unknownFlagMessage(command, token.rawName, others));
    const display = token.rawName.startsWith("--") ? token.rawName : `--${token.name}`;
    if (spec.type === "boolean") {
      if (token.inlineValue === true) throw new UsageError(`${display} takes no value`);
      continue;
    }
    const placeholder = spec.value ?? "VALUE";
    if (token.value === undefined)
      throw new UsageError(`${display} needs a value: ${display} ${placeholder}`);
    if (token.inlineValue === false && token.value.startsWith("-") && token.value !== "-") {
      throw new UsageError(
        `${display} needs a value, but ${token.value} follows it: ${display} ${placeholder} (write ${display}=${token.value} for a value that starts with "-")`,
      );
    }
  }
}

/** `unknown flag --dset (did you mean --dest?)`, or a pointer to the help. */
export function unknownFlagMessage(
  command: CommandSpec,
  rawName: string,
  others: readonly CommandSpec[] = [],
): string {
  const name = rawName.replace(/^-+/, "");
  const known = Object.keys({ ...command.flags, ...COMMON_FLAGS });
  const suggestion = suggestFlag(name, known);
  if (suggestion !== undefined) return `unknown flag ${rawName} (did you mean --${suggestion}?)`;
  const owner = rawName.startsWith("--")
    ? others.find((o) => o.name !== command.name && Object.hasOwn(o.flags, name))
    : undefined;
  if (owner !== undefined)
    return `unknown flag ${rawName} for ${command.name} (it is a flag of ${owner.name}); run modelpack-operator ${command.name} --help`;
  return `unknown flag ${rawName}; run modelpack-operator ${command.name} --help`;
}

/**
 * The known flag nearest to `name`: within an edit distance of 2 (and less than half its length),
 * or the only flag `name` (3 characters or more) is a prefix of. Undefined when none is close.
 */
export function suggestFlag(name: string, known: readonly string[]): string | undefined {
  let best: { flag: string; distance: number } | undefined;
  for (const flag of known) {
    const distance = editDistance(name.toLowerCase(), flag);
    if (distance <= 2 && distance < name.length / 2 && (best === undefined || distance < best.distance))
      best = { flag, distance };
  }
  if (best !== undefined) return best.flag;
  const prefixed = name.length >= 3 ? known.filter((flag) => flag.startsWith(name.toLowerCase())) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and transpositions. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] ?? [];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, at(i - 2, j - 2) + 1);
      row[j] = d;
    }
  }
  return at(a.length, b.length);
}

/**
 * Whether `args` ask for JSON output (`--output json`, `--output=json`, `-o json`, `-ojson`),
 * read before parsing so that a parse error is reported as JSON too.
 */
export function wantsJsonOutput(args: readonly string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") return false;
    if (arg === "--output=json" || arg === "-ojson") return true;
    if ((arg === "--output" || arg === "-o") && args[i + 1] === "json") return true;
  }
  return false;
}

const WIDTH = 100;
const FLAG_COLUMN = 30;

/** The help of one command: usage, summary, every flag with its description and default, notes. */
export function commandHelp(command: CommandSpec): string {
  const lines = [`Usage: modelpack-operator ${command.usage}`, "", ...wrap(command.summary, WIDTH), ""];
  lines.push("Flags:");
  const all: FlagSpecs = { ...command.flags, ...COMMON_FLAGS };
  for (const [name, spec] of Object.entries(all)) {
    const head =
      `  ${spec.short !== undefined ? `-${spec.short}, ` : ""}--${name}` +
      (spec.type === "string" ? ` ${spec.value ?? "VALUE"}` : "");
    const shownDefault =
      spec.default !== undefined && spec.default !== false ? ` (default ${String(spec.default)})` : "";
    const repeat = spec.multiple === true ? " Repeatable." : "";
    const sentence = `${spec.description.replace(/\.$/, "")}${shownDefault}.${repeat}`;
    const text = wrap(sentence, WIDTH - FLAG_COLUMN);
    if (head.length < FLAG_COLUMN - 1) {
      lines.push(head.padEnd(FLAG_COLUMN) + (text[0] ?? ""));
      for (const more of text.slice(1)) lines.push(" ".repeat(FLAG_COLUMN) + more);
    } else {
      lines.push(head);
      for (const more of text) lines.push(" ".repeat(FLAG_COLUMN) + more);
    }
  }
  for (const note of command.notes ?? []) lines.push("", ...wrap(note, WIDTH));
  return lines.join("\n");
}

/** Words of `text` in lines of at most `width` characters (a longer word gets its own line). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (current === "") current = word;
    else if (current.length + 1 + word.length <= width) current += ` ${word}`;
    else {
      lines.push(current);
      current = word;
    }
  }
  if (current !== "") lines.push(current);
  return lines;
}
