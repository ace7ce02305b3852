import { describeError, errnoCode, OperatorError } from "../errors.js";
import { RegistryError } from "../oci/errors.js";
import { PullError } from "../puller/errors.js";
import { parseByteQuantity } from "../puller/limits.js";
import { EXIT, print, type CliIo } from "./io.js";
import { COMMANDS, INSPECT, PUBLISH_IMAGE, PULL, RUN, VALIDATE, VERIFY } from "./command-specs.js";
import {
  commandHelp,
  parseFlags,
  suggestFlag,
  wantsJsonOutput,
  type CommandSpec,
  type FlagSpecs,
} from "./flags.js";
import { table } from "./format.js";
import { UsageError } from "./usage-error.js";

// Each command is imported when it runs: `pull` in an init container should not load the
// Kubernetes client that only `run` needs (its load costs start-up time and memory).

const OVERVIEW = `modelpack-operator — run CNCF ModelPack models from OCI registries on Kubernetes

Usage: modelpack-operator COMMAND [flags]

Commands:
${table([...COMMANDS.map((c) => [c.name, c.usage.slice(c.name.length + 1)]), ["version", "print the version"]])}

Run modelpack-operator COMMAND --help (or help COMMAND) for a command's flags. Every command
takes -o/--output text|json; with json, errors are one JSON line on stderr too.

Exit codes: 0 success/valid, 1 invalid artifact or document, 2 usage or local I/O error,
3 registry or network error.
`;

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

function parse<F extends FlagSpecs>(command: CommandSpec<F>, args: readonly string[]) {
  return parseFlags(command, args, COMMANDS);
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
      case "validate":
        return await validate(rest, io);
      case "inspect":
        return await inspect(rest, io);
      case "verify":
        return await verify(rest, io);
      case "publish-image":
        return await publishImageMain(rest, io);
      case "pull":
        return await pullMain(rest, io);
      case "run":
        return await run(rest, io);
      case "--version":
      case "version":
        // package.json's version, the one /metrics reports in modelpack_operator_build_info.
        print(io.stdout, (await import("../runtime/process-metrics.js")).readBuildInfo(io.env).version);
        return EXIT.ok;
      case undefined:
        print(io.stderr, OVERVIEW);
        return EXIT.usage;
      case "help":
      case "--help":
      case "-h":
        return help(rest[0], io);
      default:
        throw new UsageError(
          `unknown command "${command}"${commandSuggestion(command)}; run modelpack-operator --help`,
        );
    }
  } catch (err) {
    const code = exitCodeFor(err);
    if (wantsJsonOutput(rest)) print(io.stderr, JSON.stringify({ error: errorJson(err, code) }));
    else print(io.stderr, `error: ${describeError(err)}`);
    return code;
  }
}

/** `help [COMMAND]`: the overview, or one command's help. */
function help(name: string | undefined, io: CliIo): number {
  if (name === undefined) return (print(io.stdout, OVERVIEW), EXIT.ok);
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined)
    throw new UsageError(
      `unknown command "${name}"${commandSuggestion(name)}; run modelpack-operator --help`,
    );
  print(io.stdout, commandHelp(command));
  return EXIT.ok;
}

function commandSuggestion(name: string): string {
  const near = suggestFlag(
    name,
    COMMANDS.map((c) => c.name),
  );
  return near === undefined ? "" : ` (did you mean ${near}?)`;
}

/** The `error` object of a JSON error: a stable code, the message, the exit code. */
function errorJson(err: unknown, exitCode: number): { code: string; message: string; exitCode: number } {
  const code = err instanceof OperatorError ? String(err.code) : (errnoCode(err) ?? "Error");
  return { code, message: describeError(err), exitCode };
}

async function validate(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse(VALIDATE, args);
  if (values.help) return (print(io.stdout, commandHelp(VALIDATE)), EXIT.ok);
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

async function inspect(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(INSPECT, args);
  if (values.help) return (print(io.stdout, commandHelp(INSPECT)), EXIT.ok);
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

async function verify(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(VERIFY, args);
  if (values.help) return (print(io.stdout, commandHelp(VERIFY)), EXIT.ok);
  return await (
    await import("./commands/verify.js")
  ).verifyCommand(
    {
      reference: oneReference(positionals, "verify"),
      output: outputFlag(values.output),
      keys: values.key ?? [],
      ...(values["certificate-identity"] !== undefined && { identity: values["certificate-identity"] }),
      ...(values["certificate-identity-regexp"] !== undefined && {
        identityRegExp: values["certificate-identity-regexp"],
      }),
      ...(values["certificate-oidc-issuer"] !== undefined && { issuer: values["certificate-oidc-issuer"] }),
      ...(values["trusted-root"] !== undefined && { trustedRoot: values["trusted-root"] }),
      requireTlog: values["require-tlog"],
      ...registryFlags(values),
    },
    io,
  );
}

async function publishImageMain(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(PUBLISH_IMAGE, args);
  if (values.help) return (print(io.stdout, commandHelp(PUBLISH_IMAGE)), EXIT.ok);
  return await (
    await import("./commands/publish-image.js")
  ).publishImageCommand(
    {
      reference: oneReference(positionals, "publish-image"),
      output: outputFlag(values.output),
      platforms: commaList(values.platform),
      ...(values.tag !== undefined && { tag: values.tag }),
      force: values.force,
      ...registryFlags(values),
    },
    io,
  );
}

async function pullMain(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(PULL, args);
  if (values.help) return (print(io.stdout, commandHelp(PULL)), EXIT.ok);
  if (values.dest === undefined || values.dest === "") throw new UsageError("pull needs --dest DIR");
  const limits = pullLimitFlags(values);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
    throw new UsageError(`--concurrency must be an integer from 1 to 64, not "${values.concurrency}"`);
  const connections = Number(values.connections);
  if (!Number.isInteger(connections) || connections < 1 || connections > 32)
    throw new UsageError(`--connections must be an integer from 1 to 32, not "${values.connections}"`);
  // The writer threads boot on the other core while the rest of `pull` loads.
  (await import("../oci/blob-writer.js")).startBlobWriters();
  return await (
    await import("./commands/pull.js")
  ).pullCommand(
    {
      reference: oneReference(positionals, "pull"),
      dest: values.dest,
      concurrency,
      connections,
      ...(values["state-file"] !== undefined && { stateFile: values["state-file"] }),
      worldReadable: values["world-readable"],
      ...limits,
      output: outputFlag(values.output),
      ...registryFlags(values),
    },
    io,
  );
}

async function run(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(RUN, args);
  if (values.help) return (print(io.stdout, commandHelp(RUN)), EXIT.ok);
  if (positionals.length > 0) throw new UsageError(`run takes no arguments (got ${positionals.join(" ")})`);
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
      ...(values["verification-policy"] !== undefined && {
        verificationPolicy: values["verification-policy"],
      }),
      healthBindAddress: values["health-bind-address"],
      logLevel: values["log-level"],
      workers,
      workloadRollout,
      ...(webhook !== undefined && { webhook }),
    },
    io,
  );
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
