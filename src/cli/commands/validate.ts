import { readFile } from "node:fs/promises";
import { parseJson, validateConfig, validateManifest, type Issue } from "../../modelpack/index.js";
import { issueLine } from "../format.js";
import { EXIT, print, type CliIo } from "../io.js";
import { UsageError } from "../usage-error.js";

export interface ValidateOptions {
  readonly config?: string;
  readonly manifest?: string;
  readonly output: "text" | "json";
}

/** The most `validate` reads from stdin: far above any config or manifest (a config's own limit is 1 MiB). */
export const MAX_STDIN_BYTES = 64 * 1024 * 1024;

async function readLocal(path: string, flag: string, io: CliIo): Promise<Buffer> {
  try {
    return path === "-" ? await readStdin(io.stdin ?? process.stdin, flag) : await readFile(path);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(
      `cannot read ${flag} ${path === "-" ? "from stdin" : path}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

async function readStdin(stream: NodeJS.ReadableStream, flag: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > MAX_STDIN_BYTES)
      throw new UsageError(
        `${flag} -: stdin has more than ${MAX_STDIN_BYTES} bytes, which no ModelPack document needs; pass a file instead`,
      );
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

/** How the text output names a document: its path, or "stdin". */
const documentName = (path: string): string => (path === "-" ? "stdin" : path);

/**
 * `validate --config FILE | --manifest FILE`: checks local documents against the ModelPack
 * specification; `-` as FILE reads stdin (one of the two). Exit 0 valid, 1 invalid, 2 usage or
 * I/O error.
 */
export async function validateCommand(options: ValidateOptions, io: CliIo): Promise<number> {
  if (options.config === undefined && options.manifest === undefined) {
    throw new UsageError("validate needs --config FILE or --manifest FILE (or both)");
  }
  if (options.config === "-" && options.manifest === "-")
    throw new UsageError("only one of --config and --manifest can read stdin (-); pass the other as a file");
  const errors: Issue[] = [];
  const warnings: Issue[] = [];
  let config;
  if (options.config !== undefined) {
    const result = validateConfig(await readLocal(options.config, "--config", io));
    errors.push(...result.errors);
    warnings.push(...result.warnings);
    config = result.config;
  }
  if (options.manifest !== undefined) {
    const parsed = parseJson(await readLocal(options.manifest, "--manifest", io));
    if (!parsed.ok) {
      errors.push({
        code: "manifest.json.syntax",
        path: "",
        message: `${documentName(options.manifest)} is not valid JSON: ${parsed.error.message} at byte ${parsed.error.offset}`,
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
    const what = [options.config, options.manifest]
      .filter((p) => p !== undefined)
      .map(documentName)
      .join(" and ");
    for (const e of errors) print(io.stdout, issueLine("error", e));
    for (const w of warnings) print(io.stdout, issueLine("warning", w));
    print(
      io.stdout,
      valid
        ? `${what}: valid${warnings.length > 0 ? ` (${warnings.length} warning${warnings.length === 1 ? "" : "s"})` : ""}`
        : `${what}: invalid (${errors.length} error${errors.length === 1 ? "" : "s"})`,
    );
  }
  return valid ? EXIT.ok : EXIT.invalid;
}
