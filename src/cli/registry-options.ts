import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { describeError, errnoCode } from "../errors.js";
import { chainCredentialStores, parseDockerConfig, type CredentialStore } from "../oci/credentials.js";
import type { RegistryClientOptions } from "../oci/client.js";
import { UsageError } from "./usage-error.js";
import { pullSecretOfConfigPath } from "../mount/init-container.js";

/** The registry flags every command that talks to a registry shares. */
export interface RegistryFlags {
  readonly plainHttp: boolean;
  readonly caFile?: string;
  readonly insecure: boolean;
  /** Docker configs with credentials, tried in order; default the user's Docker config. */
  readonly registryConfigs?: readonly string[];
  /** When set, references outside these registries are refused (RegistryNotAllowed). */
  readonly allowedRegistries?: readonly string[];
}

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function defaultRegistryConfigPath(env: NodeJS.ProcessEnv): string {
  return env.DOCKER_CONFIG !== undefined && env.DOCKER_CONFIG !== ""
    ? join(env.DOCKER_CONFIG, "config.json")
    : join(homedir(), ".docker", "config.json");
}

async function loadCredentials(
  flags: RegistryFlags,
  env: NodeJS.ProcessEnv,
): Promise<CredentialStore | undefined> {
  const explicit = flags.registryConfigs !== undefined && flags.registryConfigs.length > 0;
  const paths = explicit ? (flags.registryConfigs ?? []) : [defaultRegistryConfigPath(env)];
  const stores: CredentialStore[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      // Only the default location may be absent: a named file that is missing is a mistake.
      if (!explicit && errnoCode(err) === "ENOENT") return undefined;
      throw new UsageError(`cannot read registry config ${path}: ${describeError(err)}`);
    }
    // In the init container each file is a pull secret's: errors then name the Secret.
    const secret = pullSecretOfConfigPath(path);
    stores.push(parseDockerConfig(text, secret !== undefined ? `pull secret "${secret}"` : path));
  }
  return chainCredentialStores(stores);
}

/**
 * Registry client options from the shared flags, for talking to `registry`. `--plain-http`
 * applies to that registry only; `--insecure` prints a warning because it disables TLS checks.
 */
export async function registryClientOptions(
  flags: RegistryFlags,
  registry: string,
  env: NodeJS.ProcessEnv,
  warn: (line: string) => void,
): Promise<RegistryClientOptions> {
  let caPem: string | undefined;
  if (flags.caFile !== undefined) {
    caPem = await readFile(flags.caFile, "utf8").catch((err: Error) => {
      throw new UsageError(`cannot read --ca-file ${flags.caFile}: ${err.message}`);
    });
  }
  if (flags.insecure) {
    warn(
      `WARNING: --insecure disables TLS certificate verification for ${registry}: anyone on the network path can impersonate it. Digests are still verified.`,
    );
  }
  const credentials = await loadCredentials(flags, env);
  return {
    ...(flags.plainHttp && { plainHttp: [registry] }),
    ...(flags.allowedRegistries !== undefined && { allowedRegistries: flags.allowedRegistries }),
    ...(caPem !== undefined && { caPem }),
    ...(flags.insecure && { insecureSkipTlsVerify: true }),
    ...(credentials !== undefined && { credentials }),
    userAgent: "modelpack-operator-cli",
    maxRetryWaitMs: CLI_MAX_RETRY_WAIT_MS,
  };
}

/**
 * How long a CLI request may wait out Retry-After and backoff in total. A pull (an init
 * container, a person at a terminal) has nothing else to do, unlike a reconcile, whose client
 * keeps the 2 s default and requeues instead.
 */
export const CLI_MAX_RETRY_WAIT_MS = 10 * 60_000;
