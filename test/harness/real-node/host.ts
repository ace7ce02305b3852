/**
 * The real node's effects on the host, each paired with its undo: commands run with a deadline,
 * the node's network namespace and the veth pair into it, its cgroups, the mounts below its
 * folder, the sysctls the kubelet rewrites, and fixed paths the components create. Undo steps
 * never throw: they report what they could not undo, and teardown carries on with the rest.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from "node:fs";
import { mkdir, rmdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HarnessError } from "../errors.js";
import { NODE_NETWORK, SHIM_SOCKET_DIR } from "./configs.js";

const COMMAND_TIMEOUT_MS = 60_000;

/** Runs a command (inside `netns` if given) and returns its stdout; throws with its stderr. */
export function run(
  command: string,
  args: readonly string[],
  options: { netns?: string; timeoutMs?: number; input?: string } = {},
): Promise<string> {
  const [file, argv] = options.netns
    ? ["nsenter", [`--net=${options.netns}`, "--", command, ...args]]
    : [command, [...args]];
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      argv,
      { timeout: options.timeoutMs ?? COMMAND_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const text = `${file} ${argv.join(" ")}: ${stderr.trim() || err.message}`;
          reject(new HarnessError("component-exited", text, { cause: err }));
        } else resolve(stdout);
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

// ---- network ---------------------------------------------------------------------------------

/**
 * Creates the node's network namespace as a bind mount at `netnsPath` (nothing in /run/netns),
 * with a bridge holding the node address and a veth pair to the host; routes the node's subnet
 * from the host through it. Inside, the namespace has no default route, and it may not open
 * connections to the host end of the veth: nothing in it reaches the host's network.
 */
export async function createNodeNetwork(netnsPath: string): Promise<void> {
  const n = NODE_NETWORK;
  const dir = dirname(netnsPath);
  await mkdir(dir, { recursive: true });
  // A namespace can be bind-mounted only onto a file on a private mount.
  await run("mount", ["--bind", dir, dir]);
  await run("mount", ["--make-private", dir]);
  await writeFile(netnsPath, "");
  await run("unshare", [`--net=${netnsPath}`, "true"]);
  const ns = { netns: netnsPath };
  await run("ip", ["link", "set", "lo", "up"], ns);
  await run("ip", ["link", "add", n.bridge, "type", "bridge"], ns);
  await run("ip", ["addr", "add", `${n.nodeAddress}/24`, "dev", n.bridge], ns);
  await run("ip", ["link", "set", n.bridge, "up"], ns);
  await run("ip", ["link", "add", n.hostLink, "type", "veth", "peer", "name", n.nodeLink]);
  await run("ip", ["link", "set", n.nodeLink, "netns", netnsPath]);
  await run("ip", ["addr", "add", `${n.hostLinkAddress}/${n.linkPrefix}`, "dev", n.hostLink]);
  await run("ip", ["link", "set", n.hostLink, "up"]);
  await run("ip", ["addr", "add", `${n.nodeLinkAddress}/${n.linkPrefix}`, "dev", n.nodeLink], ns);
  await run("ip", ["link", "set", n.nodeLink, "up"], ns);
  await run("ip", ["route", "add", n.podSubnet, "via", n.nodeLinkAddress, "dev", n.hostLink]);
  // Processes in the namespace itself (the apiserver calling a webhook Service) need a route to
  // the ClusterIPs for kube-proxy's DNAT to apply: without one, connect() fails first.
  await run("ip", ["route", "add", n.serviceSubnet, "dev", n.bridge], ns);
  // Pods reach the node address through the bridge; forwarding is per namespace.
  await run("sysctl", ["-qw", "net.ipv4.ip_forward=1"], ns);
  for (const chain of ["OUTPUT", "FORWARD"]) {
    await run(
      "iptables",
      ["-w", "-I", chain, "-d", n.hostLinkAddress, "-m", "conntrack", "--ctstate", "NEW", "-j", "REJECT"],
      ns,
    );
  }
}

/** Removes the host end of the veth pair (the namespace's end goes with it). */
export async function deleteHostLink(): Promise<string[]> {
  if (!existsSync(`/sys/class/net/${NODE_NETWORK.hostLink}`)) return [];
  try {
    await run("ip", ["link", "del", NODE_NETWORK.hostLink]);
    return [];
  } catch (err) {
    // Gone meanwhile: the namespace's end takes the pair with it once the namespace is destroyed.
    if (/Cannot find device/.test((err as Error).message)) return [];
    return [`veth ${NODE_NETWORK.hostLink}: ${(err as Error).message}`];
  }
}

/** The inode of a network namespace file or /proc/<pid>/ns/net, or undefined. */
export function netnsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** Pids of every process whose network namespace is the node's, or whose cgroup is below ours. */
export function nodeProcesses(netnsPath: string, cgroupName: string): number[] {
  const inode = netnsInode(netnsPath);
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const link = readlinkSync(`/proc/${pid}/ns/net`);
      if (inode !== undefined && link === `net:[${inode}]`) {
        pids.push(pid);
        continue;
      }
      const cgroups = readFileSync(`/proc/${pid}/cgroup`, "utf8");
      if (cgroups.split("\n").some((line) => line.split(":")[2]?.startsWith(`/${cgroupName}`)))
        pids.push(pid);
    } catch {
      // gone, or a kernel thread
    }
  }
  return pids;
}

/** SIGKILLs every process of the node (see nodeProcesses) until none is left, for at most 10 s. */
export async function killNodeProcesses(netnsPath: string, cgroupName: string): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pids = nodeProcesses(netnsPath, cgroupName);
    if (pids.length === 0) return [];
    if (Date.now() > deadline) return [`processes still running in the node: ${pids.join(", ")}`];
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await sleep(100);
  }
}

// ---- mounts ----------------------------------------------------------------------------------

/** Mount points at or below `prefix`, deepest first (from this process's mountinfo). */
export function mountsBelow(prefix: string): string[] {
  const text = readFileSync("/proc/self/mountinfo", "utf8");
  const points = text
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\040/g, " "))
    .filter((p) => p === prefix || p.startsWith(`${prefix}/`));
  // Deepest first; a point mounted several times is unmounted as often as it appears.
  return points.sort((a, b) => b.split("/").length - a.split("/").length || b.localeCompare(a));
}

/** Unmounts everything at or below `prefix`; a busy mount is detached lazily as a last resort. */
export async function unmountBelow(prefix: string): Promise<string[]> {
  const problems: string[] = [];
  for (let round = 0; round < 5; round++) {
    const points = mountsBelow(prefix);
    if (points.length === 0) return problems;
    for (const point of points) {
      try {
        await run("umount", [point]);
      } catch {
        try {
          await run("umount", ["-l", point]);
        } catch (err) {
          if (round === 4) problems.push(`mount ${point}: ${(err as Error).message}`);
        }
      }
    }
  }
  const left = mountsBelow(prefix);
  return left.length > 0 ? [...problems, `still mounted: ${left.join(", ")}`] : problems;
}

// ---- cgroups ---------------------------------------------------------------------------------

/** Every cgroup hierarchy mounted under /sys/fs/cgroup (v1 controllers, the v2 tree, or just v2). */
export function cgroupHierarchies(): string[] {
  const root = "/sys/fs/cgroup";
  if (existsSync(join(root, "cgroup.controllers"))) return [root]; // pure cgroup v2
  return readdirSync(root)
    .map((name) => join(root, name))
    .filter((path) => existsSync(join(path, "cgroup.procs")));
}

/** Creates `/<name>` in every hierarchy (the kubelet's cgroupRoot must exist). */
export async function createCgroups(name: string): Promise<void> {
  for (const hierarchy of cgroupHierarchies()) {
    const path = join(hierarchy, name);
    await mkdir(path, { recursive: true });
    // A fresh v1 cpuset has no CPUs or memory nodes: inherit the parent's.
    for (const file of ["cpuset.cpus", "cpuset.mems"]) {
      const parent = join(hierarchy, file);
      if (existsSync(parent) && readFileSync(join(path, file), "utf8").trim() === "")
        await writeFile(join(path, file), readFileSync(parent, "utf8"));
    }
  }
}

/** Removes `/<name>` and everything below it from every hierarchy, deepest first. */
export async function removeCgroups(name: string): Promise<string[]> {
  const problems: string[] = [];
  for (const hierarchy of cgroupHierarchies()) {
    const top = join(hierarchy, name);
    if (!existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true }))
        if (entry.isDirectory()) walk(join(dir, entry.name));
      dirs.push(dir);
    };
    walk(top);
    for (const dir of dirs) {
      for (let attempt = 0; ; attempt++) {
        try {
          await rmdir(dir);
          break;
        } catch (err) {
          if (attempt >= 20) {
            problems.push(`cgroup ${dir}: ${(err as Error).message}`);
            break;
          }
          await sleep(100); // a process that just died may still be leaving it
        }
      }
    }
  }
  return problems;
}

// ---- sysctls and fixed paths -------------------------------------------------------------------

/** Host-wide sysctls the kubelet rewrites at start (it has no setting to leave them alone). */
export const KUBELET_SYSCTLS = ["vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops"] as const;

export function readSysctls(names: readonly string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (const name of names) {
    try {
      values[name] = readFileSync(`/proc/sys/${name.replaceAll(".", "/")}`, "utf8").trim();
    } catch {
      // not on this kernel
    }
  }
  return values;
}

export async function restoreSysctls(values: Readonly<Record<string, string>>): Promise<string[]> {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    try {
      await writeFile(`/proc/sys/${name.replaceAll(".", "/")}`, value);
    } catch (err) {
      problems.push(`sysctl ${name}=${value}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/**
 * Paths outside the node's folder that a component creates no matter how it is configured: the
 * kubelet's device-plugin folder and container-log links, libcni's cache, CRI-O's blob-info cache
 * and containerd's shim sockets. Only those missing before start are removed at stop.
 */
export const FIXED_PATHS = [
  "/var/lib/kubelet",
  "/var/log/containers",
  "/var/log/pods",
  "/var/lib/cni",
  "/var/lib/containers",
  "/run/containerd",
  "/run/crio",
  SHIM_SOCKET_DIR,
  "/etc/cni",
  "/opt/cni",
  "/etc/containers",
  "/var/run/crio",
] as const;

export function missingPaths(paths: readonly string[]): string[] {
  return paths.filter((p) => !existsSync(p));
}

export function removePaths(paths: readonly string[]): string[] {
  const problems: string[] = [];
  for (const path of paths) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch (err) {
      problems.push(`${path}: ${(err as Error).message}`);
    }
  }
  return problems;
}
