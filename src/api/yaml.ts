import { isJsonObject, type Json } from "./json.js";

/**
 * Renders JSON as block-style YAML that reads the same in YAML 1.1 (kubectl's go-yaml) and 1.2.
 * Deterministic: keys keep their insertion order, nothing depends on the environment. Strings are
 * plain when that cannot be misread (no keywords, numbers or indicators), a `|-` literal block when
 * they hold backslashes or double quotes (CEL rules and JSONPath stay verbatim), else JSON-quoted.
 */
export function toYaml(value: Json): string {
  const lines: string[] = [];
  writeValue(value, 0, lines, "");
  return lines.join("\n") + "\n";
}

const INDENT = "  ";
/** Plain scalars we emit: start with a letter, "." or "/", no ": ", " #", quotes or flow indicators. */
const PLAIN = /^[A-Za-z./][A-Za-z0-9 _./()<>=+,;'!?-]*$/;
/** Strings YAML 1.1 or 1.2 would read as something else when plain. */
const AMBIGUOUS = /^(?:y|n|yes|no|true|false|on|off|null|~|\.inf|\.nan)$/i;
const PRINTABLE_LINE = /^[^\s\p{Cc}](?:[^\p{Cc}]*[^\s\p{Cc}])?$/u;

function scalar(value: Exclude<Json, Json[] | object>, indent: number, forKey = false): string {
  if (value === null) return "null";
  if (typeof value !== "string") return String(value);
  if (PLAIN.test(value) && !value.endsWith(" ") && !AMBIGUOUS.test(value)) return value;
  if (!forKey && /["\\]/.test(value) && PRINTABLE_LINE.test(value)) {
    return `|-\n${INDENT.repeat(indent + 1)}${value}`;
  }
  return JSON.stringify(value);
}

/**
 * Appends `value` to `lines` at `indent`. `prefix` is "key:" for a mapping entry, "" for a document
 * or sequence item. Sequences under a key are not indented further (the kubectl style).
 */
function writeValue(value: Json, indent: number, lines: string[], prefix: string): void {
  const pad = INDENT.repeat(indent);
  const lead = prefix === "" ? pad : `${pad}${prefix} `;
  if (Array.isArray(value)) {
    if (value.length === 0) return void lines.push(`${lead}[]`);
    if (prefix !== "") lines.push(`${pad}${prefix}`);
    for (const item of value) writeItem(item, indent, lines);
    return;
  }
  if (isJsonObject(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) return void lines.push(`${lead}{}`);
    if (prefix !== "") lines.push(`${pad}${prefix}`);
    const childIndent = prefix === "" ? indent : indent + 1;
    for (const [key, child] of entries) writeValue(child, childIndent, lines, `${scalar(key, 0, true)}:`);
    return;
  }
  lines.push(`${lead}${scalar(value, indent)}`);
}

/** A sequence item: rendered one level deeper, then "- " takes the place of its first indent. */
function writeItem(item: Json, indent: number, lines: string[]): void {
  const nested: string[] = [];
  writeValue(item, indent + 1, nested, "");
  const [first = "", ...rest] = nested;
  lines.push(`${INDENT.repeat(indent)}- ${first.slice((indent + 1) * INDENT.length)}`, ...rest);
}
