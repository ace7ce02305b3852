import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { z } from "zod";
import type { Clock } from "../runtime/clock.js";
import type { ClusterCapabilities, NodeRuntime } from "./capabilities.js";
import type { ControllerKubeApi } from "./kube-api.js";

/** A name no real pod uses; the probe is a dry run, so nothing is ever stored. */
const PROBE_POD_NAME = "modelpack-operator-image-volume-probe";

/**
 * The pod the probe sends: one image volume mounted by one container. It meets the `restricted`
 * Pod Security level, so that the operator's own namespace (labelled restricted by the chart and
 * deploy/) does not refuse the dry run for reasons that have nothing to do with image volumes.
 */
export function probePod(namespace: string): V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: PROBE_POD_NAME, namespace },
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "probe",
          image: "probe.invalid/probe@sha256:" + "0".repeat(64),
          volumeMounts: [{ name: "model", mountPath: "/model", readOnly: true }],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        },
      ],
      volumes: [
        {
          name: "model",
          image: { reference: "probe.invalid/model@sha256:" + "0".repeat(64), pullPolicy: "IfNotPresent" },
        },
      ],
    },
  };
}

/** What is read of the apiserver's answer to the probe: its volumes and mounts. */
const ProbeAnswer = z.looseObject({
  spec: z
    .looseObject({
      volumes: z
        .array(
          z.looseObject({
            name: z.string(),
            image: z.looseObject({ reference: z.string().optional() }).optional(),
          }),
        )
        .optional(),
      containers: z.array(
        z.looseObject({
          volumeMounts: z.array(z.looseObject({ name: z.string() })).optional(),
        }),
      ),
    })
    .optional(),
});
type ProbeAnswer = z.infer<typeof ProbeAnswer>;

/** What is read of a Node: its name and runtime and kubelet versions. */
const NodeFacts = z.looseObject({
  metadata: z.looseObject({ name: z.string().optional() }).optional(),
  status: z
    .looseObject({
      nodeInfo: z
        .looseObject({
          containerRuntimeVersion: z.string().optional(),
          kubeletVersion: z.string().optional(),
        })
        .optional(),
    })
    .optional(),
});
type NodeFacts = z.infer<typeof NodeFacts>;
const NodeList = z.looseObject({ items: z.array(NodeFacts) });
const VersionInfo = z.looseObject({ gitVersion: z.string() });

/** Whether the apiserver kept the image volume in its answer to the probe (pure). */
export function keptImageVolume(answer: V1Pod | ProbeAnswer): boolean {
  const volume = answer.spec?.volumes?.find((v) => v.name === "model");
  const mounted =
    answer.spec?.containers.some((c) => c.volumeMounts?.some((m) => m.name === "model")) ?? false;
  return volume?.image?.reference !== undefined && mounted;
}

/** Node runtime facts from Node objects (pure). */
export function nodeRuntimes(nodes: readonly (V1Node | NodeFacts)[]): NodeRuntime[] {
  return nodes.map((node) => ({
    name: node.metadata?.name ?? "",
    containerRuntimeVersion: node.status?.nodeInfo?.containerRuntimeVersion ?? "",
    kubeletVersion: node.status?.nodeInfo?.kubeletVersion ?? "",
  }));
}

export interface CapabilityProbeOptions {
  readonly kube: Pick<ControllerKubeApi, "dryRunCreatePod" | "getServerVersion" | "listNodes">;
  /** Where the dry-run probe pod is "created" (the operator's own namespace). */
  readonly namespace: string;
  readonly clock: Clock;
  /** How long a probe result is trusted. Default 5 minutes. */
  readonly refreshMs?: number;
  /** Node list source; defaults to listing nodes (an informer's store can be passed instead). */
  readonly listNodes?: () => Promise<readonly V1Node[]> | readonly V1Node[];
}

/**
 * Detects what the cluster can do for image volumes: a server-side dry-run create of a probe pod
 * with an image volume (the apiserver silently drops the field when the ImageVolume gate is off;
 * nothing is stored), the server version, and each node's runtime and kubelet versions. Results
 * are cached for `refreshMs`; concurrent callers share one probe. A failed probe reports
 * `imageVolumeField: "unknown"` rather than throwing, so reconciles go on.
 */
export class CapabilityProbe {
  readonly #options: CapabilityProbeOptions;
  #cached: { value: ClusterCapabilities; at: number } | undefined;
  #running: Promise<ClusterCapabilities> | undefined;

  constructor(options: CapabilityProbeOptions) {
    this.#options = options;
  }

  /** The capabilities, probing again once the cached result is older than `refreshMs`. */
  async get(): Promise<ClusterCapabilities> {
    const now = this.#options.clock.now();
    if (this.#cached !== undefined && now - this.#cached.at < (this.#options.refreshMs ?? 300_000))
      return this.#cached.value;
    this.#running ??= this.#probe().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** Forgets the cached result (e.g. when nodes change), so the next `get` probes. */
  invalidate(): void {
    this.#cached = undefined;
  }

  async #probe(): Promise<ClusterCapabilities> {
    const { kube, namespace } = this.#options;
    const [field, version, nodes] = await Promise.all([
      kube
        .dryRunCreatePod(namespace, probePod(namespace))
        .then((answer): ClusterCapabilities["imageVolumeField"] =>
          keptImageVolume(ProbeAnswer.parse(answer)) ? "kept" : "dropped",
        )
        .catch((): ClusterCapabilities["imageVolumeField"] => "unknown"),
      kube
        .getServerVersion()
        .then((info) => VersionInfo.parse(info).gitVersion)
        .catch(() => undefined),
      Promise.resolve(
        this.#options.listNodes?.() ?? kube.listNodes().then((list) => NodeList.parse(list).items),
      ).catch((): readonly NodeFacts[] => []),
    ]);
    const value: ClusterCapabilities = {
      imageVolumeField: field,
      ...(version !== undefined && { serverVersion: version }),
      nodes: nodeRuntimes(nodes),
    };
    if (field !== "unknown") this.#cached = { value, at: this.#options.clock.now() };
    return value;
  }
}
