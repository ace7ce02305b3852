import { formatPath, isJsonObject, valueAt, type Issue } from "./issues.js";

/**
 * Recognises configs written against an older model-spec tag (modelpack-spec.md §3.6) so the user
 * gets one error naming the spec version and the renames, instead of a pile of schema errors.
 * Versions are numbered by their last digit: 1 = v0.0.1 … 7 = v0.0.7, 8 = main (after v0.0.7).
 */

/** A key that exists only in older spec versions, and how to upgrade it. */
interface LegacyMarker {
  readonly path: readonly string[];
  readonly from: number;
  readonly to: number;
  readonly fix: string;
  /** A required current field that the legacy key stands in for (its absence is explained). */
  readonly replaces?: readonly string[];
}

const MARKERS: readonly LegacyMarker[] = [
  {
    path: ["modelfs", "diff_ids"],
    from: 1,
    to: 6,
    fix: "rename modelfs.diff_ids to modelfs.diffIds",
    replaces: ["modelfs", "diffIds"],
  },
  {
    path: ["config", "parameterSize"],
    from: 1,
    to: 1,
    fix: 'replace config.parameterSize (a number) with config.paramSize, a string such as "8b"',
  },
  {
    path: ["config", "puantization"],
    from: 1,
    to: 3,
    fix: "rename config.puantization (a typo in v0.0.1-v0.0.3) to config.quantization",
  },
  ...(
    [
      ["input_types", "inputTypes"],
      ["output_types", "outputTypes"],
      ["knowledge_cutoff", "knowledgeCutoff"],
      ["tool_usage", "toolUsage"],
    ] as const
  ).map(([old, current]) => ({
    path: ["config", "capabilities", old],
    from: 6,
    to: 6,
    fix: `rename config.capabilities.${old} to config.capabilities.${current}`,
  })),
  {
    path: ["config", "capabilities", "embedding"],
    from: 7,
    to: 7,
    fix: 'remove config.capabilities.embedding (dropped after v0.0.7); an embedding model lists "embedding" in config.capabilities.outputTypes',
  },
];

/** Current keys that first appeared in a given version: they narrow the guess. */
const INTRODUCED: readonly { readonly path: readonly string[]; readonly from: number }[] = [
  { path: ["config", "paramSize"], from: 2 },
  { path: ["config", "quantization"], from: 4 },
  { path: ["config", "capabilities"], from: 6 },
  { path: ["config", "capabilities", "inputTypes"], from: 7 },
  { path: ["config", "capabilities", "outputTypes"], from: 7 },
  { path: ["config", "capabilities", "knowledgeCutoff"], from: 7 },
  { path: ["config", "capabilities", "toolUsage"], from: 7 },
  { path: ["config", "capabilities", "reward"], from: 7 },
  { path: ["modelfs", "diffIds"], from: 7 },
  { path: ["config", "capabilities", "languages"], from: 8 },
  { path: ["descriptor", "datasetsURL"], from: 8 },
];

/** What detectLegacyConfig found. */
export interface LegacyConfig {
  /** E.g. `v0.0.6`, `v0.0.6 or earlier`, `v0.0.2-v0.0.3`, `v0.0.7`, or `mixed` when keys disagree. */
  readonly specVersion: string;
  readonly message: string;
  /** The single `config.legacy` error to report. */
  readonly issue: Issue;
  /** Whether a schema issue is a consequence of the legacy shape (and so should not be reported). */
  readonly explains: (issue: Issue) => boolean;
}

/**
 * Looks for keys of older spec versions in a parsed config. Returns undefined for a config with
 * none (whatever else is wrong with it). Pure: reads `doc` only.
 */
export function detectLegacyConfig(doc: unknown): LegacyConfig | undefined {
  const present = MARKERS.filter((m) => hasKey(doc, m.path));
  const first = present[0];
  if (first === undefined) return undefined;
  let from = Math.max(...present.map((m) => m.from));
  const to = Math.min(...present.map((m) => m.to));
  for (const introduced of INTRODUCED) {
    if (hasKey(doc, introduced.path)) from = Math.max(from, introduced.from);
  }
  const keys = present.map((m) => formatPath(m.path)).join(", ");
  const specVersion = from > to ? "mixed" : versionRange(from, to);
  const follows =
    specVersion === "mixed"
      ? `mixes keys of different older spec versions (${present.map((m) => `${formatPath(m.path)}: ${versionRange(m.from, m.to)}`).join("; ")})`
      : `follows ModelPack spec ${specVersion} (it uses ${keys})`;
  const message =
    `This config ${follows}; the current spec (v1 config, model-spec main) does not accept it, ` +
    `and neither does the reference validator. To upgrade: ${present.map((m) => m.fix).join("; ")}.`;
  const explainedAdditional = new Set(present.map((m) => formatPath(m.path)));
  const explainedRequired = new Set(
    present.flatMap((m) => (m.replaces === undefined ? [] : [formatPath(m.replaces)])),
  );
  return {
    specVersion,
    message,
    issue: { code: "config.legacy", path: formatPath(first.path), message },
    explains: (issue) =>
      (issue.code.endsWith(".additional-property") && explainedAdditional.has(issue.path)) ||
      (issue.code.endsWith(".required") && explainedRequired.has(issue.path)),
  };
}

function versionRange(from: number, to: number): string {
  const name = (v: number): string => (v >= 8 ? "main" : `v0.0.${v}`);
  if (from === to) return name(from);
  if (from <= 1) return `${name(to)} or earlier`;
  return `${name(from)}-${name(to)}`;
}

function hasKey(doc: unknown, path: readonly string[]): boolean {
  const parent = valueAt(doc, path.slice(0, -1));
  const key = path.at(-1);
  return isJsonObject(parent) && key !== undefined && Object.hasOwn(parent, key);
}
