import { parseArgs, type ParseArgsConfig } from "node:util";
import { describeError } from "../errors.js";
import { RegistryError } from "../oci/errors.js";
import { PullError } from "../puller/errors.js";
import { parseByteQuantity } from "../puller/limits.js";
import { EXIT, print, type CliIo } from "./io.js";
import { UsageError } from "./usage-error.js";

export const VERSION = "0.1.0";

// Each command is imported when it runs: `pull` in an init container should not load the
// Kubernetes client that only `run` needs (half a second and ~60 MB of memory at start).

const USAGE = `modelpack-operator — run CNCF ModelPack models from OCI registries on Kubernetes

Usage:
  modelpack-operator validate (--config FILE | --manifest FILE) [--output text|json]
  modelpack-operator inspect REFERENCE [--output text|json] [registry flags]
  modelpack-operator pull REFERENCE --dest DIR [--concurrency N] [--output text|json] [registry flags]
                          [--state-file FILE] [--world-readable]
                          [--max-bytes SIZE] [--max-expansion-ratio N] [--max-entries N]
  modelpack-operator run [--kubeconfig FILE] [--namespace NS] [--watch-namespace NS,…]
                         [--allowed-registries R,…] [--plain-http-registries R,…] [--ca-file FILE]
                         [--health-bind-address HOST:PORT] [--log-level LEVEL] [--workers N]
                         [--disable-leader-election] [--workload-rollout true|false]
                         [--init-image IMAGE] [--webhook-bind-address HOST:PORT] [--webhook-url URL]
                         [--webhook-service NAME] [--webhook-cert-dir DIR] [--webhook-failure-policy Fail|Ignore]
                         [--webhook-timeout-seconds N] [--webhook-namespace-selector JSON]
                         [--webhook-object-selector JSON] [--disable-webhook]

Registry flags:
  --plain-http            talk plain HTTP to the reference's registry (a local test registry)
  --ca-file FILE          also trust this CA (PEM) for the registry's TLS certificate
  --insecure              do not verify the registry's TLS certificate (digests are still verified)
  --registry-config FILE  Docker config with credentials (default $DOCKER_CONFIG/config.json,
                          then ~/.docker/config.json); repeat it to try several in order
  --allowed-registries R,…  refuse references outside these registries (host[:port]); the init
                          container passes the operator's --allowed-registries

Pull flags:
  --state-file FILE       where to record extracted archive layers, so a second pull can verify and
                          skip them (default DIR/.modelpack-pull.json)
  --world-readable        make every pulled file and folder readable by all users (the init
                          container does: the pod's containers may run as another user)
  --max-bytes SIZE        write at most SIZE bytes in all (10Gi, 500M, 1073741824); default no cap
                          (the init container passes its emptyDir's sizeLimit)
  --max-expansion-ratio N an archive layer may expand to N times its compressed size, or 64 MiB
                          if more (default 100: a decompression bomb stops there)
  --max-entries N         at most N files, folders and symlinks per archive layer (default 100000)
  A pull is all or nothing: layers are verified and checked (paths, symlinks followed component by
  component, two layers at one path) before anything is placed; a failed pull leaves DIR as it was.
  One pull per DIR at a time (lock file .DIR.modelpack-lock beside DIR; others wait up to 15 min).

Exit codes: 0 success/valid, 1 invalid artifact or document, 2 usage or local I/O error,
3 registry or network error.
`;

const REGISTRY_FLAGS = {
  "plain-http": { type: "boolean", default: false },
  "ca-file": { type: "string" },
  insecure: { type: "boolean", default: false },
  "registry-config": { type: "string", multiple: true },
  "allowed-registries": { type: "string" },
} as const satisfies ParseArgsConfig["options"];

function outputFlag(value: string | undefined): "text" | "json" {
  if (value === undefined || value === "text") return "text";
  if (value === "json") return "json";
  throw new UsageError(`--output must be "text" or "json", not "${value}"`);
}

function oneReference(positionals: readonly string[], command: string): string {
  if (positionals.length !== 1)
    throw new UsageError(`${command} takes exactly one REFERENCE (got ${positionals.length})`);
  return positionals[0] ?? "";
}

function parse<T extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: T) {
  try {
    return parseArgs({
      args,
      options: { ...options, output: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(describeError(err));
  }
}

/** `pull`'s limit flags, checked before anything connects. */
function pullLimitFlags(values: {
  "max-bytes"?: string | undefined;
  "max-expansion-ratio"?: string | undefined;
  "max-entries"?: string | undefined;
}): { maxBytes?: number; maxExpansionRatio?: number; maxEntries?: number } {
  const positive = (flag: string, raw: string | undefined, integer: boolean): number | undefined => {
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (
      raw.trim() === "" ||
      !Number.isFinite(value) ||
      value <= 0 ||
      (integer && !Number.isSafeInteger(value))
    )
      throw new UsageError(`${flag} must be a positive ${integer ? "integer" : "number"}, not "${raw}"`);
    return value;
  };
  const bytes = values["max-bytes"] === undefined ? undefined : parseByteQuantity(values["max-bytes"]);
  if (typeof bytes === "object") throw new UsageError(`--max-bytes: ${bytes.invalid}`);
  const ratio = positive("--max-expansion-ratio", values["max-expansion-ratio"], false);
  const entries = positive("--max-entries", values["max-entries"], true);
  return {
    ...(bytes !== undefined && { maxBytes: bytes }),
    ...(ratio !== undefined && { maxExpansionRatio: ratio }),
    ...(entries !== undefined && { maxEntries: entries }),
  };
}

/** Maps an error to the exit code and message the user sees. One place for every command. */
function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof RegistryError) return err.code === "InvalidReference" ? EXIT.usage : EXIT.registry;
  if (err instanceof PullError) return err.code === "Io" ? EXIT.usage : EXIT.invalid;
  return EXIT.usage; // local I/O (ENOSPC, EACCES, …) and anything unexpected
}

/** Runs one CLI invocation; returns the exit code (never throws). */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "validate": {
        const { values } = parse(rest, { config: { type: "string" }, manifest: { type: "string" } });
        if (values.help) return (print(io.stdout, USAGE), EXIT.ok);
        return await (
          await import("./commands/validate.js")
        ).validateCommand(
          {
            ...(values.config !== undefined && { config: values.config }),
            ...(values.manifest !== undefined && { manifest: values.manifest }),
            output: outputFlag(values.output),
          },
          io,
        );
      }
      case "inspect": {
        const { values, positionals } = parse(rest, REGISTRY_FLAGS);
        if (values.help) return (print(io.stdout, USAGE), EXIT.ok);
        return await (
          await import("./commands/inspect.js")
        ).inspectCommand(
          {
            reference: oneReference(positionals, "inspect"),
            output: outputFlag(values.output),
            ...registryFlags(values),
          },
          io,
        );
      }
      case "pull": {
        const { values, positionals } = parse(rest, {
          ...REGISTRY_FLAGS,
          dest: { type: "string" },
          concurrency: { type: "string", default: "4" },
          "state-file": { type: "string" },
          "world-readable": { type: "boolean", default: false },
          "max-bytes": { type: "string" },
          "max-expansion-ratio": { type: "string" },
          "max-entries": { type: "string" },
        });
        if (values.help) return (print(io.stdout, USAGE), EXIT.ok);
        if (values.dest === undefined || values.dest === "") throw new UsageError("pull needs --dest DIR");
        const limits = pullLimitFlags(values);
        const concurrency = Number(values.concurrency);
        if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
          throw new UsageError(`--concurrency must be an integer from 1 to 64, not "${values.concurrency}"`);
        // The writer threads boot on the other core while the rest of `pull` loads.
        (await import("../oci/blob-writer.js")).startBlobWriters();
        return await (
          await import("./commands/pull.js")
        ).pullCommand(
          {
            reference: oneReference(positionals, "pull"),
            dest: values.dest,
            concurrency,
            ...(values["state-file"] !== undefined && { stateFile: values["state-file"] }),
            worldReadable: values["world-readable"],
            ...limits,
            output: outputFlag(values.output),
            ...registryFlags(values),
          },
          io,
        );
      }
      case "run": {
        const { values, positionals } = parse(rest, {
          kubeconfig: { type: "string" },
          namespace: { type: "string" },
          "watch-namespace": { type: "string", multiple: true },
          "allowed-registries": { type: "string" },
          "plain-http-registries": { type: "string" },
          "ca-file": { type: "string" },
          "health-bind-address": { type: "string", default: "127.0.0.1:8081" },
          "log-level": { type: "string", default: "info" },
          workers: { type: "string", default: "4" },
          "disable-leader-election": { type: "boolean", default: false },
          "workload-rollout": { type: "string", default: "true" },
          "disable-webhook": { type: "boolean", default: false },
          "init-image": { type: "string" },
          "init-image-pull-policy": { type: "string" },
          "webhook-bind-address": { type: "string", default: "0.0.0.0:9443" },
          "webhook-url": { type: "string" },
          "webhook-service": { type: "string", default: "modelpack-operator-webhook" },
          "webhook-cert-dir": { type: "string" },
          "webhook-cert-secret": { type: "string" },
          "webhook-failure-policy": { type: "string", default: "Fail" },
          "webhook-timeout-seconds": { type: "string", default: "5" },
          "webhook-configuration-name": { type: "string" },
          "webhook-namespace-selector": { type: "string" },
          "webhook-object-selector": { type: "string" },
        });
        if (values.help) return (print(io.stdout, USAGE), EXIT.ok);
        if (positionals.length > 0)
          throw new UsageError(`run takes no arguments (got ${positionals.join(" ")})`);
        const workers = Number(values.workers);
        if (!Number.isInteger(workers) || workers < 1 || workers > 64)
          throw new UsageError(`--workers must be an integer from 1 to 64, not "${values.workers}"`);
        // Loaded only here: the webhook flags need the API schemas (zod), and `pull` in an init
        // container starts without them.
        const runFlags = await import("./run-flags.js");
        const webhook = values["disable-webhook"] === true ? undefined : runFlags.webhookFlags(values);
        const workloadRollout = runFlags.workloadRolloutFlag(values["workload-rollout"]);
        return await (
          await import("./commands/run.js")
        ).runCommand(
          {
            ...(values.kubeconfig !== undefined && { kubeconfig: values.kubeconfig }),
            ...(values.namespace !== undefined && { namespace: values.namespace }),
            watchNamespaces: commaList(values["watch-namespace"]),
            leaderElection: values["disable-leader-election"] !== true,
            allowedRegistries: commaList(values["allowed-registries"]),
            plainHttpRegistries: commaList(values["plain-http-registries"]),
            ...(values["ca-file"] !== undefined && { caFile: values["ca-file"] }),
            healthBindAddress: values["health-bind-address"],
            logLevel: values["log-level"],
            workers,
            workloadRollout,
            ...(webhook !== undefined && { webhook }),
          },
          io,
        );
      }
      case "--version":
      case "version":
        print(io.stdout, VERSION);
        return EXIT.ok;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        print(command === undefined ? io.stderr : io.stdout, USAGE);
        return command === undefined ? EXIT.usage : EXIT.ok;
      default:
        throw new UsageError(`unknown command "${command}"; run modelpack-operator --help`);
    }
  } catch (err) {
    print(io.stderr, `error: ${describeError(err)}`);
    return exitCodeFor(err);
  }
}

/** A comma-separated flag value (possibly repeated) as a list, without blanks. */
function commaList(value: string | string[] | undefined): string[] {
  return [value ?? []]
    .flat()
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

function registryFlags(values: {
  "plain-http"?: boolean;
  "ca-file"?: string;
  insecure?: boolean;
  "registry-config"?: string[];
  "allowed-registries"?: string;
}) {
  const allowed = commaList(values["allowed-registries"]);
  return {
    ...(allowed.length > 0 && { allowedRegistries: allowed }),
    plainHttp: values["plain-http"] === true,
    insecure: values.insecure === true,
    ...(values["ca-file"] !== undefined && { caFile: values["ca-file"] }),
    ...(values["registry-config"] !== undefined && { registryConfigs: values["registry-config"] }),
  };
}
