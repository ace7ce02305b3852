/**
 * The Kubernetes minors the harness can run. Each is pinned to one patch release in
 * build-tools.sh and built from its own wrapper module (test/harness/tools/kubernetes[-1.<minor>]/),
 * so several minors sit side by side in the tool cache. The default minor's tool is plain
 * `kubernetes` (kubectl and the real node's kubelet share its wrapper module).
 */
import type { ToolName } from "./tools.js";

/** Minors the harness builds, oldest first. */
export const KUBERNETES_VERSIONS = ["1.34", "1.35", "1.36", "1.37"] as const;
export type KubernetesVersion = (typeof KUBERNETES_VERSIONS)[number];

/** What `startControlPlane` runs unless told otherwise; the full test suite runs on it. */
export const DEFAULT_KUBERNETES_VERSION: KubernetesVersion = "1.35";

/** The build-tools.sh tool holding kube-apiserver, kube-controller-manager and kube-scheduler of `version`. */
export function kubernetesTool(version: KubernetesVersion): ToolName {
  switch (version) {
    case "1.35":
      return "kubernetes";
    case "1.34":
      return "kubernetes-1.34";
    case "1.36":
      return "kubernetes-1.36";
    case "1.37":
      return "kubernetes-1.37";
  }
}

/** Narrows a user's `--kubernetes-version` (minor, e.g. `1.36`); undefined for anything else. */
export function parseKubernetesVersion(text: string): KubernetesVersion | undefined {
  return KUBERNETES_VERSIONS.find((v) => v === text.replace(/^v/, ""));
}
