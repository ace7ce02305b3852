/**
 * The compatibility suite: on a real kube-apiserver of every Kubernetes minor we support (the
 * default one runs the full suite besides), what a user of each version depends on — the CRD
 * with its CEL validation, the dry-run capability probe and the strategy `Auto` picks from it,
 * the admission webhook mounting and refusing, and whether v1 MutatingAdmissionPolicy is served.
 * Each observation is checked against test/compat/compatibility.json, and the README's
 * compatibility table against that record; `UPDATE_COMPATIBILITY=1` rewrites both from what ran.
 * `COMPAT_VERSIONS=1.34,1.37` limits the minors (the record check then covers those only).
 */
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { z } from "zod";
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from "../../src/api/index.js";
import {
  createPolicyInjection,
  removePolicyInjection,
  servesAdmissionPolicies,
} from "../../src/admission-policy/controller.js";
import { CapabilityProbe } from "../../src/controller/capability-probe.js";
import { controllerKubeApi } from "../../src/controller/kube-api.js";
import { decideStrategy } from "../../src/controller/strategy.js";
import type { Mountability } from "../../src/modelpack/index.js";
import { systemClock } from "../../src/runtime/clock.js";
import type { Informer } from "../../src/runtime/informer.js";
import type { KubeObject } from "../../src/runtime/kube-object.js";
import { kubeRequest } from "../../src/runtime/kube-client.js";
import { RULE_CASES, type RuleExample } from "../api/rule-cases.js";
import { pickFreePorts } from "../harness/ports.js";
import {
  createNamespace,
  errorMessage,
  rejectionMessage,
  useControlPlane,
  waitFor,
} from "../harness/testing.js";
import { KUBERNETES_VERSIONS, parseKubernetesVersion, type KubernetesVersion } from "../harness/versions.js";
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
  testLogger,
} from "../webhook/apiserver-support.js";
import { DIGEST, INIT_SETTINGS, readyStatus, REGISTRY } from "../webhook/fixtures.js";
import {
  readRecord,
  README_PATH,
  renderTable,
  tableInReadme,
  withTable,
  writeRecord,
  CompatibilityRecord,
  type VersionResult,
} from "./results.js";

const UPDATE = process.env.UPDATE_COMPATIBILITY === "1";
const VERSIONS: readonly KubernetesVersion[] = process.env.COMPAT_VERSIONS
  ? process.env.COMPAT_VERSIONS.split(",").flatMap((v) => parseKubernetesVersion(v.trim()) ?? [])
  : KUBERNETES_VERSIONS;
const CONFIGURATION = "modelpack-operator-compat";

/** A ModelPack artifact with raw layers and file names: CRI-O ≥ 1.33 mounts it, containerd does not. */
const RAW_LAYERS: Mountability = {
  crio: { mountable: true, minVersion: "1.33.0", reason: "raw layers with file names" },
  containerd: { mountable: false, reason: "containerd mounts only image-shaped artifacts" },
};

const observed: Partial<Record<KubernetesVersion, Partial<VersionResult>>> = {};
let record: CompatibilityRecord = {};

beforeAll(async () => {
  record = UPDATE ? {} : await readRecord();
});

/** Records an observation; outside update mode it must equal the committed record's. */
function observe<K extends keyof VersionResult>(
  version: KubernetesVersion,
  key: K,
  value: VersionResult[K],
): void {
  (observed[version] ??= {})[key] = value;
  if (!UPDATE) {
    expect(
      value,
      `${key} on Kubernetes ${version} (test/compat/compatibility.json; UPDATE_COMPATIBILITY=1 rewrites it)`,
    ).toEqual(record[version]?.[key]);
  }
}

describe.each(VERSIONS)("Kubernetes %s", (version) => {
  const plane = useControlPlane({ kubernetesVersion: version });
  let kubeConfig: KubeConfig;
  let namespace: string;
  let strategy: "ImageVolume" | "InitContainer" = "InitContainer";

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    observe(version, "patch", plane().version);
    await installCrd(plane().kubeconfigPath, kubeConfig);
    await core(kubeConfig).createNamespace({ body: { metadata: { name: OPERATOR_NAMESPACE } } });
    namespace = await createNamespace(kubeConfig, "compat");
  });

  test("serves the CRD, and its CEL rules give every validation example its verdict", async () => {
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    const verdict = async (rule: (typeof RULE_CASES)[number], example: RuleExample) => {
      let message: string | undefined;
      try {
        await custom.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: PLURAL,
          body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: "example" }, spec: example.spec },
          dryRun: "All",
        });
      } catch (err) {
        message = errorMessage(err);
      }
      const rejected = message !== undefined && message.includes(rule.message);
      return rejected === example.valid
        ? [`${rule.id} ${JSON.stringify(example.value)}: ${message ?? "accepted"}`]
        : [];
    };
    const examples = RULE_CASES.flatMap((rule) => rule.examples.map((example) => [rule, example] as const));
    const wrong: string[] = [];
    // Eight dry runs in flight at a time: the examples are independent.
    for (let i = 0; i < examples.length; i += 8) {
      const batch = examples.slice(i, i + 8).map(([rule, example]) => verdict(rule, example));
      wrong.push(...(await Promise.all(batch)).flat());
    }
    expect(wrong).toEqual([]);
    observe(version, "crd", "pass");
  });

  test("the dry-run probe sees whether image volumes are kept, and Auto picks accordingly", async () => {
    const kubeletVersion = plane().version;
    await core(kubeConfig).createNode({
      body: {
        metadata: { name: "crio-node" },
        status: {
          nodeInfo: {
            containerRuntimeVersion: "cri-o://1.34.0",
            kubeletVersion,
            architecture: "amd64",
            bootID: "",
            kernelVersion: "",
            kubeProxyVersion: "",
            machineID: "",
            operatingSystem: "linux",
            osImage: "",
            systemUUID: "",
          },
        },
      },
    });
    const probe = new CapabilityProbe({ kube: controllerKubeApi(kubeConfig), namespace, clock: systemClock });
    const capabilities = await probe.get();
    expect(capabilities.imageVolumeField).not.toBe("unknown");
    expect(capabilities.serverVersion).toBe(plane().version);
    observe(version, "imageVolumeField", capabilities.imageVolumeField === "kept" ? "kept" : "dropped");
    const decision = decideStrategy("Auto", capabilities, RAW_LAYERS);
    strategy = decision.strategy ?? "InitContainer";
    observe(version, "autoStrategy", strategy);
  });

  describe("the webhook", () => {
    let informer: Informer<KubeObject>;
    let webhook: Awaited<ReturnType<typeof startWebhook>> | undefined;
    const stopInformer = new AbortController();
    let informerRunning: Promise<void> | undefined;

    beforeAll(async () => {
      ({ informer, running: informerRunning } = startModelDeploymentInformer(
        kubeConfig,
        undefined,
        stopInformer.signal,
      ));
      await createModelDeployment(kubeConfig, namespace, "llama");
      await createModelDeployment(kubeConfig, namespace, "later"); // never Ready here
      await setStatus(kubeConfig, informer, namespace, "llama", readyStatus({ strategy }));
      const [port = 0] = await pickFreePorts(1);
      webhook = await startWebhook(kubeConfig, informer, { port, configurationName: CONFIGURATION });
    });
    afterAll(async () => {
      await deleteConfiguration(kubeConfig, CONFIGURATION);
      await webhook?.stop();
      stopInformer.abort();
      await informerRunning;
    });

    test("mounts the model at the digest with the strategy Auto picked, and refuses a not-Ready ModelDeployment's pod", async () => {
      const pods = core(kubeConfig);
      // Registration and CA propagation take a moment: dry runs until the first patched answer.
      const stored = await waitFor("the webhook to patch pods", async () => {
        const pod = await pods.createNamespacedPod({
          namespace,
          body: simplePod("llama-0", { app: "llama" }),
          dryRun: "All",
        });
        return modelVolume(pod, "llama") !== undefined ? pod : undefined;
      });
      const created = await pods.createNamespacedPod({
        namespace,
        body: simplePod("llama-0", { app: "llama" }),
      });
      expect(modelVolume(created, "llama")).toEqual(modelVolume(stored, "llama"));
      const reference = `${REGISTRY}/models/llama@${DIGEST}`;
      if (strategy === "ImageVolume") {
        expect(modelVolume(created, "llama")?.image).toEqual({ reference, pullPolicy: "IfNotPresent" });
      } else {
        expect(modelVolume(created, "llama")?.emptyDir).toBeDefined();
        expect(created.spec?.initContainers?.map((c) => c.args?.includes(reference))).toEqual([true]);
      }
      expect(created.spec?.containers[0]?.volumeMounts).toContainEqual(
        // InitContainer mounts the emptyDir's model folder (subPath), an image volume the whole volume.
        expect.objectContaining({
          name: "modelpack-model-llama",
          mountPath: "/models/llama",
          readOnly: true,
        }),
      );
      expect(created.metadata?.annotations?.["modelpack.dev/model.llama"]).toBe(DIGEST);

      const refused = await rejectionMessage(() =>
        pods.createNamespacedPod({ namespace, body: simplePod("later-0", { app: "later" }) }),
      );
      expect(refused).toContain(`ModelDeployment ${namespace}/later selects this pod but is not Ready`);
      observe(version, "webhook", "pass");
    });
  });

  test("discovery says whether v1 MutatingAdmissionPolicy is served", async () => {
    observe(version, "mutatingAdmissionPolicyV1", await servesMutatingAdmissionPolicy(kubeConfig));
    observe(
      version,
      "autoInjection",
      (await servesAdmissionPolicies(kubeConfig)) ? "admission-policy" : "webhook",
    );
  });

  test("admission policies, where served, mount the model at the digest and refuse a not-Ready ModelDeployment's pod", async () => {
    if (!(await servesAdmissionPolicies(kubeConfig))) {
      observe(version, "admissionPolicies", "not served");
      return;
    }
    const policyNamespace = await createNamespace(kubeConfig, "compat-policy");
    const stop = new AbortController();
    const { informer, running: informerRunning } = startModelDeploymentInformer(
      kubeConfig,
      policyNamespace,
      stop.signal,
    );
    const running: Promise<unknown>[] = [informerRunning];
    try {
      await createModelDeployment(kubeConfig, policyNamespace, "llama");
      await createModelDeployment(kubeConfig, policyNamespace, "later"); // never Ready here
      await setStatus(kubeConfig, informer, policyNamespace, "llama", readyStatus({ strategy }));
      const injection = createPolicyInjection({
        kubeConfig,
        logger: testLogger(),
        clock: systemClock,
        informers: [informer],
        store: informer.store,
        settings: INIT_SETTINGS,
      });
      running.push(injection.start(stop.signal));
      const pods = core(kubeConfig);
      const created = await waitFor(
        "the admission policies to mount the model",
        async () => {
          const pod = await pods.createNamespacedPod({
            namespace: policyNamespace,
            body: simplePod("llama-0", { app: "llama" }),
            dryRun: "All",
          });
          return modelVolume(pod, "llama") !== undefined ? pod : undefined;
        },
        { timeoutMs: 30_000 },
      );
      const reference = `${REGISTRY}/models/llama@${DIGEST}`;
      if (strategy === "ImageVolume") {
        expect(modelVolume(created, "llama")?.image).toEqual({ reference, pullPolicy: "IfNotPresent" });
      } else {
        expect(created.spec?.initContainers?.map((c) => c.args?.includes(reference))).toEqual([true]);
      }
      expect(created.metadata?.annotations?.["modelpack.dev/model.llama"]).toBe(DIGEST);
      const refused = await waitFor(
        "the admission policies to refuse a not-Ready ModelDeployment's pod",
        async () =>
          await rejectionMessage(() =>
            pods.createNamespacedPod({
              namespace: policyNamespace,
              body: simplePod("later-0", { app: "later" }),
              dryRun: "All",
            }),
          ).catch(() => undefined),
      );
      expect(refused).toContain(`ModelDeployment ${policyNamespace}/later selects this pod but is not Ready`);
      observe(version, "admissionPolicies", "pass");
    } finally {
      stop.abort();
      await Promise.allSettled(running);
      await removePolicyInjection(kubeConfig);
    }
  });
});

const ApiResourceList = z.looseObject({ resources: z.array(z.looseObject({ name: z.string() })) });

/** Whether discovery of admissionregistration.k8s.io/v1 lists mutatingadmissionpolicies. */
async function servesMutatingAdmissionPolicy(kubeConfig: KubeConfig): Promise<boolean> {
  const list = ApiResourceList.parse(
    await kubeRequest(kubeConfig, { path: "/apis/admissionregistration.k8s.io/v1" }),
  );
  return list.resources.some((r) => r.name === "mutatingadmissionpolicies");
}

describe("the record", () => {
  test("holds what ran, and the README's table is rendered from it", async () => {
    const readme = await readFile(README_PATH, "utf8");
    if (UPDATE) {
      const ran = CompatibilityRecord.parse(observed); // every test of every version ran
      const merged = { ...(await readRecord().catch(() => ({}))), ...ran };
      await writeRecord(merged);
      await writeFile(README_PATH, withTable(readme, renderTable(merged)));
      return;
    }
    for (const version of VERSIONS)
      expect(observed[version], `Kubernetes ${version}`).toEqual(record[version]);
    expect(
      tableInReadme(readme),
      "README.md's compatibility table (UPDATE_COMPATIBILITY=1 rewrites it)",
    ).toBe(renderTable(record));
  });
});
