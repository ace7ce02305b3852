/**
 * Shared pieces of the real-node tests: one real node per test file (root only; otherwise the
 * file is skipped with the reason), kubectl against it, pods whose logs are the evidence, and a
 * snapshot of everything on the host a real node could leave behind.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, onTestFailed } from "vitest";
import {
  crioUnavailableReason,
  realNodeUnavailableReason,
  startRealNode,
  type RealNode,
} from "../harness/real-node/real-node.js";
import type { RuntimeName } from "../harness/real-node/configs.js";
import { FIXED_PATHS, cgroupHierarchies } from "../harness/real-node/host.js";
import { waitFor } from "../harness/testing.js";
import { run, type RunResult } from "../shipping/support.js";

/** Why this machine cannot run the tests of `runtime`, or undefined. Printed when they skip. */
export function skipReason(runtime: RuntimeName): string | undefined {
  const reason = runtime === "cri-o" ? crioUnavailableReason() : realNodeUnavailableReason(runtime);
  if (reason) console.warn(`real-node tests (${runtime}) skipped: ${reason}`);
  return reason;
}

/** One real node for the file: started before its tests, stopped (and checked clean) after. */
export function useRealNode(runtime: RuntimeName): () => RealNode {
  let node: RealNode | undefined;
  beforeAll(async () => {
    node = await startRealNode({ runtime, log: () => undefined });
  }, 20 * 60_000);
  afterAll(async () => {
    const problems = await node?.stop();
    if (problems && problems.length > 0) throw new Error(`real node teardown left: ${problems.join("; ")}`);
  }, 120_000);
  return () => {
    if (!node) throw new Error("the real node did not start (see beforeAll's error)");
    const current = node;
    onTestFailed(() => {
      console.error(`real node logs:\n${current.logTails(40)}`);
    });
    return current;
  };
}

/** kubectl against the node's control plane; never throws for a non-zero exit. */
export const kubectl = (node: RealNode, args: readonly string[], input?: string): Promise<RunResult> =>
  run("kubectl", ["--kubeconfig", node.kubeconfigPath, ...args], input === undefined ? {} : { input });

/** Like kubectl, but throws with stderr unless it exits 0; returns stdout. */
export async function kubectlOk(node: RealNode, args: readonly string[], input?: string): Promise<string> {
  const result = await kubectl(node, args, input);
  if (result.code !== 0)
    throw new Error(
      `kubectl ${args.join(" ")} exited with ${result.code}:\n${result.stderr}${result.stdout}`,
    );
  return result.stdout;
}

/** Waits until `kubectl logs` of a pod's container shows `done` (a line the test script prints). */
export async function waitForLogs(
  node: RealNode,
  namespace: string,
  pod: string,
  options: { container?: string; until?: RegExp; timeoutMs?: number } = {},
): Promise<string> {
  let last = "";
  await waitFor(
    `logs of ${namespace}/${pod} to match ${String(options.until ?? /\S/)}`,
    async () => {
      const result = await kubectl(node, [
        "logs",
        "-n",
        namespace,
        pod,
        ...(options.container ? ["-c", options.container] : []),
      ]);
      last = result.stdout;
      return (options.until ?? /\S/).test(last) ? last : undefined;
    },
    { timeoutMs: options.timeoutMs ?? 90_000, intervalMs: 500 },
  ).catch(async (err: unknown) => {
    const describe = await kubectl(node, ["describe", "pod", "-n", namespace, pod]);
    throw new Error(`${(err as Error).message}; last logs:\n${last}\n${describe.stdout}`);
  });
  return last;
}

/** What a real node could leave on the host, as comparable text. */
export interface HostSnapshot {
  mounts: string[];
  links: string[];
  addresses: string[];
  routes: string[];
  iptables: string[];
  cgroups: string[];
  sysctls: string[];
  fixedPaths: string[];
  netns: string[];
  processes: string[];
}

/** Kernel counters that change by themselves; everything else in `sysctl -a` must come back. */
const VOLATILE_SYSCTL =
  /^(kernel\.random\.|kernel\.ns_last_pid|kernel\.pty\.nr|fs\.(dentry-state|inode-nr|inode-state|file-nr|aio-nr)|net\.netfilter\.nf_conntrack_count|kernel\.sched_|vm\.stat|fs\.quota|net\.ipv4\.route\.gc|user\.|kernel\.tainted|net\.ipv6\.conf\.[^.]+\.stable_secret)/;

/** Programs only a real node runs (other tests running meanwhile start etcd, apiservers, registries). */
const NODE_BINARIES = /^(kubelet|kube-proxy|containerd|containerd-shim|ctr|crio|conmon|pinns|pause|runc)$/;

/**
 * The host as a real node could change it. Processes count when they are a node program or name
 * `dir` (the node's folder) on their command line; zombies waiting for init to reap them do not.
 */
export function hostSnapshot(dir?: string): HostSnapshot {
  const sh = (command: string, args: string[]): string[] => {
    try {
      return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
        .split("\n")
        .filter(Boolean);
    } catch {
      return [];
    }
  };
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(" ");
      const separator = fields.indexOf("-");
      return `${fields[4]} ${fields[separator + 1]}`;
    })
    .sort();
  const processes: string[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const comm = readFileSync(`/proc/${entry}/comm`, "utf8").trim();
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (NODE_BINARIES.test(comm) || (dir !== undefined && cmdline.includes(dir)))
        processes.push(`${comm} (${entry})`);
    } catch {
      // gone
    }
  }
  return {
    mounts,
    links: sh("ip", ["-o", "link"]).map((l) => l.split(":")[1]?.trim() ?? l),
    addresses: sh("ip", ["-o", "addr"]).map((l) => l.split(/\s+/).slice(1, 4).join(" ")),
    routes: sh("ip", ["route", "show", "table", "all"]),
    iptables: sh("iptables-save", []).filter((l) => !l.startsWith("#") && !l.startsWith(":")),
    cgroups: cgroupHierarchies().flatMap((h) =>
      readdirSync(h, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => join(h, e.name)),
    ),
    sysctls: sh("sysctl", ["-a"]).filter((l) => !VOLATILE_SYSCTL.test(l)),
    fixedPaths: FIXED_PATHS.filter((p) => existsSync(p)),
    netns: existsSync("/run/netns") ? readdirSync("/run/netns") : [],
    processes: processes.sort(),
  };
}

/** The differences between two snapshots, as "+ added" / "- removed" lines per kind. */
export function snapshotDiff(before: HostSnapshot, after: HostSnapshot): string[] {
  const lines: string[] = [];
  for (const key of Object.keys(before) as (keyof HostSnapshot)[]) {
    const a = new Set(before[key]);
    const b = new Set(after[key]);
    for (const item of b) if (!a.has(item)) lines.push(`${key}: + ${item}`);
    for (const item of a) if (!b.has(item)) lines.push(`${key}: - ${item}`);
  }
  return lines;
}
