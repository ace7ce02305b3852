import { Reason } from "../api/index.js";
import { mountability, type Mountability } from "../modelpack/index.js";
import {
  compareVersions,
  parseKubernetesVersion,
  parseRuntimeVersion,
  versionOf,
  type ClusterCapabilities,
  type NodeRuntime,
} from "./capabilities.js";

export type RequestedStrategy = "Auto" | "ImageVolume" | "InitContainer";
export type EffectiveStrategy = "ImageVolume" | "InitContainer";

/** The outcome for one ModelDeployment: the strategy to use and the MountSupported condition. */
export interface StrategyDecision {
  /** What the webhook applies; undefined when the requested strategy cannot work (pods are refused). */
  readonly strategy?: EffectiveStrategy;
  /** Set when ImageVolume mounts the artifact's image variant (this digest) instead of the artifact. */
  readonly variant?: string;
  readonly mountSupported: {
    readonly status: "True" | "False" | "Unknown";
    readonly reason: Reason;
    readonly message: string;
  };
}

/** Kubelets before 1.35 have the ImageVolume gate off by default. */
const KUBELET_IMAGE_VOLUME_DEFAULT_ON = [1, 35, 0];
const MAX_NAMED_NODES = 3;

/** Why one node cannot mount this artifact as an image volume, or undefined when it can. */
export function nodeCannotMount(node: NodeRuntime, mount: Mountability): string | undefined {
  const kubelet = parseKubernetesVersion(node.kubeletVersion);
  if (kubelet !== undefined && compareVersions(kubelet, KUBELET_IMAGE_VOLUME_DEFAULT_ON) < 0) {
    return `kubelet ${node.kubeletVersion} has the ImageVolume feature gate off by default`;
  }
  const runtime = parseRuntimeVersion(node.containerRuntimeVersion);
  const outlook =
    runtime.runtime === "cri-o"
      ? mount.crio
      : runtime.runtime === "containerd"
        ? mount.containerd
        : undefined;
  const label = `${runtime.runtime === "other" ? node.containerRuntimeVersion || "an unknown runtime" : `${runtime.runtime} ${runtime.version?.join(".") ?? "(unknown version)"}`}`;
  if (outlook === undefined) return `${label} does not mount OCI artifacts as image volumes`;
  if (!outlook.mountable) return `${label} cannot mount this artifact: ${outlook.reason}`;
  if (runtime.version === undefined) return `${label}: cannot tell whether it mounts this artifact`;
  if (
    outlook.minVersion !== undefined &&
    compareVersions(runtime.version, versionOf(outlook.minVersion)) < 0
  ) {
    return `${label} is older than ${outlook.minVersion}, the first version that mounts this artifact`;
  }
  if (
    outlook.maxVersionExclusive !== undefined &&
    compareVersions(runtime.version, versionOf(outlook.maxVersionExclusive)) >= 0
  ) {
    return `${label} no longer mounts this artifact (${outlook.reason})`;
  }
  return undefined;
}

/**
 * The artifact's image-shaped variant, as the strategy decision weighs it: its digest and how
 * runtimes mount it (`mountability` of its image manifest: an image, which containerd mounts).
 */
export interface VariantOption {
  readonly digest: string;
  readonly mount: Mountability;
}

/** How runtimes mount any image-shaped manifest: what a published variant would give. */
export const IMAGE_MOUNTABILITY: Mountability = mountability({
  schemaVersion: 2,
  config: {
    mediaType: "application/vnd.oci.image.config.v1+json",
    digest: `sha256:${"0".repeat(64)}`,
    size: 2,
  },
  layers: [
    { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: `sha256:${"0".repeat(64)}`, size: 1024 },
  ],
});

/** Groups nodes by the reason they cannot mount, naming a few of each. */
function describeBlockers(blockers: readonly { node: string; reason: string }[]): string {
  const byReason = new Map<string, string[]>();
  for (const b of blockers) byReason.set(b.reason, [...(byReason.get(b.reason) ?? []), b.node]);
  return [...byReason]
    .map(([reason, nodes]) => {
      const named =
        nodes.slice(0, MAX_NAMED_NODES).join(", ") +
        (nodes.length > MAX_NAMED_NODES ? ` and ${nodes.length - MAX_NAMED_NODES} more` : "");
      return `${nodes.length === 1 ? "node" : "nodes"} ${named}: ${reason}`;
    })
    .join("; ");
}

/**
 * Decides the effective mount strategy (pure). ImageVolume needs the apiserver to keep the
 * `image` volume field and every node's kubelet and runtime to mount this artifact; `Auto` falls
 * back to InitContainer otherwise and says why. A forced ImageVolume that cannot work gets
 * MountSupported=False and no strategy, so the webhook refuses pods that would run without
 * their model.
 */
export function decideStrategy(
  requested: RequestedStrategy,
  capabilities: ClusterCapabilities,
  mount: Mountability,
  image: { readonly variant?: VariantOption; readonly publishHint?: string } = {},
): StrategyDecision {
  if (requested === "InitContainer") {
    return {
      strategy: "InitContainer",
      mountSupported: {
        status: "True",
        reason: Reason.InitContainerRequested,
        message: "the model is pulled and verified by an init container into an emptyDir volume",
      },
    };
  }
  let problem: { reason: Reason; message: string } | undefined;
  if (capabilities.imageVolumeField === "dropped") {
    problem = {
      reason: Reason.ImageVolumeUnsupported,
      message: `the apiserver${capabilities.serverVersion !== undefined ? ` (${capabilities.serverVersion})` : ""} silently drops spec.volumes[].image: the ImageVolume feature gate is off`,
    };
  } else if (capabilities.imageVolumeField === "unknown") {
    problem = {
      reason: Reason.Progressing,
      message: "could not yet check whether the apiserver keeps image volumes",
    };
  } else if (capabilities.nodes.length === 0) {
    problem = { reason: Reason.RuntimeCannotMount, message: "no nodes to check the container runtime of" };
  } else {
    const blockers = capabilities.nodes.flatMap((node) => {
      const reason = nodeCannotMount(node, mount);
      return reason === undefined ? [] : [{ node: node.name, reason }];
    });
    const variant = image.variant;
    if (blockers.length > 0 && variant !== undefined) {
      const variantBlockers = capabilities.nodes.flatMap((node) => {
        const reason = nodeCannotMount(node, variant.mount);
        return reason === undefined ? [] : [{ node: node.name, reason: `image variant: ${reason}` }];
      });
      if (variantBlockers.length === 0)
        return {
          strategy: "ImageVolume",
          variant: variant.digest,
          mountSupported: {
            status: "True",
            reason: Reason.ImageVolumeSupported,
            message: `the apiserver keeps image volumes and every node's runtime mounts the artifact's image variant ${variant.digest} (${describeBlockers(blockers)})`,
          },
        };
    }
    // Where every node that cannot mount the artifact would mount an image: say how to get one.
    const hint =
      variant === undefined &&
      image.publishHint !== undefined &&
      blockers.length > 0 &&
      capabilities.nodes
        .filter((n) => blockers.some((b) => b.node === n.name))
        .every((n) => nodeCannotMount(n, IMAGE_MOUNTABILITY) === undefined)
        ? `; publish an image variant (${image.publishHint}) so these nodes mount it as an image volume`
        : "";
    if (blockers.length > 0)
      problem = { reason: Reason.RuntimeCannotMount, message: describeBlockers(blockers) + hint };
  }
  if (problem === undefined) {
    return {
      strategy: "ImageVolume",
      mountSupported: {
        status: "True",
        reason: Reason.ImageVolumeSupported,
        message: "the apiserver keeps image volumes and every node's runtime mounts this artifact",
      },
    };
  }
  if (requested === "Auto") {
    return {
      strategy: "InitContainer",
      mountSupported: {
        status: "True",
        reason: Reason.InitContainerFallback,
        message: `${problem.message}; using InitContainer`,
      },
    };
  }
  // Not probed yet is not a verdict: Unknown keeps the resource Reconciling instead of Stalled.
  const status = problem.reason === Reason.Progressing ? "Unknown" : "False";
  return {
    mountSupported: {
      status,
      reason: problem.reason,
      message: `strategy ImageVolume cannot work: ${problem.message}; use strategy Auto or InitContainer`,
    },
  };
}
