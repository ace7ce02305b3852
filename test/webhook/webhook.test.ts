/**
 * The webhook against a real kube-apiserver: registered by URL with its self-managed CA, pods
 * created through the API are mutated, denied or left alone; ModelDeployment statuses are written
 * through the status subresource (no controller here), read by a real informer.
 */
import { AdmissionregistrationV1Api, type KubeConfig } from "@kubernetes/client-node";
import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Informer } from "../../src/runtime/informer.js";
import type { KubeObject } from "../../src/runtime/kube-object.js";
import { DEFAULT_CERTIFICATE_SECRET, splitPem } from "../../src/webhook/index.js";
import { pickFreePorts } from "../harness/ports.js";
import { createNamespace, rejectionMessage, useControlPlane, waitFor } from "../harness/testing.js";
import {
  core,
  createModelDeployment,
  deleteConfiguration,
  installCrd,
  modelVolume,
  OPERATOR_NAMESPACE,
  setStatus,
  simplePod,
  startModelDeploymentInformer,
  startWebhook,
} from "./apiserver-support.js";
import { condition, DIGEST, readyStatus, REGISTRY } from "./fixtures.js";

const plane = useControlPlane();
const CONFIGURATION = "modelpack-operator-test";

describe("the admission webhook against a real apiserver", () => {
  let kubeConfig: KubeConfig;
  let informer: Informer<KubeObject>;
  let namespace: string;
  let port: number;
  let webhook: Awaited<ReturnType<typeof startWebhook>> | undefined;
  const stopInformer = new AbortController();
  let informerRunning: Promise<void>;

  const secretData = async (): Promise<Record<string, string>> => {
    const secret = await core(kubeConfig).readNamespacedSecret({
      namespace: OPERATOR_NAMESPACE,
      name: DEFAULT_CERTIFICATE_SECRET,
    });
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
    );
  };
  const configuration = () =>
    kubeConfig
      .makeApiClient(AdmissionregistrationV1Api)
      .readMutatingWebhookConfiguration({ name: CONFIGURATION });
  const createPod = (name: string, labels: Record<string, string>, ns = namespace) =>
    core(kubeConfig).createNamespacedPod({ namespace: ns, body: simplePod(name, labels) });
  /** Waits until the apiserver calls the webhook and it patches (configuration propagated, CA trusted). */
  const waitUntilPatching = (what: string) =>
    waitFor(what, async () => {
      const pod = await core(kubeConfig).createNamespacedPod({
        namespace,
        body: simplePod("probe", { app: "llama" }),
        dryRun: "All",
      });
      return modelVolume(pod, "llama") !== undefined ? pod : undefined;
    });

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kubeConfig);
    await core(kubeConfig).createNamespace({ body: { metadata: { name: OPERATOR_NAMESPACE } } });
    namespace = await createNamespace(kubeConfig, "serving");
    ({ informer, running: informerRunning } = startModelDeploymentInformer(
      kubeConfig,
      undefined,
      stopInformer.signal,
    ));
    await createModelDeployment(kubeConfig, namespace, "llama");
    await setStatus(kubeConfig, informer, namespace, "llama", readyStatus());
    [port = 0] = await pickFreePorts(1);
    webhook = await startWebhook(kubeConfig, informer, { port, configurationName: CONFIGURATION });
    await waitUntilPatching("the webhook to be registered and trusted");
  });

  afterAll(async () => {
    await deleteConfiguration(kubeConfig, CONFIGURATION);
    await webhook?.stop();
    stopInformer.abort();
    await informerRunning;
  });

  it("registers itself by URL with its CA bundle and safe settings, as field manager modelpack-operator", async () => {
    const config = await configuration();
    const hook = config.webhooks?.[0];
    expect(hook).toMatchObject({
      name: "pods.modelpack.dev",
      failurePolicy: "Fail",
      sideEffects: "None",
      reinvocationPolicy: "IfNeeded",
      timeoutSeconds: 5,
      admissionReviewVersions: ["v1"],
      rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
      namespaceSelector: {
        matchExpressions: [
          {
            key: "kubernetes.io/metadata.name",
            operator: "NotIn",
            values: [OPERATOR_NAMESPACE, "kube-system"],
          },
          { key: "modelpack.dev/webhook", operator: "NotIn", values: ["disabled"] },
          // Only the namespaces that hold ModelDeployments.
          { key: "kubernetes.io/metadata.name", operator: "In", values: [namespace] },
        ],
      },
      clientConfig: { url: `https://127.0.0.1:${port}/mutate-pods` },
    });
    expect(Buffer.from(hook?.clientConfig.caBundle ?? "", "base64").toString("utf8")).toBe(
      (await secretData())["ca.crt"],
    );
    expect(config.metadata?.managedFields?.map((f) => f.manager)).toContain("modelpack-operator");
  });

  it("keeps the CA and serving certificate in a kubernetes.io/tls Secret in the operator's namespace", async () => {
    const secret = await core(kubeConfig).readNamespacedSecret({
      namespace: OPERATOR_NAMESPACE,
      name: DEFAULT_CERTIFICATE_SECRET,
    });
    expect(secret.type).toBe("kubernetes.io/tls");
    const data = await secretData();
    const ca = new X509Certificate(data["ca.crt"] ?? "");
    const leaf = new X509Certificate(data["tls.crt"] ?? "");
    expect(ca.ca).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(leaf.validToDate.getTime() - Date.now()).toBeGreaterThan(300 * 24 * 3600_000);
  });

  it("mounts the model into a pod a Ready ModelDeployment selects: image volume pinned to the digest, read-only mount, annotation", async () => {
    const stored = await createPod("llama-0", { app: "llama" });
    expect(modelVolume(stored, "llama")?.image).toEqual({
      reference: `${REGISTRY}/models/llama@${DIGEST}`,
      pullPolicy: "IfNotPresent",
    });
    expect(stored.spec?.containers[0]?.volumeMounts).toContainEqual({
      name: "modelpack-model-llama",
      mountPath: "/models/llama",
      readOnly: true,
    });
    expect(stored.metadata?.annotations?.["modelpack.dev/model.llama"]).toBe(DIGEST);
    const read = await core(kubeConfig).readNamespacedPod({ namespace, name: "llama-0" });
    expect(modelVolume(read, "llama")?.image?.reference).toBe(`${REGISTRY}/models/llama@${DIGEST}`);
  });

  it("leaves a pod outside the selector, and a matching pod in another namespace, untouched", async () => {
    const outside = await createPod("other-0", { app: "other" });
    expect(outside.spec?.volumes ?? []).toEqual([]);
    expect(outside.metadata?.annotations ?? {}).toEqual({});
    const elsewhere = await createNamespace(kubeConfig, "elsewhere");
    const foreign = await createPod("llama-0", { app: "llama" }, elsewhere);
    expect(foreign.spec?.volumes ?? []).toEqual([]);
  });

  it("never sees pods in the operator's own namespace", async () => {
    await createModelDeployment(kubeConfig, OPERATOR_NAMESPACE, "own"); // never Ready
    await waitFor("the informer to see it", async () =>
      informer.store.get(`${OPERATOR_NAMESPACE}/own`) ? true : undefined,
    );
    const pod = await createPod("own-0", { app: "own" }, OPERATOR_NAMESPACE);
    expect(pod.spec?.volumes ?? []).toEqual([]);
  });

  it("denies a pod a not-Ready ModelDeployment selects, saying which, why and what to do; admits it once Ready", async () => {
    await createModelDeployment(kubeConfig, namespace, "later");
    await waitFor("the informer to see it", async () =>
      informer.store.get(`${namespace}/later`) ? true : undefined,
    );
    const unprocessed = await rejectionMessage(() => createPod("later-0", { app: "later" }));
    expect(unprocessed).toContain(
      `admission webhook "pods.modelpack.dev" denied the request: ModelDeployment ${namespace}/later selects this pod but is not Ready`,
    );
    expect(unprocessed).toContain("the operator has not processed it yet");
    expect(unprocessed).toContain("ReplicaSet");

    const message = "Resolved: registry.example.com: connection refused";
    await setStatus(kubeConfig, informer, namespace, "later", {
      observedGeneration: 1,
      conditions: [
        condition("Resolved", "False", "RegistryUnavailable", "registry.example.com: connection refused"),
        condition("Reconciling", "True", "RegistryUnavailable", message),
        condition("Ready", "False", "RegistryUnavailable", message),
      ],
    });
    expect(await rejectionMessage(() => createPod("later-0", { app: "later" }))).toContain(
      `not Ready: RegistryUnavailable: ${message}. The operator retries on its own`,
    );

    await setStatus(kubeConfig, informer, namespace, "later", readyStatus());
    const admitted = await createPod("later-0", { app: "later" });
    expect(modelVolume(admitted, "later")).toBeDefined();
  });

  it("keeps denying while a ModelDeployment is Stalled on an invalid artifact, with the validation error", async () => {
    await createModelDeployment(kubeConfig, namespace, "invalid");
    const error = `Validated: ${REGISTRY}/models/llama@${DIGEST} fails ModelPack validation: config.paramSize: "8 billion" is not a parameter size`;
    await setStatus(kubeConfig, informer, namespace, "invalid", {
      observedGeneration: 1,
      conditions: [
        condition("Validated", "False", "ValidationFailed", error.replace("Validated: ", "")),
        condition("Stalled", "True", "ValidationFailed", error),
        condition("Ready", "False", "ValidationFailed", error),
      ],
    });
    for (let i = 0; i < 2; i++) {
      const denied = await rejectionMessage(() => createPod("invalid-0", { app: "invalid" }));
      expect(denied).toContain(`Stalled, ValidationFailed: ${error}. This needs someone to act`);
    }
  });

  it("mounts with an init container when the ModelDeployment's strategy is InitContainer", async () => {
    await createModelDeployment(kubeConfig, namespace, "pulled", { strategy: "InitContainer" });
    await setStatus(kubeConfig, informer, namespace, "pulled", readyStatus({ strategy: "InitContainer" }));
    const stored = await createPod("pulled-0", { app: "pulled" });
    expect(modelVolume(stored, "pulled")?.emptyDir).toBeDefined();
    const init = stored.spec?.initContainers?.find((c) => c.name === "modelpack-pull-pulled");
    expect(init?.args?.join(" ")).toContain(`${REGISTRY}/models/llama@${DIGEST}`);
    expect(stored.spec?.containers[0]?.volumeMounts).toContainEqual(
      expect.objectContaining({ name: "modelpack-model-pulled", readOnly: true }),
    );
  });

  it("answers dry-run creates the same way, storing nothing", async () => {
    const dry = await core(kubeConfig).createNamespacedPod({
      namespace,
      body: simplePod("dry-0", { app: "llama" }),
      dryRun: "All",
    });
    expect(modelVolume(dry, "llama")).toBeDefined();
    await expect(core(kubeConfig).readNamespacedPod({ namespace, name: "dry-0" })).rejects.toThrow();
  });

  it("restarts with a renewed serving certificate, and after losing its Secret with a new CA; admission keeps working", async () => {
    const before = await secretData();
    await webhook?.stop();
    webhook = await startWebhook(kubeConfig, informer, {
      port,
      configurationName: CONFIGURATION,
      // A new name to cover: the serving certificate is re-issued from the same CA.
      certificates: { mode: "self-managed", names: { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] } },
    });
    const renewed = await secretData();
    expect(renewed["tls.crt"]).not.toBe(before["tls.crt"]);
    expect(renewed["ca.crt"]).toBe(before["ca.crt"]); // same CA: nothing for the apiserver to learn
    expect(new X509Certificate(renewed["tls.crt"] ?? "").checkHost("localhost")).toBe("localhost");
    await waitUntilPatching("admission after the restart");
    expect(modelVolume(await createPod("restart-0", { app: "llama" }), "llama")).toBeDefined();

    await webhook.stop();
    await core(kubeConfig).deleteNamespacedSecret({
      namespace: OPERATOR_NAMESPACE,
      name: DEFAULT_CERTIFICATE_SECRET,
    });
    webhook = await startWebhook(kubeConfig, informer, { port, configurationName: CONFIGURATION });
    const fresh = await secretData();
    expect(fresh["ca.crt"]).not.toBe(before["ca.crt"]);
    await waitFor("the configuration to carry the new CA", async () => {
      const bundle = (await configuration()).webhooks?.[0]?.clientConfig.caBundle;
      return Buffer.from(bundle ?? "", "base64").toString("utf8") === fresh["ca.crt"] ? true : undefined;
    });
    await waitUntilPatching("admission with the new CA");
    expect(modelVolume(await createPod("restart-1", { app: "llama" }), "llama")).toBeDefined();
  });

  it("rotates serving certificates and the CA while serving, without a failed admission", async () => {
    await webhook?.stop();
    await core(kubeConfig).deleteNamespacedSecret({
      namespace: OPERATOR_NAMESPACE,
      name: DEFAULT_CERTIFICATE_SECRET,
    });
    webhook = await startWebhook(kubeConfig, informer, {
      port,
      configurationName: CONFIGURATION,
      certificates: {
        mode: "self-managed",
        lifetimes: { caValidityMs: 15_000, certValidityMs: 5_000 },
        pollMs: 1_000,
      },
    });
    await waitUntilPatching("admission with short-lived certificates");
    const served = webhook.webhook.server;
    const serials = new Set<string>();
    const cas = new Set<string>();
    const failures: string[] = [];
    const deadline = Date.now() + 25_000;
    for (let i = 0; Date.now() < deadline; i++) {
      const current = served.servingCertificates();
      if (current !== undefined) {
        serials.add(new X509Certificate(current.certPem).serialNumber);
        cas.add(splitPem(current.caPem ?? "")[0] ?? "");
      }
      try {
        const pod = await core(kubeConfig).createNamespacedPod({
          namespace,
          body: simplePod(`rotating-${i}`, { app: "llama" }),
          dryRun: "All",
        });
        if (modelVolume(pod, "llama") === undefined) failures.push(`rotating-${i}: not patched`);
      } catch (err) {
        failures.push(`rotating-${i}: ${err instanceof Error ? err.message : String(err)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(failures).toEqual([]);
    expect(serials.size).toBeGreaterThanOrEqual(4);
    expect(cas.size).toBeGreaterThanOrEqual(2);
  });
});
