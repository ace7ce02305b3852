import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { z } from "zod";
import { GROUP, PLURAL, VERSION } from "../src/api/index.js";
import type { PodCacheMode } from "../src/controller/operator.js";
import { startControlPlane } from "../test/harness/control-plane.js";
import { pickFreePorts } from "../test/harness/ports.js";
import { createNamespace } from "../test/harness/testing.js";
import { CRD } from "../test/support/crd.js";
import { createPods, servedPodBytes } from "../test/support/pod-load.js";
import { buildModelPackArtifact, pushArtifact } from "../test/support/publisher.js";
import { startRegistry } from "../test/support/registry.js";

/** One operator run over the same cluster. */
export interface MemoryBenchRow {
  readonly podCache: PodCacheMode;
  /** Pods in the cluster during this run. */
  readonly pods: number;
  /** VmHWM of the operator process once its pod cache synced and settled. */
  readonly peakRssMiB: number;
  /** RSS at that moment. */
  readonly rssMiB: number;
  readonly secondsToReadyz: number;
  readonly secondsToPodCacheSynced: number;
  readonly podsCached: number;
}

export interface MemoryBenchResult {
  readonly pods: number;
  readonly podJsonBytes: number;
  readonly secondsToCreatePods: number;
  readonly rows: readonly MemoryBenchRow[];
}

const SyncedLine = z.object({
  informer: z.literal("pods"),
  msg: z.literal("informer synced"),
  objects: z.number(),
});

function procStatusMiB(pid: number, field: "VmHWM" | "VmRSS"): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? NaN) / 1024;
}

/**
 * Runs `modelpack-operator run` (the compiled CLI, as the image runs it) over all namespaces of a
 * cluster holding `pods` pods, until its pod cache synced, and measures its peak RSS, how soon
 * /readyz said 200 and how soon the pods were cached.
 */
async function runOperator(
  kubeconfigPath: string,
  registryHost: string,
  podCache: PodCacheMode,
  pods: number,
): Promise<MemoryBenchRow> {
  const [port = 0] = await pickFreePorts(1);
  const child = spawn(
    join(process.cwd(), "node_modules", ".bin", "node"),
    [
      "--max-semi-space-size=2",
      "dist/src/cli/bin.js",
      "run",
      "--kubeconfig",
      kubeconfigPath,
      "--namespace",
      "default",
      "--plain-http-registries",
      registryHost,
      "--health-bind-address",
      `127.0.0.1:${port}`,
      "--log-level",
      "info",
      "--disable-leader-election",
      "--disable-webhook",
    ],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, MODELPACK_POD_CACHE: podCache } },
  );
  const started = Date.now();
  try {
    let readyAt: number | undefined;
    const synced = new Promise<{ at: number; objects: number }>((resolve, reject) => {
      child.once("exit", (code) =>
        reject(new Error(`the operator exited (${code}) before its pod cache synced`)),
      );
      createInterface({ input: child.stdout! }).on("line", (line) => {
        try {
          const parsed = SyncedLine.safeParse(JSON.parse(line));
          if (parsed.success) resolve({ at: Date.now(), objects: parsed.data.objects });
        } catch {
          // not JSON
        }
      });
    });
    const polling = (async () => {
      while (readyAt === undefined && child.exitCode === null) {
        const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
        if (response?.status === 200) readyAt = Date.now();
        else await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("the pod cache did not sync within 10 minutes")), 600_000).unref(),
    );
    const sync = await Promise.race([synced, timeout]);
    await Promise.race([polling, timeout]);
    await new Promise((r) => setTimeout(r, 5000)); // settle: status writes, the first watch events
    return {
      podCache,
      pods,
      peakRssMiB: procStatusMiB(child.pid ?? 0, "VmHWM"),
      rssMiB: procStatusMiB(child.pid ?? 0, "VmRSS"),
      secondsToReadyz: ((readyAt ?? NaN) - started) / 1000,
      secondsToPodCacheSynced: (sync.at - started) / 1000,
      podsCached: sync.objects,
    };
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
  }
}

/**
 * Peak RSS of the operator in a cluster with `pods` realistic pods (~6.5 KiB each) that no
 * ModelDeployment selects (one ModelDeployment in their namespace selects other labels): first
 * with the old cache of whole pods (MODELPACK_POD_CACHE=full, the baseline), then with the slim
 * projection, on the same cluster; and, for reference, the operator before any pod was created.
 */
export async function benchMemory(
  pods = 20_000,
  log: (line: string) => void = console.log,
): Promise<MemoryBenchResult> {
  const plane = await startControlPlane();
  const registry = await startRegistry({ kind: "distribution" });
  try {
    execFileSync("kubectl", ["--kubeconfig", plane.kubeconfigPath, "apply", "--server-side", "-f", CRD], {
      stdio: "pipe",
    });
    await pushArtifact(
      registry,
      "bench/model",
      "v1",
      await buildModelPackArtifact([{ path: "m.safetensors", content: "weights" }]),
    );
    const namespace = await createNamespace(plane.kubeConfig, "crowded");
    await createModelDeployment(plane.kubeConfig, namespace, `${registry.host}/bench/model:v1`);
    const rows: MemoryBenchRow[] = [await runOperator(plane.kubeconfigPath, registry.host, "projected", 0)];
    log(`  memory bench: without pods: peak RSS ${rows[0]?.peakRssMiB.toFixed(0)} MiB`);
    const created = await createPods(plane.kubeConfig, namespace, pods, {
      onProgress: (done) => log(`  memory bench: ${done}/${pods} pods created`),
    });
    log(`  memory bench: ${pods} pods created in ${created.seconds.toFixed(1)} s (32 in parallel)`);
    const podJsonBytes = await servedPodBytes(plane.kubeConfig, namespace, "load-0");
    for (const podCache of ["full", "projected"] as const) {
      const row = await runOperator(plane.kubeconfigPath, registry.host, podCache, pods);
      log(
        `  memory bench: ${podCache}: peak RSS ${row.peakRssMiB.toFixed(0)} MiB, /readyz after ${row.secondsToReadyz.toFixed(1)} s, ${row.podsCached} pods cached after ${row.secondsToPodCacheSynced.toFixed(1)} s`,
      );
      rows.push(row);
    }
    return { pods, podJsonBytes, secondsToCreatePods: created.seconds, rows };
  } finally {
    await registry.stop();
    await plane.stop();
  }
}

async function createModelDeployment(
  kubeConfig: KubeConfig,
  namespace: string,
  reference: string,
): Promise<void> {
  await kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace,
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: "ModelDeployment",
      metadata: { name: "selects-none" },
      spec: {
        model: { reference },
        selector: { matchLabels: { app: "not-among-the-pods" } },
        mount: { path: "/models/m" },
      },
    },
  });
}
