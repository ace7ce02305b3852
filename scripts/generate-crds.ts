/**
 * Writes the CustomResourceDefinitions generated from src/api into `crds/` (or `--out <dir>`).
 *
 *   npx tsx scripts/generate-crds.ts [--out <dir>]
 *
 * The output depends only on the source (no dates, no environment), so regenerating an
 * up-to-date tree changes nothing; scripts/check-crds.sh relies on that.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { CRD_FILE, renderCrdYaml } from "../src/api/index.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({ options: { out: { type: "string" } } });
const outDir = resolve(values.out ?? join(root, "crds"));

await mkdir(outDir, { recursive: true });
const target = join(outDir, basename(CRD_FILE));
await writeFile(target, renderCrdYaml());
process.stdout.write(`wrote ${target}\n`);
