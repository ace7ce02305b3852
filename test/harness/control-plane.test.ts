/**
 * Self-tests of the bare control plane (etcd + kube-apiserver), sharing one start: the version is
 * stamped, CRDs are served and validated, a webhook in this process mutates pods, image volumes
 * survive on a default 1.35 apiserver, and a warm start takes seconds.
 */
import {
  AdmissionregistrationV1Api,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  VersionApi,
  type V1MutatingWebhookConfiguration,
} from "@kubernetes/client-node";
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { z } from "zod";
import { HarnessError } from "./errors.js";
import {
  gadgetCrd,
  imageVolumeOf,
  imageVolumePod,
  MODEL_REFERENCE,
  TEST_GROUP,
} from "./fixtures/resources.js";
import { httpsGet } from "./https.js";
import { createNamespace, rejectionMessage, useControlPlane, waitFor } from "./testing.js";

const run = promisify(execFile);
const controlPlane = useControlPlane();

describe("bare control plane", () => {
  test("a warm start takes seconds", () => {
    const { startupMs } = controlPlane();
    console.log(`warm startControlPlane() (bare) took ${startupMs} ms`);
    expect(startupMs).toBeLessThan(60_000);
  });

  test("the apiserver reports v1.35.8 on /version", async () => {
    const plane = controlPlane();
    expect(plane.version).toBe("v1.35.8");
    const info = await plane.kubeConfig.makeApiClient(VersionApi).getCode();
    expect(info.gitVersion).toBe("v1.35.8");
    expect(`${info.major}.${info.minor}`).toBe("1.35");
    expect(plane.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  test("the apiserver trusts only the harness CA", async () => {
    const plane = controlPlane();
    await expect(httpsGet(`${plane.server}/readyz`)).rejects.toThrow(
      /self.signed|unable to verify|certificate/i,
    );
    const anonymous = await httpsGet(`${plane.server}/api/v1/namespaces`, { caPem: plane.caPem });
    expect(anonymous.status).toBe(403); // RBAC is on: anonymous may probe health, not read objects
  });

  test("a CRD applied with kubectl --server-side is served and validates its OpenAPI schema", async () => {
    const plane = controlPlane();
    const kubectl = (...args: string[]) => run("kubectl", [`--kubeconfig=${plane.kubeconfigPath}`, ...args]);
    const crdFile = fileURLToPath(new URL("./fixtures/widget-crd.yaml", import.meta.url));
    const applied = await kubectl("apply", "--server-side", "--field-manager=harness-test", "-f", crdFile);
    expect(applied.stdout).toContain(`widgets.${TEST_GROUP} serverside-applied`);
    await kubectl("wait", "--for=condition=Established", "--timeout=30s", `crd/widgets.${TEST_GROUP}`);

    const namespace = await createNamespace(plane.kubeConfig, "widgets");
    const widget = (spec: object) =>
      JSON.stringify({ apiVersion: `${TEST_GROUP}/v1alpha1`, kind: "Widget", metadata: { name: "w" }, spec });
    const good = await kubectlApplyStdin(plane.kubeconfigPath, namespace, widget({ size: 3, color: "red" }));
    expect(good.code).toBe(0);
    const bad = await kubectlApplyStdin(
      plane.kubeconfigPath,
      namespace,
      widget({ size: 11, color: "purple" }),
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(
      "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10",
    );
    expect(bad.stderr).toContain(
      'spec.color: Unsupported value: "purple": supported values: "red", "green", "blue"',
    );
    const missing = await kubectlApplyStdin(plane.kubeconfigPath, namespace, widget({ color: "red" }));
    expect(missing.stderr).toContain("spec.size: Required value");
  });

  test("a CRD created with client-node is served and rejects an object missing a required field", async () => {
    const plane = controlPlane();
    const extensions = plane.kubeConfig.makeApiClient(ApiextensionsV1Api);
    await extensions.createCustomResourceDefinition({ body: gadgetCrd() });
    await waitFor("the gadget CRD to be Established", async () => {
      const crd = await extensions.readCustomResourceDefinition({ name: `gadgets.${TEST_GROUP}` });
      return (
        crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") || undefined
      );
    });

    const namespace = await createNamespace(plane.kubeConfig, "gadgets");
    const objects = plane.kubeConfig.makeApiClient(CustomObjectsApi);
    const create = (name: string, spec: object) =>
      objects.createNamespacedCustomObject({
        group: TEST_GROUP,
        version: "v1alpha1",
        namespace,
        plural: "gadgets",
        body: { apiVersion: `${TEST_GROUP}/v1alpha1`, kind: "Gadget", metadata: { name }, spec },
      });
    // The discovery of a fresh CRD's REST endpoint lags Established by a moment.
    await waitFor(
      "a valid gadget to be created",
      async () => (await create("ok", { model: MODEL_REFERENCE })) ?? true,
    );
    const listed = await objects.listNamespacedCustomObject({
      group: TEST_GROUP,
      version: "v1alpha1",
      namespace,
      plural: "gadgets",
    });
    expect(z.object({ items: z.array(z.unknown()) }).parse(listed).items).toHaveLength(1);

    const message = await rejectionMessage(() => create("bad", { replicas: 1 }));
    expect(message).toContain(`Gadget.${TEST_GROUP} "bad" is invalid: spec.model: Required value`);
    const pattern = await rejectionMessage(() => create("bad", { model: "Not A Reference" }));
    expect(pattern).toContain("spec.model: Invalid value");
  });

  test("server-side dry-run keeps an image volume on a default 1.35 apiserver (ImageVolume is on)", async () => {
    const plane = controlPlane();
    const namespace = await createNamespace(plane.kubeConfig, "image-volume");
    const core = plane.kubeConfig.makeApiClient(CoreV1Api);
    const pod = await core.createNamespacedPod({ namespace, body: imageVolumePod("probe"), dryRun: "All" });
    expect(imageVolumeOf(pod)).toEqual({ reference: MODEL_REFERENCE, mountPath: "/models" });
  });

  test("lists its components and serves their log tails", () => {
    const plane = controlPlane();
    expect(plane.full).toBe(false);
    expect(plane.components.map((c) => c.name)).toEqual(["etcd", "kube-apiserver"]);
    expect(plane.logTail("kube-apiserver", 5).split("\n")).toHaveLength(5);
    expect(plane.logTail("kwok")).toBe("");
  });

  test("issueServingCertificate refuses a certificate without SANs", async () => {
    await expect(controlPlane().issueServingCertificate({})).rejects.toBeInstanceOf(HarnessError);
  });
});

describe("a mutating webhook served by the test process on https://127.0.0.1", () => {
  const WEBHOOK_NAME = "harness-label-mutator";
  const MUTATED_LABEL = `${TEST_GROUP}/mutated`;
  let server: Server | undefined;
  let port = 0;
  const requests: { namespace: string | undefined; dryRun: boolean | undefined }[] = [];

  beforeAll(async () => {
    const plane = controlPlane();
    const { certPem, keyPem } = await plane.issueServingCertificate({ ipSans: ["127.0.0.1"] });
    server = createServer({ cert: certPem, key: keyPem }, (req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (body += chunk));
      req.on("end", () => {
        const review = AdmissionReview.parse(JSON.parse(body));
        requests.push({ namespace: review.request.namespace, dryRun: review.request.dryRun });
        const patch = [
          { op: "add", path: `/metadata/labels/${MUTATED_LABEL.replace("/", "~1")}`, value: "true" },
        ];
        res.setHeader("content-type", "application/json");
        res.end(
          JSON.stringify({
            apiVersion: "admission.k8s.io/v1",
            kind: "AdmissionReview",
            response: {
              uid: review.request.uid,
              allowed: true,
              patchType: "JSONPatch",
              patch: Buffer.from(JSON.stringify(patch)).toString("base64"),
            },
          }),
        );
      });
    });
    const listening = server;
    await new Promise<void>((resolve) => listening.listen(0, "127.0.0.1", resolve));
    port = (listening.address() as AddressInfo).port;
  });

  afterAll(async () => {
    // Unregister first: with failurePolicy Fail a dead endpoint would block pod creates in scope.
    await controlPlane()
      .kubeConfig.makeApiClient(AdmissionregistrationV1Api)
      .deleteMutatingWebhookConfiguration({ name: WEBHOOK_NAME })
      .catch(() => undefined);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  test("mutates pods in selected namespaces only, including dry-run creates", async () => {
    const plane = controlPlane();
    const selected = await createNamespace(plane.kubeConfig, "webhook-on", {
      [`${TEST_GROUP}/webhook`]: "on",
    });
    const other = await createNamespace(plane.kubeConfig, "webhook-off");
    const configuration: V1MutatingWebhookConfiguration = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingWebhookConfiguration",
      metadata: { name: WEBHOOK_NAME },
      webhooks: [
        {
          name: `label.${TEST_GROUP}`,
          admissionReviewVersions: ["v1"],
          sideEffects: "None", // required for dry-run requests to be sent to the webhook
          failurePolicy: "Fail",
          timeoutSeconds: 5,
          clientConfig: {
            url: `https://127.0.0.1:${port}/mutate`,
            caBundle: Buffer.from(plane.caPem).toString("base64"),
          },
          rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }],
          namespaceSelector: { matchLabels: { [`${TEST_GROUP}/webhook`]: "on" } },
        },
      ],
    };
    await plane.kubeConfig.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
      body: configuration,
    });

    const core = plane.kubeConfig.makeApiClient(CoreV1Api);
    // The configuration reaches the admission chain through an informer, a moment after the create.
    const mutated = await waitFor("the webhook to mutate a dry-run pod", async () => {
      const pod = await core.createNamespacedPod({
        namespace: selected,
        body: imageVolumePod("p"),
        dryRun: "All",
      });
      return pod.metadata?.labels?.[MUTATED_LABEL] === "true" ? pod : undefined;
    });
    expect(imageVolumeOf(mutated).reference).toBe(MODEL_REFERENCE);
    expect(requests.some((r) => r.namespace === selected && r.dryRun === true)).toBe(true);

    const stored = await core.createNamespacedPod({ namespace: selected, body: imageVolumePod("stored") });
    expect(stored.metadata?.labels?.[MUTATED_LABEL]).toBe("true");

    const untouched = await core.createNamespacedPod({
      namespace: other,
      body: imageVolumePod("p"),
      dryRun: "All",
    });
    expect(untouched.metadata?.labels?.[MUTATED_LABEL]).toBeUndefined();
    expect(requests.every((r) => r.namespace === selected)).toBe(true);
  });

  test("a webhook that is down fails closed, with the apiserver naming the URL", async () => {
    const plane = controlPlane();
    const namespace = await createNamespace(plane.kubeConfig, "webhook-down", {
      [`${TEST_GROUP}/webhook`]: "on",
    });
    const listening = server;
    await new Promise<void>((resolve) => (listening ? listening.close(() => resolve()) : resolve()));
    server = undefined;
    const core = plane.kubeConfig.makeApiClient(CoreV1Api);
    const message = await rejectionMessage(() =>
      core.createNamespacedPod({ namespace, body: imageVolumePod("p"), dryRun: "All" }),
    );
    expect(message).toContain(`failed calling webhook "label.${TEST_GROUP}"`);
    expect(message).toContain(`https://127.0.0.1:${port}/mutate`);
  });
});

const AdmissionReview = z.object({
  apiVersion: z.literal("admission.k8s.io/v1"),
  kind: z.literal("AdmissionReview"),
  request: z.object({ uid: z.string(), namespace: z.string().optional(), dryRun: z.boolean().optional() }),
});

/** `kubectl apply --server-side -f -` with `manifest` on stdin; resolves with the exit code either way. */
function kubectlApplyStdin(
  kubeconfigPath: string,
  namespace: string,
  manifest: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      "kubectl",
      [`--kubeconfig=${kubeconfigPath}`, "-n", namespace, "apply", "--server-side", "-f", "-"],
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(manifest);
  });
}
