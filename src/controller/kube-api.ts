/**
 * Everything the controller does against the Kubernetes API, behind one small interface, so the
 * reconciler and its helpers can be unit-tested with a fake and the real one is written once over
 * `kubeRequest` (informers, leader election and watches are separate: `runtime/`).
 *
 * Every method rejects with a KubeApiError (the apiserver's Status, or `Unreachable`) or with
 * the signal's reason; answers are raw JSON, which callers parse with their own zod schemas.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type ModelDeploymentStatus } from "../api/index.js";
import { FIELD_MANAGER, kubeRequest, serverSideApply } from "../runtime/kube-client.js";
import type { PodOwner } from "./rollout.js";

/** The apps/v1 kinds the controller reads (all) and patches (not ReplicaSet). */
type OwnerKind = PodOwner["kind"];

export interface ControllerKubeApi {
  /** GET one Secret by name (the operator never lists or watches Secrets). */
  getSecret(namespace: string, name: string, signal?: AbortSignal): Promise<unknown>;
  /** GET one ConfigMap by name (a signing key or trusted root that spec.model.verify names). */
  getConfigMap(namespace: string, name: string, signal?: AbortSignal): Promise<unknown>;
  /** Server-side apply of a ModelDeployment's status subresource. */
  applyStatus(
    namespace: string,
    name: string,
    status: ModelDeploymentStatus,
    signal?: AbortSignal,
  ): Promise<void>;
  /** POST one core/v1 Event into `namespace`. */
  createEvent(namespace: string, event: unknown): Promise<void>;
  /** GET one apps/v1 workload by name. */
  getWorkload(namespace: string, kind: OwnerKind, name: string, signal?: AbortSignal): Promise<unknown>;
  /** JSON merge patch of one apps/v1 workload, as the operator's field manager. */
  patchWorkload(
    namespace: string,
    kind: OwnerKind,
    name: string,
    patch: unknown,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Server-side dry-run create of a pod (nothing is stored); the apiserver's answer. */
  dryRunCreatePod(namespace: string, pod: unknown): Promise<unknown>;
  /** GET /version. */
  getServerVersion(): Promise<unknown>;
  /** GET the node list. */
  listNodes(): Promise<unknown>;
  /** Server-side apply of a ConfigMap (`configMap.metadata.name` in `namespace`). */
  applyConfigMap(namespace: string, name: string, configMap: unknown, signal?: AbortSignal): Promise<void>;
}

const PLURALS: Record<OwnerKind, string> = {
  ReplicaSet: "replicasets",
  Deployment: "deployments",
  StatefulSet: "statefulsets",
  DaemonSet: "daemonsets",
};

function workloadPath(namespace: string, kind: OwnerKind, name: string): string {
  return `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/${PLURALS[kind]}/${encodeURIComponent(name)}`;
}

/** Server-side apply of a ModelDeployment's status subresource. */
export async function applyStatus(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
  status: ModelDeploymentStatus,
  signal?: AbortSignal,
): Promise<void> {
  await serverSideApply(
    kubeConfig,
    `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}/${name}/status`,
    { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status },
    { signal },
  );
}

/** The controller's API access over `kubeRequest`, authenticated by `kubeConfig`. */
export function controllerKubeApi(kubeConfig: KubeConfig): ControllerKubeApi {
  const withSignal = (signal: AbortSignal | undefined) => (signal !== undefined ? { signal } : {});
  return {
    getSecret: (namespace, name, signal) =>
      kubeRequest(kubeConfig, {
        path: `/api/v1/namespaces/${namespace}/secrets/${name}`,
        ...withSignal(signal),
      }),
    getConfigMap: (namespace, name, signal) =>
      kubeRequest(kubeConfig, {
        path: `/api/v1/namespaces/${namespace}/configmaps/${name}`,
        ...withSignal(signal),
      }),
    applyStatus: (namespace, name, status, signal) =>
      applyStatus(kubeConfig, namespace, name, status, signal),
    async createEvent(namespace, event) {
      await kubeRequest(kubeConfig, {
        method: "POST",
        path: `/api/v1/namespaces/${namespace}/events`,
        body: event,
      });
    },
    getWorkload: (namespace, kind, name, signal) =>
      kubeRequest(kubeConfig, { path: workloadPath(namespace, kind, name), ...withSignal(signal) }),
    async patchWorkload(namespace, kind, name, patch, signal) {
      await kubeRequest(kubeConfig, {
        method: "PATCH",
        path: workloadPath(namespace, kind, name),
        query: { fieldManager: FIELD_MANAGER },
        contentType: "application/merge-patch+json",
        body: patch,
        ...withSignal(signal),
      });
    },
    dryRunCreatePod: (namespace, pod) =>
      kubeRequest(kubeConfig, {
        method: "POST",
        path: `/api/v1/namespaces/${namespace}/pods`,
        query: { dryRun: "All" },
        body: pod,
      }),
    getServerVersion: () => kubeRequest(kubeConfig, { path: "/version/" }),
    listNodes: () => kubeRequest(kubeConfig, { path: "/api/v1/nodes" }),
    async applyConfigMap(namespace, name, configMap, signal) {
      await serverSideApply(kubeConfig, `/api/v1/namespaces/${namespace}/configmaps/${name}`, configMap, {
        signal,
      });
    },
  };
}
