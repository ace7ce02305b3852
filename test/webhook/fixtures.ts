/**
 * ModelDeployments, pods and AdmissionReviews for the webhook's unit and integration tests and
 * its benchmark (`startInProcessWebhook`: the real HTTPS server in this process, with a store of
 * N ModelDeployments and a certificate made in-process).
 */
import type { V1Pod } from "@kubernetes/client-node";
import { API_VERSION, KIND, type Condition, type ModelDeploymentStatus } from "../../src/api/index.js";
import type { InitContainerSettings } from "../../src/mount/index.js";
import type { KubeObject } from "../../src/runtime/kube-object.js";
import { silentLogger, type Logger } from "../../src/runtime/logger.js";
import { MemoryStore } from "../../src/runtime/store.js";
import { systemClock } from "../../src/runtime/clock.js";
import { createWebhook, selfSignedServingCertificates, type Webhook } from "../../src/webhook/index.js";
import type { Registry } from "prom-client";

export const DIGEST = `sha256:${"a".repeat(64)}`;
export const OTHER_DIGEST = `sha256:${"b".repeat(64)}`;
export const REGISTRY = "registry.example.com";

export const INIT_SETTINGS: InitContainerSettings = {
  image: `registry.example.com/modelpack/modelpack-operator@sha256:${"c".repeat(64)}`,
  plainHttpRegistries: [],
};

const TIME = "2026-01-01T00:00:00Z";

/** A condition with the fields metav1 requires. */
export function condition(
  type: string,
  status: "True" | "False" | "Unknown",
  reason: string,
  message: string,
  observedGeneration = 1,
): Condition {
  return { type, status, reason, message, observedGeneration, lastTransitionTime: TIME };
}

/** A Ready status for generation `generation`, pinned to `digest`, with `strategy`. */
export function readyStatus(
  options: {
    generation?: number;
    digest?: string;
    repository?: string;
    strategy?: "ImageVolume" | "InitContainer";
    sizeBytes?: number;
  } = {},
): ModelDeploymentStatus {
  const generation = options.generation ?? 1;
  const digest = options.digest ?? DIGEST;
  const strategy = options.strategy ?? "ImageVolume";
  return {
    observedGeneration: generation,
    resolved: {
      reference: `${REGISTRY}/${options.repository ?? "models/llama"}@${digest}`,
      digest,
      shortDigest: digest.slice(0, 19),
      resolvedAt: TIME,
    },
    model: { sizeBytes: options.sizeBytes ?? 1_048_576, layers: 2, files: 2 },
    strategy,
    conditions: [
      condition("Resolved", "True", "Resolved", "resolved", generation),
      condition("Validated", "True", "Validated", "valid", generation),
      condition(
        "MountSupported",
        "True",
        strategy === "ImageVolume" ? "ImageVolumeSupported" : "InitContainerRequested",
        "ok",
        generation,
      ),
      condition("Ready", "True", "Ready", "the model is resolved, valid and mountable", generation),
    ],
  };
}

/** Status of a ModelDeployment whose forced ImageVolume cannot work (gate off): Stalled. */
export function imageVolumeUnsupportedStatus(generation = 1): ModelDeploymentStatus {
  const message =
    "MountSupported: strategy ImageVolume cannot work: the apiserver (v1.35.8) silently drops spec.volumes[].image: " +
    "the ImageVolume feature gate is off; use strategy Auto or InitContainer";
  return {
    observedGeneration: generation,
    resolved: {
      reference: `${REGISTRY}/models/llama@${DIGEST}`,
      digest: DIGEST,
      shortDigest: DIGEST.slice(0, 19),
      resolvedAt: TIME,
    },
    conditions: [
      condition("Resolved", "True", "Resolved", "resolved", generation),
      condition("Validated", "True", "Validated", "valid", generation),
      condition(
        "MountSupported",
        "False",
        "ImageVolumeUnsupported",
        message.replace("MountSupported: ", ""),
        generation,
      ),
      condition("Ready", "False", "ImageVolumeUnsupported", message, generation),
      condition("Stalled", "True", "ImageVolumeUnsupported", message, generation),
    ],
  };
}

export interface ModelDeploymentFixture {
  name: string;
  namespace?: string;
  matchLabels?: Record<string, string>;
  generation?: number;
  status?: ModelDeploymentStatus | undefined;
  mount?: { path?: string; containers?: string[]; subPath?: string };
  pullSecrets?: string[];
  strategy?: "Auto" | "ImageVolume" | "InitContainer";
}

/** A ModelDeployment as the informer caches it (Ready unless `status` says otherwise). */
export function modelDeployment(fixture: ModelDeploymentFixture): KubeObject {
  const generation = fixture.generation ?? 1;
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: fixture.name,
      namespace: fixture.namespace ?? "serving",
      generation,
      resourceVersion: "1",
      uid: `uid-${fixture.name}`,
    },
    spec: {
      model: {
        reference: `${REGISTRY}/models/llama:v1`,
        refreshInterval: "10m",
        ...(fixture.pullSecrets !== undefined && {
          pullSecrets: fixture.pullSecrets.map((name) => ({ name })),
        }),
      },
      selector: { matchLabels: fixture.matchLabels ?? { app: fixture.name } },
      mount: { path: fixture.mount?.path ?? `/models/${fixture.name}`, ...fixture.mount },
      strategy: fixture.strategy ?? "Auto",
      updatePolicy: "Rollout",
    },
    ...("status" in fixture
      ? fixture.status === undefined
        ? {}
        : { status: fixture.status }
      : { status: readyStatus({ generation }) }),
  };
}

/** A store holding `objects`, keyed as the informer keys them. */
export function storeOf(objects: readonly KubeObject[]): MemoryStore<KubeObject> {
  const store = new MemoryStore<KubeObject>();
  for (const object of objects) store.set(`${object.metadata.namespace}/${object.metadata.name}`, object);
  return store;
}

/** A realistic pod of a model server: two containers, probes, resources, env, a config volume. */
export function pod(
  options: { namespace?: string; labels?: Record<string, string>; containers?: string[]; name?: string } = {},
): V1Pod {
  const containers = options.containers ?? ["server", "sidecar"];
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...(options.name !== undefined ? { name: options.name } : { generateName: "llama-server-7d9f8b6c5-" }),
      namespace: options.namespace ?? "serving",
      labels: options.labels ?? { app: "llama", "pod-template-hash": "7d9f8b6c5" },
      annotations: { "prometheus.io/scrape": "true" },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "llama-server-7d9f8b6c5",
          uid: "rs-uid",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      containers: containers.map((name, i) => ({
        name,
        image: `registry.example.com/example/${name}@sha256:${String(i).repeat(64)}`,
        args: ["--port", "8080", "--model", "/models/llama"],
        env: [
          { name: "LOG_LEVEL", value: "info" },
          { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        ],
        ports: [{ containerPort: 8080, name: "http", protocol: "TCP" }],
        resources: {
          requests: { cpu: "2", memory: "8Gi" },
          limits: { memory: "16Gi", "nvidia.com/gpu": "1" },
        },
        readinessProbe: { httpGet: { path: "/health", port: 8080 }, periodSeconds: 10 },
        volumeMounts: [
          { name: "config", mountPath: "/etc/server" },
          {
            name: "kube-api-access-abcde",
            mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
            readOnly: true,
          },
        ],
        terminationMessagePath: "/dev/termination-log",
        terminationMessagePolicy: "File",
        imagePullPolicy: "IfNotPresent",
      })),
      volumes: [
        { name: "config", configMap: { name: "llama-config" } },
        {
          name: "kube-api-access-abcde",
          projected: { sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 3607 } }] },
        },
      ],
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 30,
      dnsPolicy: "ClusterFirst",
      serviceAccountName: "default",
      securityContext: {},
      schedulerName: "default-scheduler",
      tolerations: [
        {
          key: "node.kubernetes.io/not-ready",
          operator: "Exists",
          effect: "NoExecute",
          tolerationSeconds: 300,
        },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: "PreemptLowerPriority",
    },
  };
}

/** An AdmissionReview v1 for a pod CREATE, as the apiserver sends it. */
export function podReview(
  object: V1Pod,
  options: { uid?: string; namespace?: string; operation?: string; dryRun?: boolean; kind?: string } = {},
): Record<string, unknown> {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: options.uid ?? "0e1c1b24-6a2e-4d5c-9a3f-1d2e3f4a5b6c",
      kind: { group: "", version: "v1", kind: options.kind ?? "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      requestKind: { group: "", version: "v1", kind: "Pod" },
      requestResource: { group: "", version: "v1", resource: "pods" },
      namespace: options.namespace ?? object.metadata?.namespace ?? "serving",
      operation: options.operation ?? "CREATE",
      userInfo: {
        username: "system:serviceaccount:kube-system:replicaset-controller",
        uid: "u",
        groups: ["system:serviceaccounts", "system:authenticated"],
      },
      object,
      oldObject: null,
      dryRun: options.dryRun ?? false,
      options: { apiVersion: "meta.k8s.io/v1", kind: "CreateOptions" },
    },
  };
}

/** What `startInProcessWebhook` started. */
export interface InProcessWebhook {
  readonly webhook: Webhook;
  /** `https://127.0.0.1:<port>/mutate-pods`. */
  readonly url: string;
  /** The CA that signed the serving certificate (trust it in the client). */
  readonly caPem: string;
  readonly store: MemoryStore<KubeObject>;
  /** A JSON AdmissionReview body for a realistic pod that exactly one of the ModelDeployments (`md-0`) selects. */
  readonly matchingReviewBody: string;
  /** A JSON AdmissionReview body for a pod that no ModelDeployment selects. */
  readonly unmatchedReviewBody: string;
  stop(): Promise<void>;
}

/**
 * Starts the real webhook (HTTPS on 127.0.0.1, a free port, static in-process certificate, no
 * apiserver) with a store of `count` Ready ModelDeployments in namespace `serving`
 * (`md-0` … `md-<count-1>`, each selecting `app: md-<i>`); the matching review's pod has
 * `app: md-0`. For the webhook benchmark (p50/p99, throughput) and the HTTP tests.
 */
export async function startInProcessWebhook(
  options: { count?: number; logger?: Logger; registry?: Registry; maxBodyBytes?: number } = {},
): Promise<InProcessWebhook> {
  const count = options.count ?? 50;
  const store = storeOf(
    Array.from({ length: count }, (_, i) =>
      modelDeployment({ name: `md-${i}`, mount: { path: `/models/md-${i}` } }),
    ),
  );
  const certificates = selfSignedServingCertificates({ ipAddresses: ["127.0.0.1"] });
  const webhook = createWebhook({
    logger: options.logger ?? silentLogger(),
    clock: systemClock,
    namespace: "modelpack-system",
    store,
    settings: INIT_SETTINGS,
    host: "127.0.0.1",
    port: 0,
    certificates: { mode: "static", certificates },
    ...(options.registry !== undefined && { registry: options.registry }),
    ...(options.maxBodyBytes !== undefined && { maxBodyBytes: options.maxBodyBytes }),
  });
  const stopper = new AbortController();
  const running = webhook.start(stopper.signal);
  const { port } = await Promise.race([
    webhook.address(),
    running.then(() => Promise.reject(new Error("the webhook stopped"))),
  ]);
  return {
    webhook,
    url: `https://127.0.0.1:${port}/mutate-pods`,
    caPem: certificates.caPem,
    store,
    matchingReviewBody: JSON.stringify(
      podReview(pod({ labels: { app: "md-0", "pod-template-hash": "7d9f8b6c5" } })),
    ),
    unmatchedReviewBody: JSON.stringify(podReview(pod({ labels: { app: "unrelated" } }))),
    async stop() {
      stopper.abort();
      await running;
    },
  };
}
