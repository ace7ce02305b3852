/**
 * `BENCH=admission`: what injecting a model costs at pod creation, webhook against admission
 * policies, on a real kube-apiserver 1.37 (the harness's, built from Go modules), in one run.
 *
 * Three namespaces with the same pod (two containers) sent as dry-run creates at a fixed rate
 * (default 500/s for 10 s) by a load generator in its own process: `baseline` (no ModelDeployment:
 * the API server's own cost), `webhook` (20 Ready ModelDeployments, the operator's webhook
 * in-process, registered by URL) and `policies` (the same 20, with the policy controller's
 * policies and bindings). Reported: p50/p99 of the create round trip, the rate achieved, and CPU
 * per pod of the API server (from /proc, less its idle CPU over the same time) and of this process
 * (the webhook's server; idle for the policies); the baseline row is the reference.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { z } from "zod";
import { createPolicyInjection } from "../src/admission-policy/controller.js";
import { systemClock } from "../src/runtime/clock.js";
import type { Informer } from "../src/runtime/informer.js";
import type { KubeObject } from "../src/runtime/kube-object.js";
import { ensureTools, startControlPlane, controlPlaneTools } from "../test/harness/index.js";
import { installCrd } from "../test/support/crd.js";
import {
  core,
  createModelDeploymentWithSpec,
  startModelDeploymentInformer,
  deleteConfiguration,
  OPERATOR_NAMESPACE,
  setStatus,
  startWebhook,
  testLogger,
} from "../test/webhook/apiserver-support.js";
import { INIT_SETTINGS, readyStatus, REGISTRY } from "../test/webhook/fixtures.js";

const run = promisify(execFile);
const CONFIGURATION = "modelpack-operator-bench";
const MODEL_DEPLOYMENTS = 20;
const LoadOutput = z.object({
  p50: z.number(),
  p99: z.number(),
  max: z.number(),
  requests: z.number(),
  achievedRate: z.number(),
  failures: z.number(),
  firstFailure: z.string().optional(),
});

export interface AdmissionRow {
  readonly name: string;
  readonly p50: number;
  readonly p99: number;
  readonly achievedRate: number;
  readonly failures: number;
  /** kube-apiserver CPU per pod create, µs. */
  readonly apiserverMicros: number;
  /** This process's CPU per pod create (the webhook server), µs. */
  readonly webhookMicros: number;
}

/** CPU time (user + system) of process `pid`, µs. */
async function processCpuMicros(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the whole line (11 and 12 after the command name), in clock ticks.
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
}

export async function benchAdmission(
  options: { rate?: number; seconds?: number; log?: (line: string) => void } = {},
): Promise<{ rows: AdmissionRow[]; version: string }> {
  const log = options.log ?? ((line: string) => console.log(line));
  const rate = options.rate ?? Number(process.env.BENCH_ADMISSION_RATE ?? 500);
  const seconds = options.seconds ?? Number(process.env.BENCH_ADMISSION_SECONDS ?? 10);
  await ensureTools(controlPlaneTools("1.37", false));
  const plane = await startControlPlane({ kubernetesVersion: "1.37" });
  const stop = new AbortController();
  const running: Promise<unknown>[] = [];
  let webhook: Awaited<ReturnType<typeof startWebhook>> | undefined;
  try {
    const { kubeConfig } = plane;
    const apiserver = plane.components.find((c) => c.name === "kube-apiserver");
    if (apiserver === undefined) throw new Error("the harness started no kube-apiserver");
    await installCrd(plane.kubeconfigPath, kubeConfig);
    for (const name of [OPERATOR_NAMESPACE, "baseline", "webhook", "policies"])
      await core(kubeConfig).createNamespace({ body: { metadata: { name } } });
    const informerFor = (namespace: string): Informer<KubeObject> => {
      const started = startModelDeploymentInformer(kubeConfig, namespace, stop.signal);
      running.push(started.running);
      return started.informer;
    };
    const informers = { webhook: informerFor("webhook"), policies: informerFor("policies") };
    log(`admission bench: ${MODEL_DEPLOYMENTS} Ready ModelDeployments in each of two namespaces`);
    for (const namespace of ["webhook", "policies"] as const) {
      for (let i = 0; i < MODEL_DEPLOYMENTS; i++) {
        await createModelDeploymentWithSpec(kubeConfig, namespace, `m${i}`, {
          model: { reference: `${REGISTRY}/models/m${i}:v1` },
          selector: { matchLabels: { app: `m${i}` } },
          mount: { path: `/models/m${i}` },
        });
        await setStatus(
          kubeConfig,
          informers[namespace],
          namespace,
          `m${i}`,
          readyStatus({ strategy: "InitContainer", repository: `models/m${i}` }),
        );
      }
    }
    webhook = await startWebhook(kubeConfig, informers.webhook, { configurationName: CONFIGURATION });
    running.push(
      createPolicyInjection({
        kubeConfig,
        logger: testLogger(),
        clock: systemClock,
        informers: [informers.policies],
        store: informers.policies.store,
        settings: INIT_SETTINGS,
      }).start(stop.signal),
    );
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { generateName: "probe-", labels: { app: "m7" } },
      spec: {
        containers: [
          { name: "server", image: `${REGISTRY}/server:1` },
          { name: "metrics", image: `${REGISTRY}/metrics:1` },
        ],
      },
    };
    // Both paths in force before measuring (registration, CA propagation, bindings: about a second).
    for (const namespace of ["webhook", "policies"]) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const created = await core(kubeConfig)
          .createNamespacedPod({
            namespace,
            body: { ...pod, metadata: { ...pod.metadata, name: "ready" } },
            dryRun: "All",
          })
          .catch(() => undefined);
        if (created?.spec?.initContainers?.some((c) => c.name === "modelpack-pull-m7") === true) break;
        if (Date.now() > deadline) throw new Error(`the ${namespace} path never injected the model`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    const user = kubeConfig.getCurrentUser();
    const credentials = {
      caPem: plane.caPem,
      certPem: Buffer.from(user?.certData ?? "", "base64").toString(),
      keyPem: Buffer.from(user?.keyData ?? "", "base64").toString(),
    };
    // The API server works when idle too (controllers, lease renewals, watches): measured over a
    // quiet window and taken off each run's CPU, so the figures are per pod create.
    const idleStart = await processCpuMicros(apiserver.pid);
    const idleWindowMs = 3_000;
    await new Promise((r) => setTimeout(r, idleWindowMs));
    const idleMicrosPerMs = ((await processCpuMicros(apiserver.pid)) - idleStart) / idleWindowMs;
    const rows: AdmissionRow[] = [];
    for (const [name, namespace] of [
      ["no injection (baseline)", "baseline"],
      ["webhook", "webhook"],
      ["admission policies", "policies"],
    ] as const) {
      log(`admission bench: ${rate} pod creates/s for ${seconds} s, ${name}`);
      const apiserverBefore = await processCpuMicros(apiserver.pid);
      const startedAt = performance.now();
      const selfBefore = process.cpuUsage();
      const { stdout } = await run(
        join(process.cwd(), "node_modules", ".bin", "tsx"),
        [
          join(import.meta.dirname, "admission-load.ts"),
          JSON.stringify({
            url: `${plane.server}/api/v1/namespaces/${namespace}/pods?dryRun=All`,
            ...credentials,
            body: JSON.stringify(pod),
            rate,
            seconds,
            concurrency: 64,
          }),
        ],
        { maxBuffer: 1 << 20 },
      );
      const apiserverMicros =
        (await processCpuMicros(apiserver.pid)) -
        apiserverBefore -
        idleMicrosPerMs * (performance.now() - startedAt);
      const self = process.cpuUsage(selfBefore);
      const output = LoadOutput.parse(JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}"));
      if (output.failures > 0) log(`  ${output.failures} creates failed, the first: ${output.firstFailure}`);
      // The warm-up's 200 creates are in the CPU figures too.
      const creates = output.requests + 200;
      rows.push({
        name,
        p50: output.p50,
        p99: output.p99,
        achievedRate: output.achievedRate,
        failures: output.failures,
        apiserverMicros: apiserverMicros / creates,
        webhookMicros: (self.user + self.system) / creates,
      });
    }
    return { rows, version: plane.version };
  } finally {
    await webhook?.stop();
    await deleteConfiguration(plane.kubeConfig, CONFIGURATION).catch(() => undefined);
    stop.abort();
    await Promise.allSettled(running);
    await plane.stop();
  }
}
