import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GROUP, PLURAL, VERSION } from "../src/api/index.js";
import { startControlPlane } from "../test/harness/control-plane.js";
import { pickFreePorts } from "../test/harness/ports.js";
import { createNamespace } from "../test/harness/testing.js";
import { buildModelPackArtifact, pushArtifact } from "../test/support/publisher.js";
import { startRegistry } from "../test/support/registry.js";

export interface ControllerBenchRow {
  readonly modelDeployments: number;
  readonly models: number;
  readonly secondsToAllReady: number;
  readonly registryRequests: number;
  readonly peakRssMiB: number;
}

/** Peak RSS of a process so far (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? NaN) / 1024;
}

async function createAll(
  kubeConfig: KubeConfig,
  namespace: string,
  count: number,
  reference: (i: number) => string,
): Promise<void> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      await api.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "ModelDeployment",
          metadata: { name: `md-${i}` },
          spec: {
            model: { reference: reference(i) },
            selector: { matchLabels: { app: `a${i}` } },
            mount: { path: "/models/m" },
          },
        },
      });
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

async function countReady(kubeConfig: KubeConfig, namespace: string): Promise<number> {
  const list = (await kubeConfig
    .makeApiClient(CustomObjectsApi)
    .listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace })) as {
    items: { status?: { conditions?: { type: string; status: string }[] } }[];
  };
  return list.items.filter((md) =>
    md.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  ).length;
}

/**
 * Applies N ModelDeployments over M distinct models to a real apiserver with the operator running
 * as its own process (the compiled CLI), and measures the time until all are Ready, the registry
 * requests it made (from its /metrics) and its peak RSS.
 */
export async function benchController(
  sizes: readonly number[],
  models: number,
  log: (line: string) => void = console.log,
): Promise<ControllerBenchRow[]> {
  const plane = await startControlPlane();
  const registry = await startRegistry({ kind: "distribution" });
  const rows: ControllerBenchRow[] = [];
  try {
    execFileSync(
      "kubectl",
      ["--kubeconfig", plane.kubeconfigPath, "apply", "--server-side", "-f", join(process.cwd(), "crds")],
      { stdio: "pipe" },
    );
    for (let m = 0; m < models; m++)
      await pushArtifact(
        registry,
        `bench/model-${m}`,
        "v1",
        await buildModelPackArtifact([{ path: `m${m}.safetensors`, content: `w${m}` }]),
      );
    for (const size of sizes) {
      const namespace = await createNamespace(plane.kubeConfig, `bench-${size}`);
      const [port = 0] = await pickFreePorts(1);
      const node = join(process.cwd(), "node_modules", ".bin", "node");
      const child = spawn(
        node,
        [
          "--max-semi-space-size=2",
          "dist/src/cli/bin.js",
          "run",
          "--kubeconfig",
          plane.kubeconfigPath,
          "--namespace",
          "default",
          "--watch-namespace",
          namespace,
          "--plain-http-registries",
          registry.host,
          "--health-bind-address",
          `127.0.0.1:${port}`,
          "--log-level",
          "warn",
          "--disable-leader-election",
          "--disable-webhook",
          "--workers",
          "8",
        ],
        { stdio: ["ignore", "ignore", "inherit"] },
      );
      try {
        const started = Date.now();
        await createAll(
          plane.kubeConfig,
          namespace,
          size,
          (i) => `${registry.host}/bench/model-${i % models}:v1`,
        );
        log(
          `  controller bench: ${size} ModelDeployments created in ${((Date.now() - started) / 1000).toFixed(1)}s`,
        );
        for (;;) {
          const ready = await countReady(plane.kubeConfig, namespace);
          if (ready === size) break;
          if (Date.now() - started > 600_000) throw new Error(`only ${ready}/${size} Ready after 10 minutes`);
          await new Promise((r) => setTimeout(r, 250));
        }
        const seconds = (Date.now() - started) / 1000;
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        const registryRequests = [
          ...metrics.matchAll(/^modelpack_registry_requests_total\{[^}]*\} (\d+)/gm),
        ].reduce((n, m) => n + Number(m[1]), 0);
        const row = {
          modelDeployments: size,
          models,
          secondsToAllReady: seconds,
          registryRequests,
          peakRssMiB: peakRssMiB(child.pid ?? 0),
        };
        log(
          `  controller bench: ${size} Ready in ${seconds.toFixed(1)}s, ${registryRequests} registry requests, peak RSS ${row.peakRssMiB.toFixed(0)} MiB`,
        );
        rows.push(row);
      } finally {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
    }
  } finally {
    await registry.stop();
    await plane.stop();
  }
  return rows;
}
