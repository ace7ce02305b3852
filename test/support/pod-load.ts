/**
 * Many realistic pods in a real apiserver, fast: for the pod-cache fault tests and the memory
 * benchmark. Each pod looks like one a Deployment made (owner ReplicaSet, pod-template-hash,
 * two containers with env, probes, resources, mounts, tolerations, a last-applied annotation)
 * and is about 6.5 KiB as the API serves it (managedFields aside). Pods stay Pending: nothing
 * schedules them.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { randomUUID } from "node:crypto";
import { kubeRequest } from "../../src/runtime/kube-client.js";
import { stripManagedFields } from "../../src/runtime/kube-object.js";

/** A Deployment-made pod body named `name`, labelled `app: <app>`. */
export function realisticPod(name: string, app: string): Record<string, unknown> {
  const env = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({ name: `${prefix}_SETTING_${i}`, value: `value-${i}-${app}` }));
  const container = (containerName: string, image: string, port: number) => ({
    name: containerName,
    image,
    args: ["--port", String(port), "--log-format", "json", "--metrics"],
    ports: [{ name: "http", containerPort: port, protocol: "TCP" }],
    env: [
      ...env(containerName.toUpperCase(), 12),
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
    ],
    resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "1", memory: "1Gi" } },
    volumeMounts: [
      { name: "config", mountPath: "/etc/app" },
      { name: "cache", mountPath: "/var/cache/app" },
      { name: "tls", mountPath: "/etc/tls", readOnly: true },
    ],
    livenessProbe: { httpGet: { path: "/healthz", port }, periodSeconds: 10, failureThreshold: 3 },
    readinessProbe: { httpGet: { path: "/readyz", port }, periodSeconds: 5 },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
    },
  });
  const hash = "5d8f7c9b6";
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      labels: { app, "pod-template-hash": hash, tier: "backend", "app.kubernetes.io/part-of": "load" },
      annotations: {
        "kubectl.kubernetes.io/restartedAt": "2026-12-01T10:00:00Z",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9090",
        "example.com/config-checksum": "a".repeat(64),
        "example.com/deployed-by": JSON.stringify({
          pipeline: "release",
          commit: "f".repeat(40),
          note: "x".repeat(900),
        }),
      },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: `${app}-${hash}`,
          uid: randomUUID(),
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      containers: [
        container("server", "registry.example.com/team/server:1.2.3", 8080),
        container("proxy", "registry.example.com/team/proxy:4.5.6", 9090),
      ],
      volumes: [
        { name: "config", configMap: { name: `${app}-config` } },
        { name: "cache", emptyDir: { sizeLimit: "1Gi" } },
        { name: "tls", secret: { secretName: `${app}-tls` } },
      ],
      tolerations: [
        { key: "example.com/dedicated", operator: "Equal", value: "backend", effect: "NoSchedule" },
      ],
      affinity: {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 100,
              podAffinityTerm: {
                labelSelector: { matchLabels: { app } },
                topologyKey: "kubernetes.io/hostname",
              },
            },
          ],
        },
      },
      securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
      terminationGracePeriodSeconds: 30,
    },
  };
}

/** The result of `createPods`. */
export interface CreatedPods {
  readonly count: number;
  readonly seconds: number;
}

/**
 * Creates `count` realistic pods `<prefix>-<i>` in `namespace` with `concurrency` requests in
 * flight (default 32); pod i is labelled `app: <app(i)>`. Throws on the first failure.
 */
export async function createPods(
  kubeConfig: KubeConfig,
  namespace: string,
  count: number,
  options: {
    prefix?: string;
    app?: (i: number) => string;
    concurrency?: number;
    onProgress?: (done: number) => void;
  } = {},
): Promise<CreatedPods> {
  const prefix = options.prefix ?? "load";
  const app = options.app ?? ((i: number) => `load-${i % 50}`);
  const started = Date.now();
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      await kubeRequest(kubeConfig, {
        method: "POST",
        path: `/api/v1/namespaces/${namespace}/pods`,
        body: realisticPod(`${prefix}-${i}`, app(i)),
      });
      done++;
      if (done % 1000 === 0) options.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 32 }, worker));
  return { count, seconds: (Date.now() - started) / 1000 };
}

/** The size of a pod's JSON as the API serves it, without metadata.managedFields. */
export async function servedPodBytes(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
): Promise<number> {
  const pod = stripManagedFields(
    await kubeRequest(kubeConfig, { path: `/api/v1/namespaces/${namespace}/pods/${name}` }),
  );
  return JSON.stringify(pod).length;
}
