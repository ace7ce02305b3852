/**
 * Writes the CustomResourceDefinitions generated from src/api into `crds/` and the two copies
 * that ship it (`deploy/crds/` for kustomize, which refuses files outside its folder, and the
 * Helm chart's `files/`), or only into `--out <dir>`.
 *
 *   npm run generate:crds [-- --out <dir>]
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
/** Every folder that holds the CRD; scripts/check-crds.sh checks the same list. */
export const CRD_FOLDERS = ["crds", "deploy/crds", "charts/modelpack-operator/files"];
const outDirs =
  values.out !== undefined ? [resolve(values.out)] : CRD_FOLDERS.map((folder) => join(root, folder));
const yaml = renderCrdYaml();
for (const outDir of outDirs) {
  await mkdir(outDir, { recursive: true });
  const target = join(outDir, basename(CRD_FILE));
  await writeFile(target, yaml);
  process.stdout.write(`wrote ${target}\n`);
}
