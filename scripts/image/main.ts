/**
 * `npm run image -- [--push REFERENCE] [--oci-layout DIR] [registry flags] [-o json]`: builds the
 * operator image without Docker (same file system and config as the Dockerfile's runtime stage;
 * see image.ts) and pushes it with the project's registry client. Prints the pushed
 * `REFERENCE@sha256:…` (or, without --push, the image digest); `-o json` prints one JSON object.
 * Progress goes to stderr.
 */
import { fileURLToPath } from "node:url";
import { REGISTRY_FLAGS } from "../../src/cli/command-specs.js";
import { commandHelp, parseFlags, type CommandSpec } from "../../src/cli/flags.js";
import { registryClientOptions } from "../../src/cli/registry-options.js";
import { UsageError } from "../../src/cli/usage-error.js";
import { describeError, OperatorError } from "../../src/errors.js";
import { RegistryError } from "../../src/oci/errors.js";
import { parseReference, pinnedReference } from "../../src/oci/reference.js";
import { buildImage, pushImage, writeOciLayout, type PushResult } from "./image.js";

const { "allowed-registries": _allowed, ...registryFlags } = REGISTRY_FLAGS;

export const IMAGE_COMMAND = {
  name: "image",
  usage: "npm run image -- [--push REFERENCE] [--oci-layout DIR] [flags]",
  summary:
    "Builds the operator image without Docker: the Dockerfile's runtime stage (node and its libraries, dist, production node_modules, UID 65532, entrypoint, labels) as a reproducible OCI image.",
  flags: {
    push: {
      type: "string",
      value: "REFERENCE",
      description:
        "push the image to REFERENCE (registry/repository:tag) with the project's registry client.",
    },
    "oci-layout": {
      type: "string",
      value: "DIR",
      description:
        "also write the image as an OCI image layout into DIR (tagged with the reference's tag, else latest).",
    },
    ...registryFlags,
  },
  notes: [
    "Reproducible: the same checkout, version, git revision and SOURCE_DATE_EPOCH (default: the Unix epoch) give the same digest.",
    "The compiled dist and the gzip layers are cached by content under ${MODELPACK_TOOLS_CACHE:-~/.cache/modelpack-operator}/image.",
  ],
} as const satisfies CommandSpec;

export async function main(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseFlags(IMAGE_COMMAND, args);
  if (values.help === true) {
    const help = commandHelp(IMAGE_COMMAND).replace(/^Usage: modelpack-operator /, "Usage: ");
    process.stdout.write(help.endsWith("\n") ? help : `${help}\n`);
    return 0;
  }
  const json = values.output === "json";
  if (values.output !== undefined && values.output !== "text" && !json)
    throw new UsageError(`--output must be text or json, not "${values.output}"`);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const started = performance.now();
  const ref = values.push === undefined ? undefined : parseReference(values.push);
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const image = await buildImage({ root, env, log });
  const built = performance.now();
  log(`image: built ${image.digest} in ${((built - started) / 1000).toFixed(1)} s`);
  if (values["oci-layout"] !== undefined)
    await writeOciLayout(image, values["oci-layout"], ref?.tag ?? "latest");
  let pushed: PushResult | undefined;
  if (ref !== undefined) {
    const options = await registryClientOptions(
      {
        plainHttp: values["plain-http"] === true,
        insecure: values.insecure === true,
        ...(values["ca-file"] !== undefined && { caFile: values["ca-file"] }),
        ...(values["registry-config"] !== undefined && { registryConfigs: values["registry-config"] }),
      },
      ref.registry,
      env,
      log,
    );
    pushed = await pushImage(image, ref, { ...options, userAgent: "modelpack-operator-image" });
    const uploaded = pushed.blobs.filter((b) => b.uploaded);
    log(
      `image: pushed to ${values.push} in ${((performance.now() - built) / 1000).toFixed(1)} s ` +
        `(${uploaded.length} of ${pushed.blobs.length} blobs uploaded, ${uploaded.reduce((n, b) => n + b.size, 0)} bytes)`,
    );
  }
  const pinned = ref === undefined ? undefined : pinnedReference(ref, image.digest);
  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        digest: image.digest,
        ...(pinned !== undefined && { reference: pinned }),
        size: image.layers.reduce((n, l) => n + l.size, image.config.length + image.manifest.length),
        layers: image.layers.map((l) => ({ digest: l.digest, size: l.size, diffId: l.diffId })),
        ...(pushed !== undefined && {
          uploaded: pushed.blobs.filter((b) => b.uploaded).map((b) => b.digest),
        }),
        ...(values["oci-layout"] !== undefined && { ociLayout: values["oci-layout"] }),
        version: image.facts.version,
        revision: image.facts.revision,
        created: image.facts.created,
        platform: `${image.facts.os}/${image.facts.architecture}`,
      })}\n`,
    );
  } else process.stdout.write(`${pinned ?? image.digest}\n`);
  return 0;
}

/** Exit codes as the CLI's: 2 usage, 3 registry or network, 1 anything else (a failed build). */
function exitCode(err: unknown): number {
  if (err instanceof UsageError) return 2;
  if (err instanceof RegistryError) return err.code === "InvalidReference" ? 2 : 3;
  return 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  main(args, process.env).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      const code = exitCode(err);
      const json = args.some(
        (a, n) =>
          a === "--output=json" || a === "-o=json" || (/^(-o|--output)$/.test(a) && args[n + 1] === "json"),
      );
      process.stderr.write(
        json
          ? `${JSON.stringify({ error: { code: err instanceof OperatorError ? String(err.code) : "Error", message: describeError(err), exitCode: code } })}\n`
          : `image: ${describeError(err)}\n`,
      );
      process.exitCode = code;
    },
  );
}
