import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { pickFreePorts } from "../harness/ports.js";
import { waitFor } from "../harness/testing.js";

const ROOT = join(import.meta.dirname, "..", "..");

/** A `modelpack-operator run` process started from the sources, as users run the CLI. */
export interface OperatorProcess {
  readonly child: ChildProcess;
  /** The port of its /healthz, /readyz and /metrics. */
  readonly healthPort: number;
  /** SIGTERM and wait for the exit (idempotent). */
  stop(): Promise<void>;
}

/**
 * Starts `modelpack-operator run` against `kubeconfigPath` with the webhook registered by URL on
 * 127.0.0.1 (or `--disable-webhook` in `args`), and resolves once /readyz answers 200 — unless
 * `waitForReady` is false (a replica that may never lead still serves /healthz).
 */
export async function startOperatorProcess(options: {
  kubeconfigPath: string;
  plainHttpRegistries: readonly string[];
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  webhook?: boolean;
  waitFor?: "readyz" | "healthz";
}): Promise<OperatorProcess> {
  const [healthPort = 0] = await pickFreePorts(1);
  const webhook =
    options.webhook === false
      ? ["--disable-webhook"]
      : [
          "--webhook-bind-address",
          "127.0.0.1:0",
          "--webhook-url",
          "https://127.0.0.1:0/mutate-pods",
          "--init-image",
          "registry.example.com/modelpack-operator@sha256:" + "0".repeat(64),
        ];
  const child = spawn(
    join(ROOT, "node_modules", ".bin", "node"),
    [
      "--import",
      "tsx",
      join(ROOT, "src", "cli", "bin.ts"),
      "run",
      "--kubeconfig",
      options.kubeconfigPath,
      "--plain-http-registries",
      options.plainHttpRegistries.join(","),
      "--health-bind-address",
      `127.0.0.1:${healthPort}`,
      "--log-level",
      process.env.TEST_LOG_LEVEL ?? "warn",
      ...webhook,
      ...(options.args ?? []),
    ],
    { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, ...options.env } },
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
  const path = options.waitFor ?? "readyz";
  await waitFor(
    `the operator's /${path}`,
    async () =>
      (await fetch(`http://127.0.0.1:${healthPort}/${path}`).catch(() => undefined))?.status === 200
        ? true
        : undefined,
    { timeoutMs: 60_000 },
  );
  return { child, healthPort, stop };
}
