/**
 * What the cluster can do for image volumes, as the controller observed it. Filled by the
 * capability probe (a server-side dry-run create, the server version, node info); read by the
 * pure strategy decision.
 */
export interface ClusterCapabilities {
  /** Whether a dry-run pod create kept `spec.volumes[].image` (the gate silently drops it when off). */
  readonly imageVolumeField: "kept" | "dropped" | "unknown";
  /** The apiserver's gitVersion, e.g. `v1.35.8`. */
  readonly serverVersion?: string;
  readonly nodes: readonly NodeRuntime[];
}

export interface NodeRuntime {
  readonly name: string;
  /** `node.status.nodeInfo.containerRuntimeVersion`, e.g. `containerd://2.1.0` or `cri-o://1.34.2`. */
  readonly containerRuntimeVersion: string;
  /** `node.status.nodeInfo.kubeletVersion`, e.g. `v1.35.8`. */
  readonly kubeletVersion: string;
}

export type RuntimeName = "containerd" | "cri-o" | "other";

/** Splits `containerd://2.1.0-k3s1` into the runtime and its numeric version. */
export function parseRuntimeVersion(value: string): {
  runtime: RuntimeName;
  version?: readonly number[];
  raw: string;
} {
  const match = /^([a-z0-9-]+):\/\/v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(value);
  const name = match?.[1] ?? value.split("://")[0] ?? "";
  const runtime: RuntimeName = name === "containerd" ? "containerd" : name === "cri-o" ? "cri-o" : "other";
  if (match === null) return { runtime, raw: value };
  return { runtime, version: [Number(match[2]), Number(match[3]), Number(match[4] ?? 0)], raw: value };
}

/** `v1.35.8` → [1, 35, 8]; undefined for anything else. */
export function parseKubernetesVersion(value: string | undefined): readonly number[] | undefined {
  const match = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(value ?? "");
  return match === null ? undefined : [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

/** Compares dotted versions numerically: negative, zero or positive. */
export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** "1.33.0" → [1, 33, 0]. */
export const versionOf = (text: string): number[] => text.replace(/^v/, "").split(".").map(Number);
