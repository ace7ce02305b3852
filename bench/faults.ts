import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { GROUP, PLURAL, VERSION } from "../src/api/index.js";
import { startControlPlane } from "../test/harness/control-plane.js";
import { pickFreePorts } from "../test/harness/ports.js";
import { createNamespace } from "../test/harness/testing.js";
import { installCrd } from "../test/support/crd.js";
import { startHostileRegistry } from "../test/support/hostile-registry.js";
import { buildModelPackArtifact, pushArtifact, sha256 } from "../test/support/publisher.js";
import { startRegistry, type TestRegistry } from "../test/support/registry.js";

/**
 * Issue 12's figures for hostile tenants and registries, the operator as its own process (the
 * compiled CLI) against a real control plane:
 * - peak RSS with 30 ModelDeployments whose artifacts have 6 MiB configs (each its own artifact),
 *   against 30 ModelDeployments of ordinary small configs;
 * - time to Ready of one ModelDeployment on a healthy registry while 8 others sit on a registry
 *   answering 429 `Retry-After: 300` to everything, against the same ModelDeployment alone.
 */
export interface LargeConfigRow {
  readonly configBytes: number;
  readonly modelDeployments: number;
  /** VmHWM of the operator once every ModelDeployment settled. */
  readonly peakRssMiB: number;
  readonly secondsToSettled: number;
  /** `Validated=<status> <reason>` → how many ModelDeployments ended so. */
  readonly validated: ReadonlyMap<string, number>;
  /** ModelDeployments whose Validated reason or message names ConfigTooLarge. */
  readonly namingConfigTooLarge: number;
  /** ModelDeployments with an error of code ConfigTooLarge in status.validation. */
  readonly configTooLargeInValidation: number;
  /** One Validated message, as a user reads it. */
  readonly sampleMessage: string;
  readonly logPath: string;
}

export interface FairnessRow {
  readonly throttledModelDeployments: number;
  /** From the healthy ModelDeployment's create call to its Ready=True. */
  readonly secondsToReady: number;
  /** Requests the 429 registry received between that create call and Ready. */
  readonly throttledRequestsDuringMeasurement: number;
  /** Requests the 429 registry received from this operator in all. */
  readonly throttledRequestsTotal: number;
  /** `Resolved=<status> <reason>` of the throttled ModelDeployments → count. */
  readonly throttledResolved: ReadonlyMap<string, number>;
  readonly logPath: string;
}

export interface FaultsBenchResult {
  readonly large: LargeConfigRow;
  readonly small: LargeConfigRow;
  readonly throttled: FairnessRow;
  readonly alone: FairnessRow;
}

const LARGE_CONFIG_BYTES = 6 * 1024 * 1024;
const COUNT = 30;
const THROTTLED = 8;
const TIMEOUT_MS = 300_000;

const Condition = z.object({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
});
const ModelDeploymentStatus = z.object({
  metadata: z.object({ name: z.string() }),
  status: z
    .object({
      conditions: z.array(Condition).optional(),
      validation: z.object({ errors: z.array(z.object({ code: z.string() })).optional() }).optional(),
    })
    .optional(),
});
type ModelDeploymentStatus = z.infer<typeof ModelDeploymentStatus>;
const ModelDeploymentList = z.object({ items: z.array(ModelDeploymentStatus) });

const condition = (md: ModelDeploymentStatus, type: string): z.infer<typeof Condition> | undefined =>
  md.status?.conditions?.find((c) => c.type === type);

function peakRssMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? NaN) / 1024;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A ModelPack config of exactly `bytes` bytes: a real config whose description fills the rest. */
function paddedConfig(name: string, diffIds: readonly string[], bytes: number): string {
  const config = {
    descriptor: { name, family: "bench", createdAt: "2026-01-01T00:00:00Z", description: "" },
    config: { architecture: "transformer", format: "safetensors", paramSize: "1m", precision: "float16" },
    modelfs: { type: "layers", diffIds },
  };
  const base = JSON.stringify(config).length;
  const sentence = "A model card pasted into the config, paragraph after paragraph. ";
  config.descriptor.description = sentence
    .repeat(Math.ceil((bytes - base) / sentence.length))
    .slice(0, bytes - base);
  const text = JSON.stringify(config);
  if (text.length !== bytes) throw new Error(`config of ${text.length} bytes, wanted ${bytes}`);
  return text;
}

/** Pushes COUNT artifacts `bench/<prefix>-<i>:v1`; returns the size of their largest config. */
async function pushModels(
  registry: TestRegistry,
  prefix: string,
  configBytes: number | undefined,
): Promise<number> {
  let largest = 0;
  for (let i = 0; i < COUNT; i++) {
    const weights = `weights of ${prefix} ${i}`;
    const artifact = await buildModelPackArtifact(
      [{ path: `m${i}.safetensors`, content: weights }],
      configBytes === undefined
        ? { name: `${prefix}-${i}` }
        : { config: paddedConfig(`${prefix}-${i}`, [sha256(weights)], configBytes) },
    );
    await pushArtifact(registry, `bench/${prefix}-${i}`, "v1", artifact);
    largest = Math.max(largest, artifact.configBytes.length);
  }
  return largest;
}

interface Operator {
  readonly pid: number;
  readonly logPath: string;
  stop(): Promise<void>;
}

/** `modelpack-operator run` (compiled) watching `namespace`, its log in `logPath`; /readyz 200. */
async function startOperator(
  kubeconfigPath: string,
  namespace: string,
  plainHttpRegistries: readonly string[],
  logDir: string,
): Promise<Operator> {
  const [port = 0] = await pickFreePorts(1);
  const logPath = join(logDir, `operator-${namespace}.log`);
  const fd = openSync(logPath, "w");
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
      "--watch-namespace",
      namespace,
      "--plain-http-registries",
      plainHttpRegistries.join(","),
      "--health-bind-address",
      `127.0.0.1:${port}`,
      "--log-level",
      "info",
      "--disable-leader-election",
      "--disable-webhook",
    ],
    { stdio: ["ignore", fd, fd] },
  );
  closeSync(fd);
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the operator exited (${child.exitCode}); log: ${logPath}`);
    const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
    if (res?.status === 200) break;
    if (Date.now() - started > 60_000) {
      await stop();
      throw new Error(`the operator's /readyz did not answer 200 within 60 s; log: ${logPath}`);
    }
    await sleep(100);
  }
  return { pid: child.pid ?? 0, logPath, stop };
}

async function createModelDeployment(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
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
      metadata: { name },
      spec: {
        model: { reference },
        selector: { matchLabels: { app: name } },
        mount: { path: "/models/m" },
      },
    },
  });
}

async function listModelDeployments(
  kubeConfig: KubeConfig,
  namespace: string,
): Promise<ModelDeploymentStatus[]> {
  return ModelDeploymentList.parse(
    await kubeConfig
      .makeApiClient(CustomObjectsApi)
      .listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace }),
  ).items;
}

function tally(items: readonly ModelDeploymentStatus[], type: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const md of items) {
    const c = condition(md, type);
    const key = `${type}=${c?.status ?? "unset"} ${c?.reason ?? ""}`.trim();
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/**
 * 30 ModelDeployments, each on its own artifact in `prefix`, created once the operator is ready;
 * measured when every one has a settled Validated (True or False) and, if valid, Ready=True.
 */
async function runConfigs(
  kubeConfig: KubeConfig,
  kubeconfigPath: string,
  registry: TestRegistry,
  prefix: string,
  configBytes: number,
  logDir: string,
): Promise<LargeConfigRow> {
  const namespace = await createNamespace(kubeConfig, `faults-${prefix}`);
  const operator = await startOperator(kubeconfigPath, namespace, [registry.host], logDir);
  try {
    const started = Date.now();
    for (let i = 0; i < COUNT; i++)
      await createModelDeployment(
        kubeConfig,
        namespace,
        `md-${i}`,
        `${registry.host}/bench/${prefix}-${i}:v1`,
      );
    let items: ModelDeploymentStatus[] = [];
    for (;;) {
      items = await listModelDeployments(kubeConfig, namespace);
      const settled = items.filter((md) => {
        const validated = condition(md, "Validated");
        if (validated?.status === "False") return true;
        return validated?.status === "True" && condition(md, "Ready")?.status === "True";
      });
      if (settled.length === COUNT) break;
      if (Date.now() - started > TIMEOUT_MS)
        throw new Error(
          `${prefix}: ${settled.length}/${COUNT} settled after ${TIMEOUT_MS / 1000} s (${[...tally(items, "Validated")].join(", ")}); log: ${operator.logPath}`,
        );
      await sleep(250);
    }
    const secondsToSettled = (Date.now() - started) / 1000;
    await sleep(3000); // settle: status writes, events, the resync of what just changed
    const names = (md: ModelDeploymentStatus): boolean => {
      const validated = condition(md, "Validated");
      return `${validated?.reason ?? ""} ${validated?.message ?? ""}`.includes("ConfigTooLarge");
    };
    return {
      configBytes,
      modelDeployments: COUNT,
      peakRssMiB: peakRssMiB(operator.pid),
      secondsToSettled,
      validated: tally(items, "Validated"),
      namingConfigTooLarge: items.filter(names).length,
      configTooLargeInValidation: items.filter((md) =>
        md.status?.validation?.errors?.some((e) => e.code === "ConfigTooLarge"),
      ).length,
      sampleMessage: condition(items[0]!, "Validated")?.message ?? "",
      logPath: operator.logPath,
    };
  } finally {
    await operator.stop();
  }
}

/**
 * `throttled` ModelDeployments on the 429 registry first, ~2 s for the operator to meet the 429s,
 * then the healthy one: seconds from its create call to Ready=True, and the 429 registry's requests.
 */
async function runFairness(
  kubeConfig: KubeConfig,
  kubeconfigPath: string,
  healthy: TestRegistry,
  throttledRegistry: Awaited<ReturnType<typeof startHostileRegistry>>,
  throttled: number,
  logDir: string,
): Promise<FairnessRow> {
  const namespace = await createNamespace(kubeConfig, throttled > 0 ? "faults-throttled" : "faults-alone");
  const operator = await startOperator(
    kubeconfigPath,
    namespace,
    [healthy.host, throttledRegistry.host],
    logDir,
  );
  try {
    const before = throttledRegistry.requests.length;
    for (let i = 0; i < throttled; i++)
      await createModelDeployment(
        kubeConfig,
        namespace,
        `throttled-${i}`,
        `${throttledRegistry.host}/bench/throttled-${i}:v1`,
      );
    if (throttled > 0) await sleep(2000);
    const atCreate = throttledRegistry.requests.length;
    const started = Date.now();
    await createModelDeployment(kubeConfig, namespace, "healthy", `${healthy.host}/bench/healthy:v1`);
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    for (;;) {
      const md = ModelDeploymentStatus.parse(
        await custom.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace,
          name: "healthy",
        }),
      );
      if (condition(md, "Ready")?.status === "True") break;
      if (Date.now() - started > TIMEOUT_MS)
        throw new Error(
          `the healthy ModelDeployment was not Ready after ${TIMEOUT_MS / 1000} s (${JSON.stringify(md.status?.conditions)}); log: ${operator.logPath}`,
        );
      await sleep(50);
    }
    const secondsToReady = (Date.now() - started) / 1000;
    const atReady = throttledRegistry.requests.length;
    const items = (await listModelDeployments(kubeConfig, namespace)).filter((md) =>
      md.metadata.name.startsWith("throttled-"),
    );
    return {
      throttledModelDeployments: throttled,
      secondsToReady,
      throttledRequestsDuringMeasurement: atReady - atCreate,
      throttledRequestsTotal: atReady - before,
      throttledResolved: tally(items, "Resolved"),
      logPath: operator.logPath,
    };
  } finally {
    await operator.stop();
  }
}

export async function benchFaults(log: (line: string) => void = console.log): Promise<FaultsBenchResult> {
  const logDir = mkdtempSync(join(tmpdir(), "mpo-bench-faults-"));
  const plane = await startControlPlane();
  const registry = await startRegistry({ kind: "distribution" });
  const throttledRegistry = await startHostileRegistry();
  throttledRegistry.intercept = (_req, res) => {
    res
      .writeHead(429, { "retry-after": "300", "content-type": "application/json" })
      .end(JSON.stringify({ errors: [{ code: "TOOMANYREQUESTS", message: "slow down" }] }));
    return true;
  };
  try {
    await installCrd(plane.kubeconfigPath, plane.kubeConfig);
    const pushStarted = Date.now();
    const smallConfigBytes = await pushModels(registry, "small", undefined);
    const largeConfigBytes = await pushModels(registry, "large", LARGE_CONFIG_BYTES);
    await pushArtifact(
      registry,
      "bench/healthy",
      "v1",
      await buildModelPackArtifact([{ path: "healthy.safetensors", content: "healthy weights" }]),
    );
    log(
      `  faults bench: ${2 * COUNT + 1} artifacts pushed in ${((Date.now() - pushStarted) / 1000).toFixed(1)} s`,
    );

    const small = await runConfigs(
      plane.kubeConfig,
      plane.kubeconfigPath,
      registry,
      "small",
      smallConfigBytes,
      logDir,
    );
    log(`  faults bench: small configs: peak RSS ${small.peakRssMiB.toFixed(0)} MiB`);
    const large = await runConfigs(
      plane.kubeConfig,
      plane.kubeconfigPath,
      registry,
      "large",
      largeConfigBytes,
      logDir,
    );
    log(`  faults bench: 6 MiB configs: peak RSS ${large.peakRssMiB.toFixed(0)} MiB`);

    const alone = await runFairness(
      plane.kubeConfig,
      plane.kubeconfigPath,
      registry,
      throttledRegistry,
      0,
      logDir,
    );
    log(`  faults bench: alone: Ready in ${alone.secondsToReady.toFixed(2)} s`);
    const throttled = await runFairness(
      plane.kubeConfig,
      plane.kubeconfigPath,
      registry,
      throttledRegistry,
      THROTTLED,
      logDir,
    );
    log(`  faults bench: beside ${THROTTLED} throttled: Ready in ${throttled.secondsToReady.toFixed(2)} s`);
    return { large, small, throttled, alone };
  } finally {
    await throttledRegistry.stop();
    await registry.stop();
    await plane.stop();
  }
}
