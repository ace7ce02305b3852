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

/** The build-tools.sh tools holding `version`'s kube-apiserver and its kube-controller-manager + kube-scheduler. */
export interface KubernetesTools {
  readonly apiserver: ToolName;
  /** Only a full control plane needs it; for the default minor, the same tool as `apiserver`. */
  readonly controllers: ToolName;
}

export function kubernetesTools(version: KubernetesVersion): KubernetesTools {
  switch (version) {
    case "1.35":
      return { apiserver: "kubernetes", controllers: "kubernetes" };
    case "1.34":
      return { apiserver: "kubernetes-1.34", controllers: "kubernetes-1.34-controllers" };
    case "1.36":
      return { apiserver: "kubernetes-1.36", controllers: "kubernetes-1.36-controllers" };
    case "1.37":
      return { apiserver: "kubernetes-1.37", controllers: "kubernetes-1.37-controllers" };
  }
}

/** The tools a control plane of `version` needs: etcd, the apiserver, and with `full` the controllers and kwok. */
export function controlPlaneTools(version: KubernetesVersion, full: boolean): ToolName[] {
  const { apiserver, controllers } = kubernetesTools(version);
  if (!full) return [apiserver, "etcd"];
  return [...new Set<ToolName>([apiserver, controllers, "etcd", "kwok"])];
}

/** Narrows a user's `--kubernetes-version` (minor, e.g. `1.36`); undefined for anything else. */
export function parseKubernetesVersion(text: string): KubernetesVersion | undefined {
  return KUBERNETES_VERSIONS.find((v) => v === text.replace(/^v/, ""));
}
