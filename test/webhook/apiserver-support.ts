/**
 * What the webhook's apiserver tests share: the CRD, ModelDeployments whose status the test
 * writes through the status subresource (no controller), pods, and a webhook started
 * in-process against the real apiserver and registered by URL.
 */
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Pod,
} from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION, type ModelDeploymentStatus } from "../../src/api/index.js";
import { applyStatus } from "../../src/controller/kube-api.js";
import { systemClock } from "../../src/runtime/clock.js";
import type { Informer } from "../../src/runtime/informer.js";
import { createCustomResourceInformer } from "../../src/runtime/kube-informers.js";
import { KubeObject } from "../../src/runtime/kube-object.js";
import { createLogger } from "../../src/runtime/logger.js";
import type { Store } from "../../src/runtime/store.js";
import {
  createWebhook,
  type CertificateOptions,
  type Webhook,
  type WebhookOptions,
} from "../../src/webhook/index.js";
import { waitFor } from "../harness/testing.js";
import { INIT_SETTINGS, REGISTRY } from "./fixtures.js";

export const OPERATOR_NAMESPACE = "modelpack-system";

export const testLogger = () =>
  createLogger({ level: process.env.TEST_LOG_LEVEL === "debug" ? "debug" : "silent" });

export { CRD, installCrd } from "../support/crd.js";

/** Creates a ModelDeployment selecting `app: <name>` (or `matchLabels`), mounting at /models/<name>. */
export async function createModelDeployment(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
  options: { matchLabels?: Record<string, string>; strategy?: string; reference?: string } = {},
): Promise<void> {
  await createModelDeploymentWithSpec(kubeConfig, namespace, name, {
    model: { reference: options.reference ?? `${REGISTRY}/models/llama:v1` },
    selector: { matchLabels: options.matchLabels ?? { app: name } },
    mount: { path: `/models/${name}` },
    strategy: options.strategy ?? "Auto",
  });
}

/** Creates the ModelDeployment `namespace/name` with `spec` as given. */
export async function createModelDeploymentWithSpec(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  await kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: "ModelDeployment", metadata: { name }, spec },
  });
}

/** Reads the ModelDeployment `namespace/name` as stored (spec, metadata and status). */
export async function readModelDeployment(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
): Promise<unknown> {
  return await kubeConfig
    .makeApiClient(CustomObjectsApi)
    .getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name });
}

/** Writes `status` through the status subresource and waits until `informer` has it. */
export async function setStatus(
  kubeConfig: KubeConfig,
  informer: Informer<KubeObject>,
  namespace: string,
  name: string,
  status: ModelDeploymentStatus,
): Promise<void> {
  await applyStatus(kubeConfig, namespace, name, status);
  const stored = await kubeConfig
    .makeApiClient(CustomObjectsApi)
    .getNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name });
  const resourceVersion = KubeObject.parse(stored).metadata.resourceVersion;
  await waitFor(`the informer to see the status of ${namespace}/${name}`, async () =>
    informer.store.get(`${namespace}/${name}`)?.metadata.resourceVersion === resourceVersion
      ? true
      : undefined,
  );
}

/** A small pod with one container. */
export function simplePod(name: string, labels: Record<string, string>): V1Pod {
  return {
    metadata: { name, labels },
    spec: { containers: [{ name: "server", image: `${REGISTRY}/server@sha256:${"d".repeat(64)}` }] },
  };
}

/** Starts the webhook in-process on 127.0.0.1, registered by URL; resolves once it answers. */
export async function startWebhook(
  kubeConfig: KubeConfig,
  cache: { readonly store: Store<KubeObject>; hasSynced(): boolean },
  options: {
    port?: number;
    certificates?: CertificateOptions;
    configurationName: string;
  } & Partial<WebhookOptions>,
): Promise<{ webhook: Webhook; stop: () => Promise<void> }> {
  const { port = 0, certificates = { mode: "self-managed" }, configurationName, ...rest } = options;
  const webhook = createWebhook({
    kubeConfig,
    logger: testLogger(),
    clock: systemClock,
    namespace: OPERATOR_NAMESPACE,
    store: cache.store,
    hasSynced: () => cache.hasSynced(),
    settings: INIT_SETTINGS,
    host: "127.0.0.1",
    port,
    certificates,
    configuration: {
      name: configurationName,
      clientConfig: { url: "https://127.0.0.1:0/mutate-pods" },
      caPropagationMs: 1_000,
    },
    ...rest,
  });
  const stopper = new AbortController();
  const running = webhook.start(stopper.signal);
  running.catch(() => undefined);
  await Promise.race([
    webhook.address(),
    running.then(() => Promise.reject(new Error("the webhook stopped"))),
  ]);
  return {
    webhook,
    async stop() {
      stopper.abort();
      await running;
    },
  };
}

/** Deletes the configuration (with failurePolicy Fail a stopped webhook would block pod creates). */
export async function deleteConfiguration(kubeConfig: KubeConfig, name: string): Promise<void> {
  await kubeConfig
    .makeApiClient(AdmissionregistrationV1Api)
    .deleteMutatingWebhookConfiguration({ name })
    .catch(() => undefined);
}

/** The model volume the webhook added to a stored pod, if any. */
export function modelVolume(pod: V1Pod, modelDeployment: string) {
  return pod.spec?.volumes?.find((v) => v.name === `modelpack-model-${modelDeployment}`);
}

export const core = (kubeConfig: KubeConfig): CoreV1Api => kubeConfig.makeApiClient(CoreV1Api);

/**
 * A ModelDeployment informer (of `namespace`, or of all), started until `signal` aborts;
 * `running` settles when it has stopped.
 */
export function startModelDeploymentInformer(
  kubeConfig: KubeConfig,
  namespace: string | undefined,
  signal: AbortSignal,
): { informer: Informer<KubeObject>; running: Promise<void> } {
  const informer = createCustomResourceInformer({
    kubeConfig,
    logger: testLogger(),
    clock: systemClock,
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    ...(namespace !== undefined && { namespace }),
  });
  return { informer, running: informer.start(signal).catch(() => undefined) };
}
