/**
 * Fake Nodes for kwok. kwok never creates nodes: we create Node objects carrying the kwok
 * annotation, and kwok keeps them Ready (lease heartbeats) and runs the pods bound to them.
 *
 * nodeInfo: the harness sets `status.nodeInfo` on create (Node create keeps a client-supplied
 * status). kwok's node-initialize stage writes nodeInfo back with `or <existing> <kwok default>`,
 * so every non-empty field we set survives; only empty fields become "kwok-v0.8.0" (versions) or
 * defaults (architecture amd64, operatingSystem linux). This is what lets the operator's capability
 * detection be tested against `containerd://2.1.0`, `cri-o://1.34.0`, old kubelets and so on.
 */
import {
  CoreV1Api,
  type KubeConfig,
  type V1Node,
  type V1NodeSystemInfo,
  type V1Taint,
} from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { KWOK_NODE_ANNOTATION, KWOK_NODE_ANNOTATION_VALUE } from "./components.js";
import { HarnessError } from "./errors.js";

/** What fake nodes look like. Every field has a default (`defaultFakeNodeTemplate`). */
export interface FakeNodeTemplate {
  /** Node names are `<namePrefix><n>`, numbered on from the highest existing one. Default `kwok-node-`. */
  namePrefix: string;
  /** Allocatable = capacity. Default `{ cpu: "32", memory: "256Gi", pods: "110" }`. */
  resources: { cpu: string; memory: string; pods: string } & Record<string, string>;
  /** `status.nodeInfo.containerRuntimeVersion`, e.g. `containerd://2.1.0` or `cri-o://1.34.0`. */
  containerRuntimeVersion: string;
  /** `status.nodeInfo.kubeletVersion`. Default: the apiserver's version, e.g. `v1.35.8`. */
  kubeletVersion: string;
  /** Merged over the well-known labels (hostname, os, arch, `type: kwok`). */
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Default none (the kwok docs' NoSchedule taint only protects real nodes, of which there are none). */
  taints: V1Taint[];
  /** Any other nodeInfo field (osImage, kernelVersion, architecture, …); wins over the fields above. */
  nodeInfo: Partial<V1NodeSystemInfo>;
}

/** The default template: a roomy containerd 2.1 node whose kubelet matches `serverVersion`. */
export function defaultFakeNodeTemplate(serverVersion: string): FakeNodeTemplate {
  return {
    namePrefix: "kwok-node-",
    resources: { cpu: "32", memory: "256Gi", pods: "110" },
    containerRuntimeVersion: "containerd://2.1.0",
    kubeletVersion: serverVersion,
    labels: {},
    annotations: {},
    taints: [],
    nodeInfo: {},
  };
}

/** The Node object for `name` (pure). */
export function fakeNodeManifest(name: string, template: FakeNodeTemplate): V1Node {
  const nodeInfo: V1NodeSystemInfo = {
    architecture: "amd64",
    operatingSystem: "linux",
    osImage: "kwok fake node",
    kernelVersion: "6.1.0-kwok",
    containerRuntimeVersion: template.containerRuntimeVersion,
    kubeletVersion: template.kubeletVersion,
    kubeProxyVersion: "",
    bootID: name,
    machineID: name,
    systemUUID: name,
    ...template.nodeInfo,
  };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { ...template.annotations, [KWOK_NODE_ANNOTATION]: KWOK_NODE_ANNOTATION_VALUE },
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": nodeInfo.operatingSystem,
        "kubernetes.io/arch": nodeInfo.architecture,
        type: "kwok",
        ...template.labels,
      },
    },
    spec: { taints: template.taints },
    status: { allocatable: { ...template.resources }, capacity: { ...template.resources }, nodeInfo },
  };
}

/**
 * Creates `count` fake nodes from `template` and resolves with them once kwok reports every one
 * Ready. `assertHealthy` is called on every poll and may throw (e.g. kwok has exited). Throws
 * HarnessError `nodes-not-ready` after `timeoutMs` (default 60 s); `describeLogs` supplies the log
 * tails for that message (kwok's log is the place to look).
 */
export async function createFakeNodes(
  kubeConfig: KubeConfig,
  count: number,
  template: FakeNodeTemplate,
  options: { timeoutMs?: number; assertHealthy?: () => void; describeLogs?: () => string } = {},
): Promise<V1Node[]> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const existing = await core.listNode();
  const pattern = new RegExp(`^${escapeRegExp(template.namePrefix)}(\\d+)$`);
  const used = existing.items.map((n) => Number(pattern.exec(n.metadata?.name ?? "")?.[1] ?? -1));
  const first = Math.max(-1, ...used) + 1;
  const names = Array.from({ length: count }, (_, i) => `${template.namePrefix}${first + i}`);
  await Promise.all(names.map((name) => core.createNode({ body: fakeNodeManifest(name, template) })));

  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    options.assertHealthy?.();
    const nodes = (await core.listNode()).items.filter((n) => names.includes(n.metadata?.name ?? ""));
    const notReady = nodes.filter((n) => !isNodeReady(n)).map((n) => n.metadata?.name);
    if (nodes.length === count && notReady.length === 0) return nodes;
    if (Date.now() > deadline) {
      throw new HarnessError(
        "nodes-not-ready",
        `fake nodes ${notReady.join(", ")} not Ready after ${timeoutMs} ms (kwok marks them Ready)\n` +
          (options.describeLogs?.() ?? ""),
      );
    }
    await sleep(200);
  }
}

/** True if the node's Ready condition is True. */
export function isNodeReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
