/**
 * Blast radius of the admission webhook on a real control plane (issue 12 §2): only namespaces
 * that hold a ModelDeployment depend on the operator. The operator process is killed (SIGKILL) and
 * pods are created around it; the webhook's namespaceSelector follows ModelDeployments as they are
 * created and deleted; and the installer-owned configuration (chart, deploy/) gets the operator's
 * webhook, survives re-applies, and stays deleted after an uninstall.
 */
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1MutatingWebhook,
} from "@kubernetes/client-node";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUP, PLURAL, VERSION } from "../../src/api/index.js";
import { createNamespace, rejectionMessage, useControlPlane, waitFor } from "../harness/testing.js";
import { DEPLOY, kubectl } from "../shipping/support.js";
import { installCrd } from "../support/crd.js";
import { startInstalledOperator } from "../support/installed-operator.js";
import { startOperatorProcess, type OperatorProcess } from "../support/operator-process.js";

const plane = useControlPlane();
const URL_CONFIGURATION = "scope-by-url";
const INSTALLED = "modelpack-operator"; // deploy/mutatingwebhookconfiguration.yaml

const admission = (kc: KubeConfig) => kc.makeApiClient(AdmissionregistrationV1Api);
const core = (kc: KubeConfig) => kc.makeApiClient(CoreV1Api);

async function createModelDeployment(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace,
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: "ModelDeployment",
      metadata: { name },
      spec: {
        // Never resolves: the webhook's scope depends on the object, not on its status.
        model: { reference: "127.0.0.1:1/models/none:v1" },
        selector: { matchLabels: { app: name } },
        mount: { path: `/models/${name}` },
      },
    },
  });
}

async function deleteModelDeployment(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  await kc
    .makeApiClient(CustomObjectsApi)
    .deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name });
}

const createPod = (kc: KubeConfig, namespace: string, name: string, app = "llama") =>
  core(kc).createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels: { app } },
      spec: { containers: [{ name: "c", image: "registry.example.com/app@sha256:" + "d".repeat(64) }] },
    },
  });

async function hook(kc: KubeConfig, name: string): Promise<V1MutatingWebhook | undefined> {
  const config = await admission(kc).readMutatingWebhookConfiguration({ name });
  return config.webhooks?.find((w) => w.name === "pods.modelpack.dev");
}

/** The values of the webhook's `kubernetes.io/metadata.name In` requirement. */
async function scope(kc: KubeConfig, name: string): Promise<string[] | undefined> {
  return (await hook(kc, name))?.namespaceSelector?.matchExpressions?.find(
    (e) => e.key === "kubernetes.io/metadata.name" && e.operator === "In",
  )?.values;
}

const waitForScope = (kc: KubeConfig, name: string, what: string, ok: (values: string[]) => boolean) =>
  waitFor(
    what,
    async () => {
      const values = await scope(kc, name);
      return values !== undefined && ok(values) ? values : undefined;
    },
    { timeoutMs: 20_000 },
  );

describe("webhook blast radius", () => {
  let kc: KubeConfig;
  let operator: OperatorProcess | undefined;
  let served: string;
  let plain: string;
  let optedOut: string;

  beforeAll(async () => {
    kc = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kc);
    await core(kc).createNamespace({ body: { metadata: { name: "modelpack-system" } } });
    served = await createNamespace(kc, "served");
    plain = await createNamespace(kc, "plain");
    optedOut = await createNamespace(kc, "opted-out", { "modelpack.dev/webhook": "disabled" });
    await createModelDeployment(kc, served, "llama");
    await createModelDeployment(kc, optedOut, "llama");
    operator = await startOperatorProcess({
      kubeconfigPath: plane().kubeconfigPath,
      plainHttpRegistries: ["127.0.0.1:1"],
      args: [
        "--namespace",
        "modelpack-system",
        "--disable-leader-election",
        "--webhook-configuration-name",
        URL_CONFIGURATION,
        "--webhook-failure-policy",
        "Fail",
      ],
    });
  }, 300_000);

  afterAll(async () => {
    await operator?.stop();
    await admission(kc)
      .deleteMutatingWebhookConfiguration({ name: URL_CONFIGURATION })
      .catch(() => undefined);
  });

  it("intercepts only namespaces that hold a ModelDeployment, never an opted-out one", async () => {
    const values = await waitForScope(kc, URL_CONFIGURATION, "the scope to list the served namespace", (v) =>
      v.includes(served),
    );
    // The opted-out namespace is listed too (the operator does not read namespace labels); the
    // NotIn on the opt-out label keeps it out.
    expect(values).toEqual([optedOut, served].sort());
    expect((await hook(kc, URL_CONFIGURATION))?.namespaceSelector?.matchExpressions).toContainEqual({
      key: "modelpack.dev/webhook",
      operator: "NotIn",
      values: ["disabled"],
    });
  });

  it("follows ModelDeployments as they are created and deleted", async () => {
    const other = await createNamespace(kc, "other");
    await createModelDeployment(kc, other, "a");
    await createModelDeployment(kc, other, "b");
    await waitForScope(kc, URL_CONFIGURATION, "the new namespace in the scope", (v) => v.includes(other));
    await deleteModelDeployment(kc, other, "a");
    // One ModelDeployment is left: the namespace stays.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await scope(kc, URL_CONFIGURATION)).toContain(other);
    await deleteModelDeployment(kc, other, "b");
    const values = await waitForScope(
      kc,
      URL_CONFIGURATION,
      "the namespace to leave the scope",
      (v) => !v.includes(other),
    );
    expect(values).toEqual([optedOut, served].sort());
  });

  it("after SIGKILL: pods elsewhere are created, pods in a namespace with a ModelDeployment are refused (failurePolicy Fail)", async () => {
    const running = operator;
    if (running === undefined) throw new Error("no operator");
    const exited = new Promise((resolve) => running.child.once("exit", resolve));
    running.child.kill("SIGKILL");
    await exited;
    operator = undefined;
    // Nothing answers the webhook now.
    await createPod(kc, plain, "runs-anyway");
    await createPod(kc, "default", "runs-anyway");
    await createPod(kc, optedOut, "opted-out", "llama");
    const refused = await rejectionMessage(() => createPod(kc, served, "needs-its-model"));
    expect(refused).toMatch(/failed calling webhook "pods\.modelpack\.dev"/);
  });
});

describe("the installer-owned configuration (chart, deploy/)", () => {
  let kc: KubeConfig;
  let served: string;
  const manifest = join(DEPLOY, "mutatingwebhookconfiguration.yaml");

  beforeAll(async () => {
    kc = plane().kubeConfig;
    served = await createNamespace(kc, "installed");
    await createModelDeployment(kc, served, "llama");
  });

  it("holds no webhook until the operator adds its own; re-applies keep it; after a delete it is not re-created", async () => {
    const admin = plane().kubeconfigPath;
    await kubectl(admin, ["apply", "--server-side", "-f", manifest]);
    expect(
      (await admission(kc).readMutatingWebhookConfiguration({ name: INSTALLED })).webhooks ?? [],
    ).toEqual([]);
    const operator = await startInstalledOperator({
      kubeconfigPath: admin,
      namespace: "modelpack-system",
      configurationName: INSTALLED,
      service: "modelpack-operator-webhook",
    });
    try {
      await waitForScope(kc, INSTALLED, "the operator's webhook in the installed object", (v) =>
        v.includes(served),
      );
      const added = await hook(kc, INSTALLED);
      expect(added?.clientConfig.service).toMatchObject({
        namespace: "modelpack-system",
        name: "modelpack-operator-webhook",
        path: "/mutate-pods",
      });
      expect(added?.clientConfig.caBundle).toBeTruthy();
      // Re-applying the manifests (server-side without force, then client-side) neither conflicts
      // with nor removes the operator's webhook.
      await kubectl(admin, ["apply", "--server-side", "-f", manifest]);
      await kubectl(admin, ["apply", "-f", manifest]);
      expect(await scope(kc, INSTALLED)).toContain(served);
      // Uninstall: the object goes, and a later change of scope does not bring it back.
      await kubectl(admin, ["delete", "-f", manifest]);
      const later = await createNamespace(kc, "later");
      await createModelDeployment(kc, later, "llama");
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      const list = await admission(kc).listMutatingWebhookConfiguration();
      expect(list.items.map((c) => c.metadata?.name)).not.toContain(INSTALLED);
    } finally {
      await operator.stop();
    }
  });
});
