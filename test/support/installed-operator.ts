/**
 * `modelpack-operator run` as the chart and deploy/ run it (webhook by Service, the configuration
 * object owned by the installer), but as a process on this machine against the harness apiserver.
 * The apiserver cannot reach the Service, so this is for what the operator writes to the API, not
 * for admission itself.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { pickFreePorts } from "../harness/ports.js";
import { waitFor } from "../harness/testing.js";

const ROOT = join(import.meta.dirname, "..", "..");

export interface InstalledOperator {
  readonly child: ChildProcess;
  /** Where /healthz, /readyz and /metrics answer (127.0.0.1). */
  readonly healthPort: number;
  /** SIGTERM and wait for the exit (idempotent). */
  stop(): Promise<void>;
}

/** Starts it and resolves once /healthz answers (readiness needs the configuration object). */
export async function startInstalledOperator(options: {
  kubeconfigPath: string;
  namespace: string;
  configurationName: string;
  service: string;
  /** The webhook's port on 127.0.0.1; default: any free one. */
  webhookPort?: number;
  args?: readonly string[];
}): Promise<InstalledOperator> {
  const [healthPort = 0] = await pickFreePorts(1);
  const child = spawn(
    join(ROOT, "node_modules", ".bin", "node"),
    [
      "--import",
      "tsx",
      join(ROOT, "src", "cli", "bin.ts"),
      "run",
      "--kubeconfig",
      options.kubeconfigPath,
      "--namespace",
      options.namespace,
      "--health-bind-address",
      `127.0.0.1:${healthPort}`,
      "--log-level",
      process.env.TEST_LOG_LEVEL ?? "warn",
      "--disable-leader-election",
      "--webhook-bind-address",
      `127.0.0.1:${options.webhookPort ?? 0}`,
      "--webhook-service",
      options.service,
      "--webhook-configuration-name",
      options.configurationName,
      "--init-image",
      "registry.example.com/modelpack-operator@sha256:" + "0".repeat(64),
      ...(options.args ?? []),
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
  await waitFor(
    "the operator's /healthz",
    async () =>
      (await fetch(`http://127.0.0.1:${healthPort}/healthz`).catch(() => undefined))?.status === 200
        ? true
        : undefined,
    { timeoutMs: 60_000 },
  );
  return { child, healthPort, stop };
}
