/**
 * `npm run harness -- <up|down|status>`: a control plane that outlives the command, for poking at
 * by hand (kubectl, the operator run locally) rather than from tests.
 *
 *   up [--full] [--kubernetes-version 1.34|1.35|1.36|1.37] [--feature-gates A=false,B=true] [--nodes N] [--container-runtime containerd://2.1.0]
 *   up --real-node [--runtime containerd|cri-o]     (root: a real kubelet; see real-node/real-node.ts)
 *   status [--output json]
 *   down
 *
 * The components are launched directly, each detached in its own session and process group, and
 * `up` exits once /readyz answers; there is no supervisor process. Nothing then sits between the
 * components and the OS that could crash, be killed by a closing terminal, or need a control
 * protocol: `status` and `down` work from the pids and /proc start times in `.harness/state.json`
 * (start times make sure a recycled pid is never signalled). The price is that nothing restarts a
 * component that dies; `status` reports it and `down` + `up` recovers (etcd data is throwaway anyway).
 */
import { copyFile, mkdir, readdir, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { describeError } from "../../src/errors.js";
import { STOP_ORDER } from "./components.js";
import { startControlPlane, type ControlPlane } from "./control-plane.js";
import { httpsGet } from "./https.js";
import { isProcessAlive, stopProcessGroup } from "./process.js";
import { DEFAULT_KUBERNETES_VERSION, KUBERNETES_VERSIONS, parseKubernetesVersion } from "./versions.js";
import {
  RealNodeLedger,
  crioUnavailableReason,
  realNodeUnavailableReason,
  startRealNode,
  teardownRealNode,
  type RealNode,
} from "./real-node/real-node.js";
import {
  readState,
  removeState,
  stateLayout,
  writeState,
  type HarnessState,
  type StateLayout,
} from "./state.js";

const USAGE = `usage: npm run harness -- <command>
  up [--full] [--kubernetes-version 1.34|1.35|1.36|1.37] [--feature-gates A=false,B=true] [--nodes N]
     [--container-runtime containerd://2.1.0]
        start etcd + kube-apiserver (--full: + controller-manager, scheduler, kwok and N fake nodes, default 2)
        of that Kubernetes minor (default 1.35; another one is built on first use, many minutes)
  up --real-node [--runtime containerd|cri-o] [--feature-gates ...]
        root only: the full control plane plus a real node (kubelet, containerd or CRI-O, runc, CNI,
        kube-proxy) and a plain-HTTP registry the node trusts, in a network namespace of its own
  status [--output json]  show what runs, /readyz, the version (and the real node's registry)
  down    stop everything, undo the real node's effects on the host, remove the state
          (logs stay in .harness/control-plane/logs or .harness/real-node/logs)`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  // HARNESS_STATE_DIR lets a second control plane (e.g. the CLI self-test) live beside a developer's.
  const layout = stateLayout(
    process.env.HARNESS_STATE_DIR ?? join(fileURLToPath(new URL("../..", import.meta.url)), ".harness"),
  );
  const [command, ...rest] = argv;
  switch (command) {
    case "up":
      return up(layout, rest);
    case "down":
      noArgs(rest);
      return down(layout);
    case "status":
      return status(layout, rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

async function up(layout: StateLayout, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      full: { type: "boolean", default: false },
      "kubernetes-version": { type: "string" },
      "feature-gates": { type: "string" },
      nodes: { type: "string" },
      "container-runtime": { type: "string" },
      "real-node": { type: "boolean", default: false },
      runtime: { type: "string" },
    },
    strict: true,
  });
  const realNodeRuntime = values.runtime ?? "containerd";
  if (values.runtime !== undefined && !values["real-node"])
    throw new UsageError("--runtime needs --real-node");
  if (realNodeRuntime !== "containerd" && realNodeRuntime !== "cri-o")
    throw new UsageError(`--runtime must be containerd or cri-o, got '${realNodeRuntime}'`);
  if (values["real-node"] && (values.full || values.nodes !== undefined || values["container-runtime"]))
    throw new UsageError(
      "--real-node starts its own full control plane: drop --full, --nodes and --container-runtime",
    );
  const featureGates = parseFeatureGates(values["feature-gates"] ?? "");
  const kubernetesVersion = parseKubernetesVersion(
    values["kubernetes-version"] ?? DEFAULT_KUBERNETES_VERSION,
  );
  if (!kubernetesVersion)
    throw new UsageError(
      `--kubernetes-version must be one of ${KUBERNETES_VERSIONS.join(", ")}, got '${values["kubernetes-version"]}'`,
    );
  if (values["real-node"] && kubernetesVersion !== DEFAULT_KUBERNETES_VERSION)
    throw new UsageError(
      `--real-node runs Kubernetes ${DEFAULT_KUBERNETES_VERSION} only: drop --kubernetes-version`,
    );
  const nodes = Number(values.nodes ?? (values.full ? "2" : "0"));
  if (!Number.isInteger(nodes) || nodes < 0)
    throw new UsageError(`--nodes must be a whole number, got '${values.nodes}'`);
  if (nodes > 0 && !values.full) throw new UsageError("--nodes needs --full (kwok runs only then)");

  const existing = await readState(layout);
  if (existing) {
    const alive = existing.components.filter((c) => isProcessAlive(c.pid, c.startTime));
    if (alive.length > 0) {
      console.error(
        `harness: already running (${alive.map((c) => `${c.name} pid ${c.pid}`).join(", ")}); run 'npm run harness -- down' first`,
      );
      return 1;
    }
    console.error("harness: removing the state of a previous run whose processes are gone");
  }
  await removeState(layout);
  await rm(layout.dir, { recursive: true, force: true });
  await mkdir(layout.dir, { recursive: true });

  const started = Date.now();
  const log = (line: string): void => console.error(line);
  const runtime = values["container-runtime"];
  let plane: ControlPlane;
  let nodeNames: string[] = [];
  let realNode: RealNode | undefined;
  if (values["real-node"]) {
    const unavailable =
      realNodeRuntime === "cri-o" ? crioUnavailableReason() : realNodeUnavailableReason(realNodeRuntime);
    if (unavailable) {
      console.error(`harness: ${unavailable}`);
      return 1;
    }
    realNode = await startRealNode({
      runtime: realNodeRuntime,
      dir: join(layout.root, "real-node"),
      featureGates,
      log,
    });
    plane = realNode.plane;
    nodeNames = [`${realNode.nodeName} (real, ${realNode.containerRuntimeVersion})`];
  } else if (values.full) {
    const full = await startControlPlane({
      full: true,
      kubernetesVersion,
      featureGates,
      dir: layout.dir,
      log,
      ...(runtime ? { nodeTemplate: { containerRuntimeVersion: runtime } } : {}),
    });
    plane = full;
    try {
      nodeNames = (await full.createFakeNodes(nodes)).map((n) => n.metadata?.name ?? "?");
    } catch (err) {
      await full.stop();
      throw err;
    }
  } else {
    plane = await startControlPlane({ kubernetesVersion, featureGates, dir: layout.dir, log });
  }
  // Written before detach(): if writing fails, the exit hooks still take the processes down.
  await copyFile(plane.kubeconfigPath, layout.kubeconfigPath);
  const state: HarnessState = {
    format: 1,
    startedAt: new Date(started).toISOString(),
    startupMs: Date.now() - started,
    full: plane.full,
    featureGates: { ...plane.featureGates },
    server: plane.server,
    version: plane.version,
    kubeconfigPath: layout.kubeconfigPath,
    caPath: `${plane.dir}/pki/ca.crt`,
    dir: plane.dir,
    ...(realNode && {
      realNode: {
        runtime: realNode.runtime,
        registry: realNode.registry,
        ledgerPath: join(realNode.dir, "real-node.json"),
        node: realNode.nodeName,
      },
    }),
    components: plane.components.map((c) => ({
      name: c.name,
      pid: c.pid,
      ...(c.startTime === undefined ? {} : { startTime: c.startTime }),
      ...(c.port === undefined ? {} : { port: c.port }),
      logPath: c.logPath,
    })),
  };
  await writeState(layout, state);
  if (realNode) await realNode.detach();
  else await plane.detach();

  console.log(
    `control plane ${plane.version} is up at ${plane.server} (took ${(state.startupMs / 1000).toFixed(1)} s)`,
  );
  for (const c of state.components)
    console.log(`  ${c.name.padEnd(24)} pid ${String(c.pid).padEnd(8)} ${c.port ? `port ${c.port}` : ""}`);
  if (realNode) {
    console.log(`  node: ${nodeNames.join(", ")}`);
    console.log(`  registry the node trusts (plain HTTP): ${realNode.registry}`);
  } else if (nodeNames.length > 0) console.log(`  fake nodes: ${nodeNames.join(", ")}`);
  console.log(`
use it:
  export KUBECONFIG=${layout.kubeconfigPath}
  kubectl get nodes
logs:  ${plane.dir}/logs/
stop:  npm run harness -- down`);
  return 0;
}

async function status(layout: StateLayout, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { output: { type: "string" } }, strict: true });
  if (values.output !== undefined && values.output !== "json")
    throw new UsageError(`--output must be json, got '${values.output}'`);
  const state = await readState(layout);
  if (values.output === "json") return statusJson(layout, state);
  if (!state) {
    console.log(`harness: not running (no ${layout.statePath})`);
    return 1;
  }
  let healthy = true;
  console.log(
    `control plane started ${state.startedAt} (up took ${(state.startupMs / 1000).toFixed(1)} s)${state.full ? ", full" : ""}`,
  );
  if (Object.keys(state.featureGates).length > 0) {
    console.log(
      `feature gates: ${Object.entries(state.featureGates)
        .map(([k, v]) => `${k}=${v}`)
        .join(",")}`,
    );
  }
  for (const c of state.components) {
    const alive = isProcessAlive(c.pid, c.startTime);
    healthy &&= alive;
    console.log(
      `  ${c.name.padEnd(24)} pid ${String(c.pid).padEnd(8)} ${alive ? "running" : "NOT RUNNING"}  ${c.port ? `port ${c.port}  ` : ""}log ${c.logPath}`,
    );
  }
  const caPem = readFileSync(state.caPath, "utf8");
  try {
    const readyz = await httpsGet(`${state.server}/readyz`, { caPem, timeoutMs: 3_000 });
    const version = await httpsGet(`${state.server}/version`, { caPem, timeoutMs: 3_000 });
    const gitVersion = /"gitVersion":\s*"([^"]+)"/.exec(version.body)?.[1] ?? "unknown";
    console.log(
      `${state.server}/readyz: ${readyz.status === 200 ? "ok" : `HTTP ${readyz.status}`}; version ${gitVersion}`,
    );
    healthy &&= readyz.status === 200;
  } catch (err) {
    console.log(`${state.server}/readyz: unreachable (${describeError(err)})`);
    healthy = false;
  }
  if (state.realNode) {
    console.log(`real node ${state.realNode.node} (${state.realNode.runtime})`);
    for (const p of readLedger(state.realNode.ledgerPath)?.processes ?? []) {
      const alive = isProcessAlive(p.pid, p.startTime);
      healthy &&= alive;
      console.log(
        `  ${p.name.padEnd(24)} pid ${String(p.pid).padEnd(8)} ${alive ? "running" : "NOT RUNNING"}  log ${p.logPath}`,
      );
    }
    console.log(`registry the node trusts (plain HTTP): ${state.realNode.registry}`);
  }
  console.log(`export KUBECONFIG=${state.kubeconfigPath}`);
  return healthy ? 0 : 1;
}

function readLedger(path: string): RealNodeLedger | undefined {
  try {
    return RealNodeLedger.parse(JSON.parse(readFileSync(path, "utf8")));
  } catch {
    return undefined;
  }
}

/** `status --output json`: one object for scripts (exit 0 when everything runs, else 1). */
async function statusJson(layout: StateLayout, state: HarnessState | undefined): Promise<number> {
  if (!state) {
    console.log(JSON.stringify({ running: false, statePath: layout.statePath }, null, 2));
    return 1;
  }
  const nodeProcesses = state.realNode ? (readLedger(state.realNode.ledgerPath)?.processes ?? []) : [];
  const components = [...state.components, ...nodeProcesses.map((p) => ({ ...p, port: undefined }))].map(
    (c) => ({
      name: c.name,
      pid: c.pid,
      running: isProcessAlive(c.pid, c.startTime),
      ...(c.port !== undefined && { port: c.port }),
      logPath: c.logPath,
    }),
  );
  const ready = await httpsGet(`${state.server}/readyz`, {
    caPem: readFileSync(state.caPath, "utf8"),
    timeoutMs: 3_000,
  }).then(
    (readyz) => readyz.status === 200,
    () => false,
  );
  const running = ready && components.every((c) => c.running);
  const out = {
    running,
    server: state.server,
    version: state.version,
    kubeconfig: state.kubeconfigPath,
    full: state.full,
    ...(state.realNode && {
      realNode: { node: state.realNode.node, runtime: state.realNode.runtime },
      registry: state.realNode.registry,
    }),
    components,
  };
  console.log(JSON.stringify(out, null, 2));
  return running ? 0 : 1;
}

async function down(layout: StateLayout): Promise<number> {
  const state = await readState(layout);
  if (!state) {
    console.log(`harness: nothing to stop (no ${layout.statePath})`);
    return 0;
  }
  if (state.realNode) {
    const ledger = readLedger(state.realNode.ledgerPath);
    if (!ledger) {
      console.error(
        `harness: ${state.realNode.ledgerPath} is missing or unreadable; cannot undo the real node`,
      );
      return 1;
    }
    const problems = await teardownRealNode(ledger, { log: (line) => console.error(line) });
    await removeState(layout);
    // Like the control plane's folder: everything goes but the logs.
    for (const entry of await readdir(ledger.dir).catch(() => []))
      if (entry !== "logs" && entry !== "control-plane")
        await rm(join(ledger.dir, entry), { recursive: true, force: true });
    if (problems.length > 0) {
      console.log(`harness: down, but these could not be undone:\n  ${problems.join("\n  ")}`);
      return 1;
    }
    console.log(
      `harness: down; the real node's effects on this host are undone; logs kept in ${ledger.dir}/logs/`,
    );
    return 0;
  }
  for (const group of STOP_ORDER) {
    await Promise.all(
      state.components
        .filter((c) => group.includes(c.name))
        .map(async (c) => {
          if (!isProcessAlive(c.pid, c.startTime)) {
            console.log(`  ${c.name}: not running`);
            return;
          }
          const how = await stopProcessGroup(c.pid);
          console.log(`  ${c.name}: stopped (pid ${c.pid}${how === "kill" ? ", needed SIGKILL" : ""})`);
        }),
    );
  }
  await removeState(layout);
  console.log(`harness: down; logs kept in ${state.dir}/logs/`);
  return 0;
}

/** Parses `A=true,B=false` (spaces allowed); throws UsageError on anything else. */
function parseFeatureGates(text: string): Record<string, boolean> {
  const gates: Record<string, boolean> = {};
  for (const item of text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const match = /^([A-Za-z0-9]+)=(true|false)$/.exec(item);
    if (!match?.[1]) throw new UsageError(`--feature-gates: '${item}' is not Name=true|false`);
    gates[match[1]] = match[2] === "true";
  }
  return gates;
}

function noArgs(args: string[]): void {
  if (args.length > 0) throw new UsageError(`unexpected arguments: ${args.join(" ")}`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (
      err instanceof UsageError ||
      (err instanceof TypeError && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS"))
    ) {
      console.error(`harness: ${err.message}\n${USAGE}`);
      process.exit(2);
    }
    console.error(`harness: ${describeError(err)}`);
    process.exit(1);
  },
);
