/**
 * Where the harness's Go binaries come from: `KUBEBUILDER_ASSETS` when it holds them (the envtest
 * convention, e.g. prebuilt binaries in CI), otherwise build-tools.sh, which builds each pinned
 * tool once into a cache outside the repository and afterwards just prints the cached folder.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { HarnessError } from "./errors.js";

/** The tools build-tools.sh knows. */
export type ToolName =
  | "kubernetes"
  // Other Kubernetes minors than the default (versions.ts): kube-apiserver, and separately the
  // controller-manager and scheduler (only a full control plane needs them).
  | "kubernetes-1.34"
  | "kubernetes-1.36"
  | "kubernetes-1.37"
  | "kubernetes-1.34-controllers"
  | "kubernetes-1.36-controllers"
  | "kubernetes-1.37-controllers"
  | "etcd"
  | "kwok"
  | "olareg"
  | "oras"
  | "modctl"
  | "helm"
  | "registry"
  | "htpasswd"
  | "argocd-lua"
  | "cosign"
  // The real node's parts (real-node.ts; built on first use, never by default).
  | "kubelet"
  | "containerd"
  | "cni-plugins"
  | "pause"
  | "crio";

/** Files each tool's folder must contain. kwok v0.8 has no built-in stages, hence its stages file. */
export const TOOL_FILES: Readonly<Record<ToolName, readonly string[]>> = {
  kubernetes: ["kube-apiserver", "kube-controller-manager", "kube-scheduler"],
  "kubernetes-1.34": ["kube-apiserver"],
  "kubernetes-1.36": ["kube-apiserver"],
  "kubernetes-1.37": ["kube-apiserver"],
  "kubernetes-1.34-controllers": ["kube-controller-manager", "kube-scheduler"],
  "kubernetes-1.36-controllers": ["kube-controller-manager", "kube-scheduler"],
  "kubernetes-1.37-controllers": ["kube-controller-manager", "kube-scheduler"],
  etcd: ["etcd"],
  kwok: ["kwok", "kwok-stages.yaml"],
  olareg: ["olareg"],
  oras: ["oras"],
  modctl: ["modctl"],
  helm: ["helm"],
  registry: ["registry"],
  htpasswd: ["htpasswd"],
  "argocd-lua": ["argocd-lua"],
  cosign: ["cosign"],
  kubelet: ["kubelet", "kube-proxy"],
  containerd: ["containerd", "ctr", "containerd-shim-runc-v2"],
  "cni-plugins": ["bridge", "host-local", "loopback"],
  pause: ["pause"],
  crio: ["crio", "pinns"],
};

export interface EnsureToolsOptions {
  /** Receives build-tools.sh's progress lines (stderr). Default: written to our stderr. */
  log?: (line: string) => void;
  /** Default: process.env. Read for KUBEBUILDER_ASSETS and passed to build-tools.sh. */
  env?: NodeJS.ProcessEnv;
  /**
   * The files actually needed per tool (default TOOL_FILES), e.g. `{ kubernetes: ["kube-apiserver"] }`
   * for a bare control plane, so that an envtest-style KUBEBUILDER_ASSETS (kube-apiserver, etcd,
   * kubectl) is enough.
   */
  files?: Partial<Record<ToolName, readonly string[]>>;
}

/** How long to keep reading build-tools.sh's output after it exited. */
const PIPE_DRAIN_MS = 500;
const BUILD_SCRIPT = fileURLToPath(new URL("./build-tools.sh", import.meta.url));

/**
 * Returns the folder holding each named tool's files. A tool whose files are all in
 * `$KUBEBUILDER_ASSETS` is taken from there; the rest come from build-tools.sh (instant when warm,
 * many minutes on a cold cache). Throws HarnessError `tool-build-failed` with the script's last
 * output lines if a build fails, or `tool-missing` if a folder lacks an expected file.
 */
export async function ensureTools<T extends ToolName>(
  names: readonly T[],
  options: EnsureToolsOptions = {},
): Promise<Record<T, string>> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const folders = new Map<T, string>();
  const assets = env.KUBEBUILDER_ASSETS;
  const toBuild: T[] = [];
  const needed = (name: ToolName): readonly string[] => options.files?.[name] ?? TOOL_FILES[name];
  for (const name of names) {
    // The assets folder holds one Kubernetes version: the default's (other minors are always built).
    const versioned = name.startsWith("kubernetes-");
    if (assets && !versioned && needed(name).every((f) => existsSync(join(assets, f))))
      folders.set(name, assets);
    else toBuild.push(name);
  }
  if (assets && toBuild.length > 0) {
    log(`harness: KUBEBUILDER_ASSETS=${assets} lacks ${toBuild.join(", ")}; using build-tools.sh for those`);
  }
  if (toBuild.length > 0) {
    const built = await runBuildScript(toBuild, env, log);
    if (built.code !== 0 || built.folders.length !== toBuild.length) {
      throw new HarnessError(
        "tool-build-failed",
        `${BUILD_SCRIPT} ${toBuild.join(" ")} exited with ${built.code}; last output:\n${built.recent.join("\n")}`,
      );
    }
    toBuild.forEach((name, i) => folders.set(name, built.folders[i] ?? ""));
  }
  const result: Partial<Record<T, string>> = {};
  for (const name of names) {
    const folder = folders.get(name) ?? "";
    const missing = needed(name).filter((f) => !existsSync(join(folder, f)));
    if (missing.length > 0) {
      throw new HarnessError(
        "tool-missing",
        `tool ${name}: ${missing.join(", ")} not found in '${folder}' (from ${folder === assets ? "KUBEBUILDER_ASSETS" : BUILD_SCRIPT})`,
      );
    }
    result[name] = folder;
  }
  return result as Record<T, string>; // every name was set in the loop above
}

/** Runs build-tools.sh; `folders` are its stdout lines, `recent` its last stderr lines. */
async function runBuildScript(
  names: readonly ToolName[],
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<{ code: number | null; folders: string[]; recent: string[] }> {
  const child = spawn("bash", [BUILD_SCRIPT, ...names], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  const recent: string[] = [];
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  let partial = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      log(line);
      recent.push(line);
      if (recent.length > 30) recent.shift();
    }
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", resolve);
  });
  // A background child of the script (its progress ticker's `sleep`) can hold the pipes open long
  // after the script exited; read what is buffered, then stop waiting for the pipes to close.
  await Promise.race([
    new Promise((resolve) => child.once("close", resolve)),
    sleep(PIPE_DRAIN_MS).then(() => {
      child.stdout.destroy();
      child.stderr.destroy();
    }),
  ]);
  if (partial) recent.push(partial);
  return { code, folders: stdout.split("\n").filter((line) => line.trim() !== ""), recent };
}
