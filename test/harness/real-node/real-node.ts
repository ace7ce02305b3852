/**
 * A real Kubernetes node beside the harness's control plane: a kubelet with containerd or CRI-O,
 * runc, CNI bridge networking and kube-proxy, all inside a network namespace the harness creates,
 * together with etcd, kube-apiserver and a plain-HTTP registry the node trusts. Pods really run:
 * init containers pull, image volumes mount, `kubectl logs` shows what a container printed.
 *
 *   host ──veth mpo-host/mpo-node── [namespace: bridge mpo0 198.18.0.1 ── pods 198.18.0.16+]
 *                                    apiserver, registry :5000, kubelet, runtime, kube-proxy
 *
 * The host reaches 198.18.0.0/24 through the veth pair; nothing inside can open a connection out.
 * Root only. One real node per machine (the kubelet and CRI-O write a few fixed paths): a second
 * start fails and names the first; a node whose creator died is torn down by the next start.
 * `stop()` (or `teardownRealNode` from another process) undoes every effect on the host:
 * processes, mounts, the namespace and veth, cgroups, fixed paths and sysctls.
 */
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { buildContainerImage, pushArtifact } from "../../support/publisher.js";
import { startControlPlane, type FullControlPlane } from "../control-plane.js";
import { HarnessError } from "../errors.js";
import { isNodeReady } from "../nodes.js";
import {
  guardProcessGroup,
  isProcessAlive,
  readLogTail,
  spawnProcess,
  stopProcessGroup,
  type RunningProcess,
} from "../process.js";
import { ensureTools } from "../tools.js";
import {
  CRIO_SIGNATURE_POLICY,
  NODE_NETWORK,
  cniConfig,
  containerdConfig,
  containerdHostsToml,
  crioConfig,
  crioRegistriesConf,
  kubeProxyConfig,
  kubeletConfig,
  nodeLayout,
  type NodeLayout,
  type RuntimeName,
} from "./configs.js";
import {
  FIXED_PATHS,
  KUBELET_SYSCTLS,
  createCgroups,
  createNodeNetwork,
  deleteHostLink,
  killNodeProcesses,
  missingPaths,
  mountsBelow,
  readSysctls,
  removeCgroups,
  removePaths,
  restoreSysctls,
  run,
  unmountBelow,
} from "./host.js";
import { CRIO_RUNTIME_WRAPPER } from "./runtime-wrapper.js";

export const NODE_NAME = "modelpack-node";
const CGROUP_NAME = "modelpack-node";
/** The machine-wide record of the running real node: one per machine. */
export const REAL_NODE_MARKER = "/run/modelpack-real-node.json";
const NODE_READY_TIMEOUT_MS = 60_000;

/** What teardown needs to undo everything, written before the first effect and kept current. */
export const RealNodeLedger = z.object({
  format: z.literal(1),
  dir: z.string(),
  runtime: z.enum(["containerd", "cri-o"]),
  ownerPid: z.number().int(),
  sysctls: z.record(z.string(), z.string()),
  createdPaths: z.array(z.string()),
  processes: z.array(
    z.object({
      name: z.string(),
      pid: z.number().int(),
      startTime: z.string().optional(),
      logPath: z.string(),
    }),
  ),
  /** Control-plane components (same shape), stopped after the node. */
  controlPlane: z.array(
    z.object({
      name: z.string(),
      pid: z.number().int(),
      startTime: z.string().optional(),
      logPath: z.string(),
    }),
  ),
});
export type RealNodeLedger = z.infer<typeof RealNodeLedger>;

export interface RealNodeOptions {
  runtime?: RuntimeName;
  /** Private folder for everything; default a new temporary folder, removed by stop(). */
  dir?: string;
  featureGates?: Record<string, boolean>;
  log?: (line: string) => void;
}

export interface RealNode {
  readonly runtime: RuntimeName;
  readonly plane: FullControlPlane;
  readonly kubeConfig: KubeConfig;
  readonly kubeconfigPath: string;
  readonly nodeName: string;
  /** The node's address inside its namespace, reachable from this host. */
  readonly nodeAddress: string;
  /** `host:port` of the registry the node trusts (plain HTTP), as pods, the node and this host see it. */
  readonly registry: string;
  /** `<runtime>://<version>` as the node reports it. */
  readonly containerRuntimeVersion: string;
  readonly dir: string;
  readonly netnsPath: string;
  readonly startupMs: number;
  /** Makes the node's runtime trust another plain-HTTP registry inside the namespace. */
  trustRegistry(hostPort: string): Promise<void>;
  /** Log tails of the node's processes and the control plane, for failure reports. */
  logTails(lines?: number): string;
  /** Keeps everything running after this process exits (for `harness up`); returns the ledger. */
  detach(): Promise<RealNodeLedger>;
  /** Deletes the pods, stops everything and undoes every host effect. Never throws; idempotent. */
  stop(): Promise<string[]>;
}

export class RealNodeUnavailable extends HarnessError {}

/** What decides whether a real node can run on this machine. */
export interface HostFacts {
  readonly platform: NodeJS.Platform;
  readonly uid: number | undefined;
  readonly has: (tool: string) => boolean;
}

const thisHost = (): HostFacts => ({
  platform: process.platform,
  uid: process.getuid?.(),
  has: (tool) => findExecutable(tool) !== undefined,
});

/** Why a real node cannot run here, or undefined when it can (root, Linux, the system tools). */
export function realNodeUnavailableReason(
  runtime: RuntimeName = "containerd",
  host: HostFacts = thisHost(),
): string | undefined {
  if (host.platform !== "linux") return "a real node needs Linux";
  if (host.uid !== 0) return "a real node needs root (it creates a network namespace, mounts and cgroups)";
  const needed = ["runc", "iptables", "nsenter", "unshare", "ip", "mount"];
  if (runtime === "cri-o") needed.push("conmon");
  const missing = needed.filter((tool) => !host.has(tool));
  if (missing.length > 0)
    return `a real node needs ${missing.join(", ")} on PATH (Debian: apt install ${missing.map(debianPackage).join(" ")})`;
  return undefined;
}

function debianPackage(tool: string): string {
  return { nsenter: "util-linux", unshare: "util-linux", ip: "iproute2", mount: "mount" }[tool] ?? tool;
}

export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  for (const dir of dirs) if (dir && existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

/**
 * Why a CRI-O node cannot be started here, or undefined: a `crio` on the machine or the source
 * archive to build it from (and conmon). The CRI-O tests skip with this message.
 */
export function crioUnavailableReason(): string | undefined {
  const base = realNodeUnavailableReason("cri-o");
  if (base) return base;
  if (findExecutable("crio")) return undefined;
  const archive = join(
    process.env.MODELPACK_THIRD_PARTY ?? resolve(import.meta.dirname, "../../../../shared/third_party"),
    "cri-o-v1.36.3-src.tar.gz",
  );
  if (!existsSync(archive))
    return `no crio on PATH and no CRI-O source archive at ${archive} (set MODELPACK_THIRD_PARTY to the folder holding cri-o-v1.36.3-src.tar.gz)`;
  return undefined;
}

/** Starts the control plane and a real node (see the file comment). */
export async function startRealNode(options: RealNodeOptions = {}): Promise<RealNode> {
  const started = Date.now();
  const runtime = options.runtime ?? "containerd";
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const unavailable = runtime === "cri-o" ? crioUnavailableReason() : realNodeUnavailableReason(runtime);
  if (unavailable) throw new RealNodeUnavailable("not-ready", unavailable);
  await recoverStaleNode(log);

  const tools = await ensureTools([
    "kubelet",
    "cni-plugins",
    "pause",
    "registry",
    ...(runtime === "containerd" ? (["containerd"] as const) : []),
  ]);
  const crioBin = runtime === "cri-o" ? await crioBinaries() : undefined;

  const dir = options.dir ? resolve(options.dir) : await mkdtemp(join(tmpdir(), "mpo-node-"));
  if (options.dir) await clearFolder(dir);
  const layout = nodeLayout(dir);
  for (const d of [
    layout.logs,
    layout.cniBin,
    layout.cniConf,
    layout.cniData,
    layout.podLogs,
    layout.registryDir,
  ])
    mkdirSync(d, { recursive: true });
  mkdirSync(join(dir, "run"), { recursive: true });

  const ledger: RealNodeLedger = {
    format: 1,
    dir,
    runtime,
    ownerPid: process.pid,
    sysctls: readSysctls(KUBELET_SYSCTLS),
    createdPaths: missingPaths(FIXED_PATHS),
    processes: [],
    controlPlane: [],
  };
  const ledgerPath = join(dir, "real-node.json");
  const saveLedger = (): void => {
    const text = JSON.stringify(ledger, null, 2) + "\n";
    writeFileSync(ledgerPath, text);
    writeFileSync(REAL_NODE_MARKER, text);
  };
  saveLedger();
  const guards: (() => void)[] = [];
  const processes: RunningProcess[] = [];
  const launch = async (
    name: string,
    command: string,
    args: string[],
    env?: NodeJS.ProcessEnv,
  ): Promise<RunningProcess> => {
    const proc = await spawnProcess({
      name,
      command: "nsenter",
      args: [`--net=${layout.netnsPath}`, "--", command, ...args],
      logPath: join(layout.logs, `${name}.log`),
      env: env ?? process.env,
    });
    processes.push(proc);
    guards.push(guardProcessGroup(proc.pid));
    ledger.processes.push({
      name,
      pid: proc.pid,
      ...(proc.startTime !== undefined && { startTime: proc.startTime }),
      logPath: proc.logPath,
    });
    saveLedger();
    return proc;
  };
  const logTails = (lines = 30): string =>
    [
      ...processes.map((p) => `--- ${p.name} (${p.logPath})\n${readLogTail(p.logPath, lines)}`),
      plane ? plane.logTails(lines) : "",
    ].join("\n");

  let plane: FullControlPlane | undefined;
  let stopping: Promise<string[]> | undefined;
  const stop = async (): Promise<string[]> => {
    for (const release of guards) release();
    const problems = await teardownRealNode(ledger, { plane, log });
    await rm(ledgerPath, { force: true });
    if (!options.dir) await rm(dir, { recursive: true, force: true });
    return problems;
  };

  try {
    await createNodeNetwork(layout.netnsPath);
    log(`real node: network namespace ready (${Date.now() - started} ms)`);
    plane = await startControlPlane({
      full: true,
      dir: join(dir, "control-plane"),
      featureGates: { ...options.featureGates },
      network: { netnsPath: layout.netnsPath, address: NODE_NETWORK.nodeAddress },
      log,
    });
    ledger.controlPlane = plane.components.map((c) => ({
      name: c.name,
      pid: c.pid,
      ...(c.startTime !== undefined && { startTime: c.startTime }),
      logPath: c.logPath,
    }));
    saveLedger();
    log(`real node: control plane ${plane.version} at ${plane.server} (${Date.now() - started} ms)`);

    // The registry the node trusts, inside the namespace.
    const registry = `${NODE_NETWORK.nodeAddress}:${NODE_NETWORK.registryPort}`;
    writeFileSync(
      join(layout.registryDir, "config.yml"),
      [
        "version: 0.1",
        "log: {level: warn, accesslog: {disabled: true}}",
        `storage: {filesystem: {rootdirectory: ${join(layout.registryDir, "data")}}, delete: {enabled: true}}`,
        `http: {addr: "${registry}"}`,
        "",
      ].join("\n"),
    );
    const registryProc = await launch(
      "registry",
      join(tools.registry, "registry"),
      ["serve", join(layout.registryDir, "config.yml")],
      { ...process.env, OTEL_TRACES_EXPORTER: "none" },
    );
    await waitUntil(
      async () => (await fetch(`http://${registry}/v2/`).catch(() => undefined))?.status === 200,
      15_000,
      () =>
        `the node's registry did not answer on http://${registry}/v2/\n${readLogTail(registryProc.logPath, 20)}`,
    );
    const pause = await buildContainerImage(
      [{ path: "pause", content: readFileSync(join(tools.pause, "pause")), mode: 0o755 }],
      { entrypoint: ["/pause"] },
    );
    await pushArtifact({ url: `http://${registry}` }, "pause", "harness", pause);
    const pauseImage = `${registry}/pause:harness`;

    // CNI: the bridge plugin and friends, our network config.
    for (const plugin of ["bridge", "host-local", "loopback"])
      copyFileSync(join(tools["cni-plugins"], plugin), join(layout.cniBin, plugin));
    execFileSync("chmod", [
      "0755",
      ...["bridge", "host-local", "loopback"].map((p) => join(layout.cniBin, p)),
    ]);
    writeFileSync(join(layout.cniConf, "10-modelpack-node.conflist"), cniConfig(layout));
    await createCgroups(CGROUP_NAME);

    const runc = findExecutable("runc") ?? "runc";
    let runtimeProc: RunningProcess;
    if (runtime === "containerd") {
      mkdirSync(join(dir, "containerd"), { recursive: true });
      writeFileSync(layout.containerdConfig, containerdConfig(layout, { pauseImage, runc }));
      await trustRegistryFiles(layout, runtime, registry);
      // The shim must be on containerd's PATH.
      runtimeProc = await launch(
        "containerd",
        join(tools.containerd, "containerd"),
        ["--config", layout.containerdConfig],
        {
          ...process.env,
          PATH: `${tools.containerd}:${process.env.PATH ?? ""}`,
        },
      );
    } else {
      if (!crioBin) throw new HarnessError("tool-missing", "crio was not found or built");
      mkdirSync(join(dir, "crio", "var"), { recursive: true });
      const wrapper = join(dir, "crio", "runc-wrapper");
      writeFileSync(wrapper, CRIO_RUNTIME_WRAPPER(runc), { mode: 0o755 });
      writeFileSync(join(dir, "crio", "policy.json"), CRIO_SIGNATURE_POLICY);
      writeFileSync(
        layout.crioConfig,
        crioConfig(layout, {
          pauseImage,
          runtimePath: wrapper,
          conmon: findExecutable("conmon") ?? "conmon",
          pinns: crioBin.pinns,
        }),
      );
      await trustRegistryFiles(layout, runtime, registry);
      runtimeProc = await launch("crio", crioBin.crio, [
        "--config",
        layout.crioConfig,
        "--config-dir",
        "",
        "--registries-conf",
        layout.registriesConf,
        "--registries-conf-dir",
        join(dir, "crio", "registries.d"),
      ]);
    }
    await waitUntil(
      () => Promise.resolve(existsSync(layout.runtimeSocket)),
      30_000,
      () => `${runtime} did not open ${layout.runtimeSocket}\n${readLogTail(runtimeProc.logPath, 30)}`,
      runtimeProc,
    );
    log(`real node: ${runtime} up (${Date.now() - started} ms)`);

    const nodeKubeconfig = join(dir, "node.kubeconfig");
    copyFileSync(plane.kubeconfigPath, nodeKubeconfig);
    writeFileSync(
      layout.kubeletConfig,
      kubeletConfig(layout, {
        kubeconfigPath: nodeKubeconfig,
        featureGates: options.featureGates ?? {},
        cgroupRoot: `/${CGROUP_NAME}`,
      }),
    );
    const kubelet = await launch("kubelet", join(tools.kubelet, "kubelet"), [
      `--config=${layout.kubeletConfig}`,
      `--kubeconfig=${nodeKubeconfig}`,
      `--root-dir=${layout.kubeletRoot}`,
      `--cert-dir=${join(layout.kubeletRoot, "pki")}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_NETWORK.nodeAddress}`,
      "--v=1",
    ]);
    writeFileSync(layout.kubeProxyConfig, kubeProxyConfig(nodeKubeconfig, NODE_NAME));
    await launch("kube-proxy", join(tools.kubelet, "kube-proxy"), [`--config=${layout.kubeProxyConfig}`]);

    const containerRuntimeVersion = await waitForNodeReady(plane, kubelet, runtimeProc);
    log(`real node: ${NODE_NAME} Ready with ${containerRuntimeVersion} (${Date.now() - started} ms)`);
    const startupMs = Date.now() - started;
    return {
      runtime,
      plane,
      kubeConfig: plane.kubeConfig,
      kubeconfigPath: plane.kubeconfigPath,
      nodeName: NODE_NAME,
      nodeAddress: NODE_NETWORK.nodeAddress,
      registry,
      containerRuntimeVersion,
      dir,
      netnsPath: layout.netnsPath,
      startupMs,
      trustRegistry: (hostPort) => trustRegistryFiles(layout, runtime, registry, hostPort),
      logTails,
      detach: async () => {
        for (const release of guards) release();
        await plane?.detach();
        return ledger;
      },
      stop: () => (stopping ??= stop()),
    };
  } catch (err) {
    const tails = logTails(20);
    const problems = await stop();
    const message = err instanceof Error ? err.message : String(err);
    throw new HarnessError(
      "not-ready",
      `real node: ${message}${problems.length ? `\nteardown left: ${problems.join("; ")}` : ""}\n${tails}`,
      { cause: err },
    );
  }
}

/**
 * Empties a caller's folder from an earlier run, logs aside. Refuses while anything is mounted
 * below it: removing files through a leftover bind mount would reach outside the folder.
 */
async function clearFolder(dir: string): Promise<void> {
  const mounted = mountsBelow(dir);
  if (mounted.length > 0)
    throw new HarnessError(
      "not-ready",
      `${dir} still has mounts from an earlier real node (${mounted.slice(0, 3).join(", ")}…); run 'npm run harness -- down' or unmount them`,
    );
  mkdirSync(dir, { recursive: true });
  for (const entry of await readdir(dir))
    if (entry !== "logs") await rm(join(dir, entry), { recursive: true, force: true });
}

/** Writes the runtime's trust for plain-HTTP registries (containerd reads certs.d on each pull). */
async function trustRegistryFiles(
  layout: NodeLayout,
  runtime: RuntimeName,
  ...hostPorts: string[]
): Promise<void> {
  if (runtime === "containerd") {
    for (const hostPort of hostPorts) {
      const folder = join(layout.certsDir, hostPort);
      mkdirSync(folder, { recursive: true });
      await writeFile(join(folder, "hosts.toml"), containerdHostsToml(hostPort));
    }
    return;
  }
  // CRI-O reads registries.conf at start and on SIGHUP.
  const known = existsSync(layout.registriesConf)
    ? [...readFileSync(layout.registriesConf, "utf8").matchAll(/location = "([^"]+)"/g)].map(
        (m) => m[1] ?? "",
      )
    : [];
  const all = [...new Set([...known, ...hostPorts])];
  await writeFile(layout.registriesConf, crioRegistriesConf(all));
  mkdirSync(join(layout.dir, "crio", "registries.d"), { recursive: true });
  if (known.length > 0)
    await run("pkill", ["-HUP", "-f", `crio --config ${layout.crioConfig}`]).catch(() => "");
}

async function crioBinaries(): Promise<{ crio: string; pinns: string }> {
  const onPath = findExecutable("crio");
  const pinns = findExecutable("pinns");
  if (onPath && pinns) return { crio: onPath, pinns };
  const built = await ensureTools(["crio"]);
  return { crio: join(built.crio, "crio"), pinns: join(built.crio, "pinns") };
}

async function waitForNodeReady(
  plane: FullControlPlane,
  kubelet: RunningProcess,
  runtime: RunningProcess,
): Promise<string> {
  const core = plane.kubeConfig.makeApiClient(CoreV1Api);
  let version = "";
  await waitUntil(
    async () => {
      const node = await core.readNode({ name: NODE_NAME }).catch(() => undefined);
      version = node?.status?.nodeInfo?.containerRuntimeVersion ?? "";
      return node !== undefined && isNodeReady(node);
    },
    NODE_READY_TIMEOUT_MS,
    () => `node ${NODE_NAME} did not become Ready\n${readLogTail(kubelet.logPath, 30)}`,
    kubelet,
    runtime,
  );
  return version;
}

async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  describe: () => string,
  ...watched: RunningProcess[]
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    const dead = watched.find((p) => p.exitInfo() !== undefined);
    if (dead) throw new HarnessError("component-exited", `${dead.name} exited: ${describe()}`);
    if (Date.now() > deadline) throw new HarnessError("not-ready", describe());
    await sleep(200);
  }
}

/**
 * Undoes everything a real node did, in an order that leaves nothing behind: pods deleted while
 * the kubelet runs, kubelet and kube-proxy stopped, the runtime stopped, every process left in the
 * node (shims, conmon, containers) killed, the control plane stopped, mounts below the folder
 * removed deepest first (the namespace file among them), the veth, cgroups, fixed paths and
 * sysctls restored. Returns what could not be undone (empty when everything was).
 */
export async function teardownRealNode(
  ledger: RealNodeLedger,
  context: { plane?: FullControlPlane | undefined; log?: (line: string) => void } = {},
): Promise<string[]> {
  const layout = nodeLayout(ledger.dir);
  const problems: string[] = [];
  const alive = (p: { pid: number; startTime?: string | undefined }): boolean =>
    isProcessAlive(p.pid, p.startTime);
  const stopNamed = async (names: readonly string[], graceMs: number): Promise<void> => {
    await Promise.all(
      ledger.processes
        .filter((p) => names.includes(p.name) && alive(p))
        .map((p) => stopProcessGroup(p.pid, graceMs)),
    );
  };
  const kubeletUp = ledger.processes.some((p) => p.name === "kubelet" && alive(p));
  if (kubeletUp && context.plane) {
    await deleteAllPods(context.plane).catch((err: unknown) => {
      problems.push(`deleting pods: ${(err as Error).message}`);
    });
  }
  await stopNamed(["kubelet", "kube-proxy"], 5_000);
  await stopNamed(["containerd", "crio"], 5_000);
  problems.push(...(await killNodeProcesses(layout.netnsPath, CGROUP_NAME)));
  await stopNamed(["registry"], 2_000);
  if (context.plane) await context.plane.stop();
  else
    for (const group of [["kwok", "kube-scheduler", "kube-controller-manager"], ["kube-apiserver"], ["etcd"]])
      await Promise.all(
        ledger.controlPlane
          .filter((c) => group.includes(c.name) && alive(c))
          .map((c) => stopProcessGroup(c.pid)),
      );
  problems.push(...(await killNodeProcesses(layout.netnsPath, CGROUP_NAME)));
  problems.push(...(await unmountBelow(ledger.dir)));
  problems.push(...(await deleteHostLink()));
  problems.push(...(await removeCgroups(CGROUP_NAME)));
  for (const path of ledger.createdPaths) problems.push(...(await unmountBelow(path)));
  problems.push(...removePaths(ledger.createdPaths));
  problems.push(...(await restoreSysctls(ledger.sysctls)));
  if (existsSync(REAL_NODE_MARKER)) {
    const marker = await readFile(REAL_NODE_MARKER, "utf8").catch(() => "");
    if (marker.includes(JSON.stringify(ledger.dir))) await rm(REAL_NODE_MARKER, { force: true });
  }
  for (const problem of problems) context.log?.(`real node teardown: ${problem}`);
  return problems;
}

/** Deletes every pod at once, then waits (at most 30 s) until the kubelet has stopped them. */
async function deleteAllPods(plane: FullControlPlane): Promise<void> {
  const core = plane.kubeConfig.makeApiClient(CoreV1Api);
  const pods = await core.listPodForAllNamespaces();
  await Promise.all(
    pods.items.map((pod) =>
      core
        .deleteNamespacedPod({
          name: pod.metadata?.name ?? "",
          namespace: pod.metadata?.namespace ?? "",
          gracePeriodSeconds: 0,
        })
        .catch(() => undefined),
    ),
  );
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if ((await core.listPodForAllNamespaces()).items.length === 0) return;
    await sleep(250);
  }
}

/** Reads the machine-wide marker: the ledger of a real node started earlier, if any. */
export async function readRealNodeMarker(): Promise<RealNodeLedger | undefined> {
  let text: string;
  try {
    text = await readFile(REAL_NODE_MARKER, "utf8");
  } catch {
    return undefined;
  }
  const parsed = RealNodeLedger.safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : undefined;
}

/**
 * A real node from an earlier run: if its creator is still alive, it is in use (error naming it);
 * if not (a test process that was killed), tear it down so this start begins clean.
 */
async function recoverStaleNode(log: (line: string) => void): Promise<void> {
  const ledger = await readRealNodeMarker();
  if (!ledger) return;
  const inUse =
    isProcessAlive(ledger.ownerPid) && ledger.processes.some((p) => isProcessAlive(p.pid, p.startTime));
  if (inUse)
    throw new RealNodeUnavailable(
      "not-ready",
      `a real node is already running on this machine (folder ${ledger.dir}, started by pid ${ledger.ownerPid}); stop it first (npm run harness -- down) — one real node per machine`,
    );
  log(`real node: tearing down a node left by pid ${ledger.ownerPid} (${ledger.dir})`);
  await teardownRealNode(ledger, { log });
}
