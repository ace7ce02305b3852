/**
 * One source of truth, two paths: on a real kube-apiserver 1.37, the same ModelDeployments in two
 * namespaces — one served by the admission webhook (in-process, registered by URL), the other by
 * the admission policies that `run --injection admission-policy` maintains (its controller runs
 * in-process) — and every pod of the case table created (dry run) in both. Admitted pods must be
 * identical (volumes compared by name: the order among several ModelDeployments' policies is not
 * stable), refused pods refused by both.
 */
import { CoreV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { GROUP, PLURAL, VERSION, type ModelDeploymentStatus } from "../../src/api/index.js";
import { createPolicyInjection } from "../../src/admission-policy/controller.js";
import { podInjection } from "../../src/admission-policy/injection.js";
import { bindingsFor } from "../../src/admission-policy/policies.js";
import { ModelDeployment } from "../../src/api/index.js";
import { kubeRequest, serverSideApply } from "../../src/runtime/kube-client.js";
import { systemClock } from "../../src/runtime/clock.js";
import type { Informer } from "../../src/runtime/informer.js";
import type { KubeObject } from "../../src/runtime/kube-object.js";
import { createNamespace, errorMessage, useControlPlane, waitFor } from "../harness/testing.js";
import {
  core,
  createModelDeploymentWithSpec,
  startModelDeploymentInformer,
  deleteConfiguration,
  installCrd,
  OPERATOR_NAMESPACE,
  setStatus,
  startWebhook,
  testLogger,
} from "../webhook/apiserver-support.js";
import { condition, INIT_SETTINGS, readyStatus, REGISTRY } from "../webhook/fixtures.js";

const CONFIGURATION = "modelpack-operator-differential";
const SERVER = `${REGISTRY}/server@sha256:${"d".repeat(64)}`;

type Injection = NonNullable<ModelDeploymentStatus["injection"]>;

interface ModelDeploymentCase {
  readonly name: string;
  readonly spec: Record<string, unknown>;
  readonly status: ModelDeploymentStatus;
}

const model = (extra: Record<string, unknown> = {}) => ({
  reference: `${REGISTRY}/models/llama:v1`,
  ...extra,
});

/** The ModelDeployments, the same in both namespaces. */
const MODEL_DEPLOYMENTS: readonly ModelDeploymentCase[] = [
  {
    name: "iv",
    spec: {
      model: model({ pullSecrets: [{ name: "creds" }] }),
      selector: { matchLabels: { iv: "yes" } },
      mount: { path: "/models/iv" },
      strategy: "ImageVolume",
    },
    status: readyStatus({ strategy: "ImageVolume" }),
  },
  {
    name: "ic",
    spec: {
      model: model({ pullSecrets: [{ name: "creds" }, { name: "more" }] }),
      selector: { matchLabels: { ic: "yes" } },
      mount: { path: "/data/ic", subPath: "weights" },
      strategy: "InitContainer",
    },
    status: readyStatus({ strategy: "InitContainer", sizeBytes: 3 * 1024 ** 3 }),
  },
  {
    name: "only-server",
    spec: {
      model: model(),
      selector: { matchLabels: { only: "yes" } },
      mount: { path: "/models/only", containers: ["server"] },
      strategy: "ImageVolume",
    },
    status: readyStatus({ strategy: "ImageVolume" }),
  },
  {
    name: "broken",
    spec: {
      model: model(),
      selector: { matchLabels: { broken: "yes" } },
      mount: { path: "/models/broken" },
    },
    status: {
      observedGeneration: 1,
      conditions: [
        condition(
          "Resolved",
          "False",
          "ManifestNotFound",
          "tag v1 not found in registry.example.com/models/llama",
        ),
        condition(
          "Ready",
          "False",
          "ManifestNotFound",
          "tag v1 not found in registry.example.com/models/llama",
        ),
      ],
    },
  },
];

const container = (name: string, extra: Record<string, unknown> = {}) => ({ name, image: SERVER, ...extra });
const pod = (
  labels: Record<string, string>,
  spec: Record<string, unknown>,
  annotations?: Record<string, string>,
): V1Pod => ({
  metadata: { name: "probe", labels, ...(annotations !== undefined && { annotations }) },
  spec: { containers: [container("server")], ...spec } as V1Pod["spec"],
});

/** [case, pod, expected outcome, what the policies' refusal says]. */
const CASES: readonly [string, V1Pod, "admitted" | "refused", RegExp?][] = [
  ["ImageVolume, one container", pod({ iv: "yes" }, {}), "admitted"],
  [
    "InitContainer with pull secrets and a sub-path, two containers, the pod's own volume and mount",
    pod(
      { ic: "yes" },
      {
        containers: [
          container("server", { volumeMounts: [{ name: "cache", mountPath: "/cache" }] }),
          container("metrics"),
        ],
        volumes: [{ name: "cache", emptyDir: {} }],
      },
    ),
    "admitted",
  ],
  [
    "spec.mount.containers: only the named container gets the mount",
    pod({ only: "yes" }, { containers: [container("server"), container("sidecar")] }),
    "admitted",
  ],
  [
    "two ModelDeployments select one pod",
    pod({ iv: "yes", ic: "yes" }, { containers: [container("server"), container("worker")] }),
    "admitted",
  ],
  [
    "init containers and a native sidecar get no mount; the pod's own pull secrets and annotations stay",
    pod(
      { iv: "yes" },
      {
        initContainers: [container("setup"), container("proxy", { restartPolicy: "Always" })],
        imagePullSecrets: [{ name: "creds" }, { name: "own" }],
      },
      { "example.com/team": "search" },
    ),
    "admitted",
  ],
  ["a pod no ModelDeployment selects", pod({ other: "yes" }, {}), "admitted"],
  [
    "the pod has its own volume named like the model's",
    pod({ iv: "yes" }, { volumes: [{ name: "modelpack-model-iv", emptyDir: {} }] }),
    "refused",
    /already has a volume named "modelpack-model-iv", which ModelDeployment [a-z0-9-]+\/iv needs for its model; rename the pod's volume/,
  ],
  [
    "the pod already mounts something at the model's path",
    pod(
      { iv: "yes" },
      {
        containers: [container("server", { volumeMounts: [{ name: "cache", mountPath: "/models/iv" }] })],
        volumes: [{ name: "cache", emptyDir: {} }],
      },
    ),
    "refused",
    /ModelDeployment [a-z0-9-]+\/iv mounts its model at \/models\/iv in container "server", which already mounts something else there; change spec.mount.path or the pod/,
  ],
  [
    "the pod mounts something inside the model's path",
    pod(
      { iv: "yes" },
      {
        containers: [
          container("server", { volumeMounts: [{ name: "cache", mountPath: "/models/iv/cache" }] }),
        ],
        volumes: [{ name: "cache", emptyDir: {} }],
      },
    ),
    "refused",
    /in container "server", which has another mount inside that path/,
  ],
  [
    "spec.mount.containers names a container the pod lacks",
    pod({ only: "yes" }, { containers: [container("main")] }),
    "refused",
    /ModelDeployment [a-z0-9-]+\/only-server mounts into container "server", which the pod does not have/,
  ],
  [
    "the ModelDeployment is not Ready",
    pod({ broken: "yes" }, {}),
    "refused",
    /ModelDeployment [a-z0-9-]+\/broken selects this pod but is not Ready: ManifestNotFound/,
  ],
];

/** What admission changed in a pod, without what differs by namespace or request. */
function outcome(created: V1Pod): unknown {
  const spec = created.spec;
  const byName = <T extends { name?: string }>(items: readonly T[] | undefined): T[] =>
    [...(items ?? [])].sort((a, b) => (a.name ?? "").localeCompare(b.name ?? ""));
  return {
    annotations: created.metadata?.annotations ?? {},
    volumes: byName(spec?.volumes),
    initContainers: byName(spec?.initContainers).map((c) => ({
      name: c.name,
      image: c.image,
      args: c.args,
      volumeMounts: c.volumeMounts,
      resources: c.resources,
      securityContext: c.securityContext,
    })),
    containers: spec?.containers.map((c) => ({ name: c.name, volumeMounts: byName(c.volumeMounts) })),
    imagePullSecrets: byName(spec?.imagePullSecrets),
  };
}

describe("webhook and admission policies on Kubernetes 1.37", () => {
  const plane = useControlPlane({ kubernetesVersion: "1.37" });
  let kubeConfig: KubeConfig;
  let viaWebhook: string;
  let viaPolicies: string;
  const stop = new AbortController();
  const running: Promise<unknown>[] = [];
  let webhook: Awaited<ReturnType<typeof startWebhook>> | undefined;

  const informerFor = (namespace: string): Informer<KubeObject> => {
    const started = startModelDeploymentInformer(kubeConfig, namespace, stop.signal);
    running.push(started.running);
    return started.informer;
  };

  beforeAll(async () => {
    kubeConfig = plane().kubeConfig;
    await installCrd(plane().kubeconfigPath, kubeConfig);
    await core(kubeConfig).createNamespace({ body: { metadata: { name: OPERATOR_NAMESPACE } } });
    viaWebhook = await createNamespace(kubeConfig, "webhook");
    viaPolicies = await createNamespace(kubeConfig, "policies");
    for (const namespace of [viaWebhook, viaPolicies]) {
      for (const md of MODEL_DEPLOYMENTS) {
        await createModelDeploymentWithSpec(kubeConfig, namespace, md.name, md.spec);
      }
    }
    const webhookInformer = informerFor(viaWebhook);
    const policyInformer = informerFor(viaPolicies);
    for (const md of MODEL_DEPLOYMENTS) {
      await setStatus(kubeConfig, webhookInformer, viaWebhook, md.name, md.status);
      await setStatus(kubeConfig, policyInformer, viaPolicies, md.name, md.status);
    }
    webhook = await startWebhook(kubeConfig, webhookInformer, { configurationName: CONFIGURATION });
    const injection = createPolicyInjection({
      kubeConfig,
      logger: testLogger(),
      clock: systemClock,
      informers: [policyInformer],
      store: policyInformer.store,
      settings: INIT_SETTINGS,
    });
    running.push(injection.start(stop.signal));
    // Every ModelDeployment decided, and its binding in force (bindings apply within about a second).
    await waitFor(
      "status.injection on every ModelDeployment",
      async () =>
        MODEL_DEPLOYMENTS.every((md) =>
          JSON.stringify(policyInformer.store.get(`${viaPolicies}/${md.name}`)).includes('"injection"'),
        )
          ? true
          : undefined,
      { timeoutMs: 30_000 },
    );
  }, 120_000);

  afterAll(async () => {
    await webhook?.stop();
    if (plane !== undefined) await deleteConfiguration(kubeConfig, CONFIGURATION).catch(() => undefined);
    stop.abort();
    await Promise.allSettled(running);
  });

  const create = async (namespace: string, body: V1Pod): Promise<{ pod?: unknown; refused?: string }> => {
    try {
      const created = await kubeConfig
        .makeApiClient(CoreV1Api)
        .createNamespacedPod({ namespace, body: structuredClone(body), dryRun: "All" });
      return { pod: outcome(created) };
    } catch (err) {
      return { refused: errorMessage(err) };
    }
  };

  test.each(CASES)(
    "%s",
    async (_name, body, expected, policyMessage) => {
      // Bindings and webhook registration take up to a second to apply: wait until both paths agree on admitting.
      const [webhookResult, policyResult] = await waitFor(
        "both paths to decide as expected",
        async () => {
          const results = await Promise.all([create(viaWebhook, body), create(viaPolicies, body)]);
          const decided = results.every((r) =>
            expected === "admitted" ? r.pod !== undefined : r.refused !== undefined,
          );
          const touched =
            expected === "refused" ||
            body.metadata?.labels?.["other"] !== undefined ||
            results.every((r) => JSON.stringify(r.pod).includes("modelpack-model-"));
          return decided && touched ? results : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 300 },
      );
      if (expected === "admitted") {
        expect(policyResult.pod).toEqual(webhookResult.pod);
      } else {
        expect(webhookResult.refused).toBeDefined();
        expect(policyResult.refused).toMatch(policyMessage ?? /./);
        (await import("node:fs")).appendFileSync(
          "/tmp/mp/refusals.txt",
          `${_name}\n  webhook:  ${webhookResult.refused}\n  policies: ${policyResult.refused}\n`,
        );
      }
    },
    30_000,
  );

  test.each([
    [
      "an init container image other than the operator's",
      (i: Injection) => ({
        ...i,
        initContainers: i.initContainers?.map((c) => ({ ...c, image: `${REGISTRY}/evil:1` })),
      }),
      /fetches more than its model/,
    ],
    [
      "a privileged pull",
      (i: Injection) => ({
        ...i,
        initContainers: i.initContainers?.map((c) => ({ ...c, securityContext: { privileged: true } })),
      }),
      /fetches more than its model/,
    ],
    [
      "a hostPath volume",
      (i: Injection) => ({
        ...i,
        volumes: [...(i.volumes ?? []), { name: "host", hostPath: { path: "/" } }],
      }),
      /fetches more than its model/,
    ],
    [
      "a model from another repository",
      (i: Injection) => ({
        ...i,
        initContainers: i.initContainers?.map((c) => ({
          ...c,
          args: ["pull", `${REGISTRY}/other/model@${"sha256:" + "e".repeat(64)}`],
        })),
      }),
      new RegExp(`fetches ${REGISTRY}/other/model@sha256:e+, which is not ${REGISTRY}/models/llama@<digest>`),
    ],
  ])(
    "a status.injection the operator did not write (%s) is refused",
    async (_name, tamper, message) => {
      // No controller here: the test writes the status and the bindings as a status writer could.
      const namespace = await createNamespace(kubeConfig, "tampered");
      const md = MODEL_DEPLOYMENTS.find((m) => m.name === "ic");
      if (md === undefined) throw new Error("no ic case");
      await createModelDeploymentWithSpec(kubeConfig, namespace, md.name, md.spec);
      const parsed = ModelDeployment.parse({
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "ModelDeployment",
        metadata: { name: md.name, namespace, generation: 1 },
        spec: md.spec,
        status: md.status,
      });
      const status = { ...md.status, injection: tamper(podInjection(parsed, INIT_SETTINGS)) };
      await serverSideApply(
        kubeConfig,
        `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}/${md.name}/status`,
        {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "ModelDeployment",
          metadata: { name: md.name, namespace },
          status,
        },
      );
      const bindings = bindingsFor(
        { namespace, name: md.name, selector: { matchLabels: { ic: "yes" } } },
        `${namespace}.${md.name}`,
        {},
      );
      for (const [plural, body] of [
        ["mutatingadmissionpolicybindings", bindings.mutating],
        ["validatingadmissionpolicybindings", bindings.validating],
      ] as const)
        await kubeRequest(kubeConfig, {
          method: "POST",
          path: `/apis/admissionregistration.k8s.io/v1/${plural}`,
          body,
        });
      const refused = await waitFor(
        "the policies to refuse the pod",
        async () => {
          const result = await create(namespace, pod({ ic: "yes" }, {}));
          return result.refused?.includes("status.injection") === true ? result.refused : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 300 },
      );
      expect(refused).toMatch(message);
      expect(refused).toContain("RBAC on modeldeployments/status");
    },
    30_000,
  );
});
