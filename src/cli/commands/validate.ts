import { readFile } from "node:fs/promises";
import { parseJson, validateConfig, validateManifest, type Issue } from "../../modelpack/index.js";
import { EXIT, print, type CliIo } from "../io.js";
import { UsageError } from "../usage-error.js";

export interface ValidateOptions {
  readonly config?: string;
  readonly manifest?: string;
  readonly output: "text" | "json";
}

async function readLocal(path: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new UsageError(`cannot read ${flag} ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const line = (kind: string, issue: Issue): string =>
  `${kind}: ${issue.path !== "" ? issue.path + ": " : ""}${issue.message} [${issue.code}]`;

/**
 * `validate --config FILE | --manifest FILE`: checks local documents against the ModelPack
 * specification. Exit 0 valid, 1 invalid, 2 usage or I/O error.
 */
export async function validateCommand(options: ValidateOptions, io: CliIo): Promise<number> {
  if (options.config === undefined && options.manifest === undefined) {
    throw new UsageError("validate needs --config FILE or --manifest FILE (or both)");
  }
  const errors: Issue[] = [];
  const warnings: Issue[] = [];
  let config;
  if (options.config !== undefined) {
    const result = validateConfig(await readLocal(options.config, "--config"));
    errors.push(...result.errors);
    warnings.push(...result.warnings);
    config = result.config;
  }
  if (options.manifest !== undefined) {
    const parsed = parseJson(await readLocal(options.manifest, "--manifest"));
    if (!parsed.ok) {
      errors.push({
        code: "manifest.json.syntax",
        path: "",
        message: `${options.manifest} is not valid JSON: ${parsed.error.message} at byte ${parsed.error.offset}`,
      });
    } else {
      const result = validateManifest(parsed.value, config);
      errors.push(...result.errors);
      warnings.push(...result.warnings);
    }
  }
  const valid = errors.length === 0;
  if (options.output === "json") {
    print(io.stdout, JSON.stringify({ valid, errors, warnings }, null, 2));
  } else {
    const what = [options.config, options.manifest].filter((p) => p !== undefined).join(" and ");
    for (const e of errors) print(io.stdout, line("error", e));
    for (const w of warnings) print(io.stdout, line("warning", w));
    print(
      io.stdout,
      valid
        ? `${what}: valid${warnings.length > 0 ? ` (${warnings.length} warning${warnings.length === 1 ? "" : "s"})` : ""}`
        : `${what}: invalid (${errors.length} error${errors.length === 1 ? "" : "s"})`,
    );
  }
  return valid ? EXIT.ok : EXIT.invalid;
}
