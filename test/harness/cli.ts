/**
 * `npm run harness -- <up|down|status>`: a control plane that outlives the command, for poking at
 * by hand (kubectl, the operator run locally) rather than from tests.
 *
 *   up [--full] [--feature-gates A=false,B=true] [--nodes N] [--container-runtime containerd://2.1.0]
 *   status
 *   down
 *
 * The components are launched directly, each detached in its own session and process group, and
 * `up` exits once /readyz answers; there is no supervisor process. Nothing then sits between the
 * components and the OS that could crash, be killed by a closing terminal, or need a control
 * protocol: `status` and `down` work from the pids and /proc start times in `.harness/state.json`
 * (start times make sure a recycled pid is never signalled). The price is that nothing restarts a
 * component that dies; `status` reports it and `down` + `up` recovers (etcd data is throwaway anyway).
 */
import { copyFile, mkdir, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { describeError } from "../../src/errors.js";
import { STOP_ORDER } from "./components.js";
import { startControlPlane, type ControlPlane } from "./control-plane.js";
import { httpsGet } from "./https.js";
import { isProcessAlive, stopProcessGroup } from "./process.js";
import {
  readState,
  removeState,
  stateLayout,
  writeState,
  type HarnessState,
  type StateLayout,
} from "./state.js";

const USAGE = `usage: npm run harness -- <command>
  up [--full] [--feature-gates A=false,B=true] [--nodes N] [--container-runtime containerd://2.1.0]
        start etcd + kube-apiserver (--full: + controller-manager, scheduler, kwok and N fake nodes, default 2)
  status  show what runs, /readyz and the version
  down    stop everything and remove the state (logs stay in .harness/control-plane/logs)`;

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
      noArgs(rest);
      return status(layout);
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
      "feature-gates": { type: "string" },
      nodes: { type: "string" },
      "container-runtime": { type: "string" },
    },
    strict: true,
  });
  const featureGates = parseFeatureGates(values["feature-gates"] ?? "");
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
  if (values.full) {
    const full = await startControlPlane({
      full: true,
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
    plane = await startControlPlane({ featureGates, dir: layout.dir, log });
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
    components: plane.components.map((c) => ({
      name: c.name,
      pid: c.pid,
      ...(c.startTime === undefined ? {} : { startTime: c.startTime }),
      ...(c.port === undefined ? {} : { port: c.port }),
      logPath: c.logPath,
    })),
  };
  await writeState(layout, state);
  await plane.detach();

  console.log(
    `control plane ${plane.version} is up at ${plane.server} (took ${(state.startupMs / 1000).toFixed(1)} s)`,
  );
  for (const c of state.components)
    console.log(`  ${c.name.padEnd(24)} pid ${String(c.pid).padEnd(8)} ${c.port ? `port ${c.port}` : ""}`);
  if (nodeNames.length > 0) console.log(`  fake nodes: ${nodeNames.join(", ")}`);
  console.log(`
use it:
  export KUBECONFIG=${layout.kubeconfigPath}
  kubectl get nodes
logs:  ${plane.dir}/logs/
stop:  npm run harness -- down`);
  return 0;
}

async function status(layout: StateLayout): Promise<number> {
  const state = await readState(layout);
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
  console.log(`export KUBECONFIG=${state.kubeconfigPath}`);
  return healthy ? 0 : 1;
}

async function down(layout: StateLayout): Promise<number> {
  const state = await readState(layout);
  if (!state) {
    console.log(`harness: nothing to stop (no ${layout.statePath})`);
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
