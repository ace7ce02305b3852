import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../src/cli/main.js";
import { buildModelPackArtifact, pushArtifact } from "../test/support/publisher.js";
import { startRegistry, type TestRegistry } from "../test/support/registry.js";
import { sampleModelFiles } from "./demo/sample-model.js";

/**
 * `npm run demo`: the product end to end on this machine, nothing outside 127.0.0.1.
 * A local OCI registry (olareg, built from Go modules on first run), a small real ModelPack model
 * published to it, then the CLI a user would run: inspect it, pull it, pull it again (verified
 * and skipped). Cleans up on exit and on Ctrl-C.
 */
const say = (text: string): void => void process.stdout.write(`\n\x1b[1m${text}\x1b[0m\n`);
const io = { stdout: process.stdout, stderr: process.stderr, env: process.env };

let registry: TestRegistry | undefined;
let work: string | undefined;
async function cleanUp(): Promise<void> {
  await registry?.stop();
  registry = undefined;
  if (work !== undefined) await rm(work, { recursive: true, force: true });
  work = undefined;
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void cleanUp().finally(() => process.exit(130));
  });
}

async function cli(args: string[]): Promise<void> {
  process.stdout.write(`$ modelpack-operator ${args.join(" ")}\n`);
  const code = await main(args, io);
  if (code !== 0) throw new Error(`modelpack-operator ${args[0]} exited with ${code}`);
}

try {
  say("1. Start a local OCI registry on 127.0.0.1 (olareg; the first run builds it from Go modules)");
  registry = await startRegistry({ kind: "olareg" });
  console.log(`registry listening on ${registry.url}`);

  say("2. Publish a small ModelPack model (weights, config, tokenizer, README; one layer per file)");
  const reference = `${registry.host}/models/tiny-demo:v1`;
  const artifact = await buildModelPackArtifact(sampleModelFiles(), { name: "tiny-demo", family: "demo" });
  await pushArtifact(registry, "models/tiny-demo", "v1", artifact);
  console.log(`pushed ${reference} (manifest ${artifact.manifestDigest})`);

  say("3. Inspect it: resolve the tag to a digest, verify, validate against the ModelPack spec");
  await cli(["inspect", reference, "--plain-http"]);

  say("4. Validate the config on its own (what CI of a model repository would run)");
  work = await mkdtemp(join(tmpdir(), "modelpack-demo-"));
  const configPath = join(work, "config.json");
  await import("node:fs/promises").then((fs) => fs.writeFile(configPath, artifact.configBytes));
  await cli(["validate", "--config", configPath]);

  say("5. Pull it into a folder: every byte verified before it appears");
  const dest = join(work, "model");
  await cli(["pull", reference, "--dest", dest, "--plain-http"]);
  for (const name of (await readdir(dest, { recursive: true })).map(String).sort()) {
    const info = await stat(join(dest, name));
    if (info.isFile()) console.log(`  ${(info.mode & 0o777).toString(8)}  ${String(info.size).padStart(6)}  ${name}`);
  }

  say("6. Pull again: what is already there is verified and skipped");
  await cli(["pull", reference, "--dest", dest, "--plain-http"]);

  say("Done. The demo cleaned up its registry and files.");
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  if (registry !== undefined) console.error(`registry log:\n${registry.logTail(30)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
