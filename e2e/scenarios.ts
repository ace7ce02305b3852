import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { GROUP, PLURAL, VERSION, type PodCounts } from "../src/api/index.js";
import { rolloutAnnotation } from "../src/controller/rollout.js";
import { podModelDigest } from "../src/mount/index.js";
import { sampleModelFiles } from "../scripts/demo/sample-model.js";
import { buildModelPackArtifact, pushArtifact, type ArtifactFile } from "../test/support/publisher.js";

/**
 * The end-to-end scenarios, written against any cluster where the operator is installed (kind,
 * a CRI-O cluster, or later the harness control plane): a KubeConfig, a namespace to work in and
 * a registry the cluster can pull from. They publish a small real ModelPack model, apply
 * ModelDeployments and Deployments as a user would, and check what reached the pods, including
 * the model's bytes as read by the serving container itself (its log prints a file of the model).
 *
 * Each scenario throws on the first failed check with a message that says what was expected.
 */

export type EffectiveStrategy = "ImageVolume" | "InitContainer";

export interface ScenarioOptions {
  readonly kubeConfig: KubeConfig;
  /** An existing namespace that the operator's webhook sees (not the operator's own, not kube-system). */
  readonly namespace: string;
  /** The registry as the cluster (operator pod, init containers, nodes) reaches it, e.g. `kind-registry:5000`. */
  readonly registryHost: string;
  /** The operator is configured to speak plain HTTP to `registryHost` (`registries.plainHttp`). */
  readonly plainHttp: boolean;
  /**
   * Where this machine pushes the model (the same registry, seen from here), e.g.
   * `http://127.0.0.1:5001`. Default: `http(s)://<registryHost>`.
   */
  readonly pushUrl?: string;
  /** Credentials for pushing, when the registry asks for them. */
  readonly pushUsername?: string;
  readonly pushPassword?: string;
  /** The serving container's image: anything with `sh`, `cat` and `sleep` (busybox-like). */
  readonly testImage: string;
  /** What `strategy: Auto` must resolve to on this cluster (kind/containerd: InitContainer; CRI-O ≥ 1.34: ImageVolume). */
  readonly expectStrategy: EffectiveStrategy;
  /** Overall patience for pods (image pulls on a cold node are slow). Default 5 minutes. */
  readonly timeoutMs?: number;
  /** Progress lines. Default: none. */
  readonly log?: (line: string) => void;
}

const MOUNT_PATH = "/models/e2e";
const MARKER_FILE = "e2e-marker.txt";

interface ModelDeploymentStatus {
  readonly observedGeneration?: number;
  readonly resolved?: { readonly reference?: string; readonly digest?: string };
  readonly strategy?: string;
  readonly pods?: PodCounts;
  readonly conditions?: readonly { type: string; status: string; reason?: string; message?: string }[];
}

/** Polls `probe` until it returns a value other than undefined; throws after `timeoutMs` naming `what`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: { timeoutMs?: number; intervalMs?: number; detail?: () => Promise<string> } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const error = lastError === undefined ? "" : ` (last error: ${messageOf(lastError)})`;
      const detail = options.detail !== undefined ? `; ${await options.detail().catch(messageOf)}` : "";
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${error}${detail}`);
    }
    await sleep(options.intervalMs ?? 1_000);
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

/** A short random suffix so that repeated runs against one registry never share a repository. */
export const uniqueSuffix = (): string => randomBytes(4).toString("hex");

/** The model: the demo's tiny real model plus a text file whose content the serving container prints. */
function modelFiles(marker: string): ArtifactFile[] {
  return [...sampleModelFiles(), { path: MARKER_FILE, content: `${marker}\n`, kind: "doc" }];
}

async function publish(
  options: ScenarioOptions,
  repository: string,
  tag: string,
  marker: string,
): Promise<string> {
  const url = options.pushUrl ?? `${options.plainHttp ? "http" : "https"}://${options.registryHost}`;
  const artifact = await buildModelPackArtifact(modelFiles(marker), { name: "tiny-e2e", family: "e2e" });
  const digest = await pushArtifact(
    {
      url,
      ...(options.pushUsername !== undefined && { username: options.pushUsername }),
      ...(options.pushPassword !== undefined && { password: options.pushPassword }),
    },
    repository,
    tag,
    artifact,
  );
  options.log?.(`published ${options.registryHost}/${repository}:${tag} = ${digest} (marker ${marker})`);
  return digest;
}

class Cluster {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly custom: CustomObjectsApi;
  readonly timeoutMs: number;

  constructor(readonly options: ScenarioOptions) {
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.apps = options.kubeConfig.makeApiClient(AppsV1Api);
    this.custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.timeoutMs = options.timeoutMs ?? 300_000;
  }

  get namespace(): string {
    return this.options.namespace;
  }

  async createModelDeployment(
    name: string,
    reference: string,
    spec: { app: string; strategy?: string; updatePolicy?: string; refreshInterval?: string },
  ): Promise<void> {
    await this.custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: this.namespace,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "ModelDeployment",
        metadata: { name },
        spec: {
          model: {
            reference,
            ...(spec.refreshInterval !== undefined && { refreshInterval: spec.refreshInterval }),
          },
          selector: { matchLabels: { app: spec.app } },
          mount: { path: MOUNT_PATH },
          strategy: spec.strategy ?? "Auto",
          updatePolicy: spec.updatePolicy ?? "Rollout",
        },
      },
    });
    this.options.log?.(`applied ModelDeployment ${this.namespace}/${name} → ${reference}`);
  }

  async status(name: string): Promise<ModelDeploymentStatus> {
    const object = (await this.custom.getNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: this.namespace,
      name,
    })) as { status?: ModelDeploymentStatus };
    return object.status ?? {};
  }

  condition(status: ModelDeploymentStatus, type: string): { status: string; reason?: string } | undefined {
    return status.conditions?.find((c) => c.type === type);
  }

  async waitReady(name: string, digest: string): Promise<ModelDeploymentStatus> {
    let last: ModelDeploymentStatus = {};
    return waitFor(
      `ModelDeployment ${name} Ready at ${digest.slice(0, 19)}`,
      async () => {
        last = await this.status(name);
        return this.condition(last, "Ready")?.status === "True" && last.resolved?.digest === digest
          ? last
          : undefined;
      },
      { timeoutMs: 120_000, detail: async () => `last status: ${JSON.stringify(last)}` },
    );
  }

  /**
   * A Deployment whose container prints the model's marker file, then stays up. It exits at once
   * on SIGTERM so rollouts are quick.
   */
  async createDeployment(app: string, replicas: number): Promise<void> {
    const script = `cat ${MOUNT_PATH}/${MARKER_FILE} || echo "no model at ${MOUNT_PATH}"; trap 'exit 0' TERM; while true; do sleep 1; done`;
    await this.apps.createNamespacedDeployment({
      namespace: this.namespace,
      body: {
        metadata: { name: app },
        spec: {
          replicas,
          selector: { matchLabels: { app } },
          template: {
            metadata: { labels: { app } },
            spec: {
              terminationGracePeriodSeconds: 5,
              containers: [
                {
                  name: "server",
                  image: this.options.testImage,
                  command: ["sh", "-c", script],
                  resources: { requests: { cpu: "10m", memory: "16Mi" } },
                },
              ],
            },
          },
        },
      },
    });
    this.options.log?.(`applied Deployment ${this.namespace}/${app} (${replicas} replicas)`);
  }

  async livePods(app: string): Promise<V1Pod[]> {
    const list = await this.core.listNamespacedPod({
      namespace: this.namespace,
      labelSelector: `app=${app}`,
    });
    return list.items.filter((p) => p.metadata?.deletionTimestamp == null);
  }

  /** Why the app's pods are not there yet: pod phases and waiting reasons, ReplicaSet failures. */
  async explain(app: string): Promise<string> {
    const pods = await this.livePods(app);
    const podText = pods.map((p) => {
      const waiting = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]
        .map((s) => s.state?.waiting?.reason ?? s.state?.terminated?.reason)
        .filter((r) => r !== undefined);
      return `${p.metadata?.name}: ${p.status?.phase ?? "?"}${waiting.length > 0 ? ` (${waiting.join(", ")})` : ""}`;
    });
    const sets = await this.apps.listNamespacedReplicaSet({
      namespace: this.namespace,
      labelSelector: `app=${app}`,
    });
    const failures = sets.items.flatMap((rs) =>
      (rs.status?.conditions ?? [])
        .filter((c) => c.type === "ReplicaFailure")
        .map((c) => c.message ?? c.reason ?? ""),
    );
    return `pods [${podText.join("; ")}]${failures.length > 0 ? `, ReplicaSet failures: ${failures.join("; ")}` : ""}`;
  }

  /** Waits until the app has exactly `count` live pods, all Running and all annotated with `digest` by `md`. */
  async podsAt(app: string, md: string, digest: string, count: number): Promise<V1Pod[]> {
    return waitFor(
      `${count} Running ${app} pods mounting ${digest.slice(0, 19)}`,
      async () => {
        const pods = await this.livePods(app);
        const ok =
          pods.length === count &&
          pods.every((p) => p.status?.phase === "Running" && podModelDigest(p, md) === digest);
        return ok ? pods : undefined;
      },
      { timeoutMs: this.timeoutMs, intervalMs: 2_000, detail: () => this.explain(app) },
    );
  }

  /** The serving container's output: the marker it read from the model, as the container sees it. */
  async servedMarker(pod: V1Pod): Promise<string> {
    const name = pod.metadata?.name ?? "";
    return waitFor(
      `the log of ${name}`,
      async () => {
        const log = await this.core.readNamespacedPodLog({
          namespace: this.namespace,
          name,
          container: "server",
        });
        return log.trim() === "" ? undefined : log.trim();
      },
      { timeoutMs: 60_000 },
    );
  }

  async expectPodsServe(
    pods: readonly V1Pod[],
    options: { strategy: EffectiveStrategy; pinned: string; marker: string },
  ): Promise<void> {
    for (const pod of pods) {
      const name = pod.metadata?.name ?? "?";
      const spec = pod.spec;
      const server = spec?.containers.find((c) => c.name === "server");
      const mount = server?.volumeMounts?.find((m) => m.mountPath === MOUNT_PATH);
      check(mount !== undefined, `pod ${name}: no volume mounted at ${MOUNT_PATH} in container server`);
      check(mount?.readOnly === true, `pod ${name}: the model mount is not read-only`);
      const volume = spec?.volumes?.find((v) => v.name === mount?.name);
      if (options.strategy === "ImageVolume") {
        check(
          volume?.image?.reference === options.pinned,
          `pod ${name}: expected an image volume ${options.pinned}, got ${JSON.stringify(volume)}`,
        );
      } else {
        check(
          volume?.emptyDir !== undefined,
          `pod ${name}: expected an emptyDir model volume, got ${JSON.stringify(volume)}`,
        );
        const init = spec?.initContainers?.find((c) => (c.args ?? []).includes(options.pinned));
        check(init !== undefined, `pod ${name}: no init container pulls ${options.pinned}`);
        check(
          init?.args?.[0] === "pull",
          `pod ${name}: the init container runs ${JSON.stringify(init?.args)}, expected \`pull ${options.pinned} …\``,
        );
        check(
          this.options.plainHttp === (init?.args ?? []).includes("--plain-http"),
          `pod ${name}: the init container's --plain-http does not match plainHttp=${this.options.plainHttp}`,
        );
        const state = pod.status?.initContainerStatuses?.find((s) => s.name === init?.name)?.state;
        check(
          state?.terminated?.exitCode === 0,
          `pod ${name}: init container ${init?.name} did not exit 0: ${JSON.stringify(state)}`,
        );
      }
      const served = await this.servedMarker(pod);
      check(
        served === options.marker,
        `pod ${name}: the server container read "${served}" from ${MOUNT_PATH}/${MARKER_FILE}, expected "${options.marker}"`,
      );
    }
  }

  async countsAre(name: string, expected: PodCounts): Promise<ModelDeploymentStatus> {
    let last: ModelDeploymentStatus = {};
    return waitFor(
      `${name}: status.pods ${JSON.stringify(expected)}`,
      async () => {
        last = await this.status(name);
        const pods = last.pods;
        const ok =
          pods?.matched === expected.matched &&
          pods.current === expected.current &&
          pods.stale === expected.stale;
        return ok ? last : undefined;
      },
      { timeoutMs: 120_000, detail: async () => `last status: ${JSON.stringify(last)}` },
    );
  }
}

/**
 * A ModelDeployment (strategy Auto by default) and a Deployment that it selects: the
 * ModelDeployment becomes Ready at the pushed digest with the expected strategy, the pods run
 * with the model mounted read-only and pinned to the digest (an image volume, or an init
 * container that pulled the model and exited 0), the serving container reads the model's file,
 * and a Deployment that is not selected is left alone.
 */
export async function modelReachesPods(
  options: ScenarioOptions & { strategy?: "Auto" | EffectiveStrategy },
): Promise<void> {
  const cluster = new Cluster(options);
  const requested = options.strategy ?? "Auto";
  const expected = requested === "Auto" ? options.expectStrategy : requested;
  const repository = `e2e/tiny-${uniqueSuffix()}`;
  const marker = `model ${repository} v1`;
  const digest = await publish(options, repository, "v1", marker);
  const pinned = `${options.registryHost}/${repository}@${digest}`;

  await cluster.createModelDeployment("tiny", `${options.registryHost}/${repository}:v1`, {
    app: "server",
    strategy: requested,
  });
  const status = await cluster.waitReady("tiny", digest);
  check(
    status.strategy === expected,
    `status.strategy is ${status.strategy}, expected ${expected} (MountSupported: ${JSON.stringify(cluster.condition(status, "MountSupported"))})`,
  );
  check(
    status.resolved?.reference === pinned,
    `status.resolved.reference is ${status.resolved?.reference}, expected ${pinned}`,
  );
  options.log?.(`ModelDeployment Ready, strategy ${status.strategy}`);

  await cluster.createDeployment("server", 2);
  await cluster.createDeployment("other", 1);
  const pods = await cluster.podsAt("server", "tiny", digest, 2);
  await cluster.expectPodsServe(pods, { strategy: expected, pinned, marker });
  options.log?.(`2 server pods Running, each read "${marker}" from ${MOUNT_PATH}`);

  const [other] = await waitFor(
    "1 Running other pod",
    async () => {
      const live = await cluster.livePods("other");
      return live.length === 1 && live[0]?.status?.phase === "Running" ? live : undefined;
    },
    { timeoutMs: cluster.timeoutMs, intervalMs: 2_000, detail: () => cluster.explain("other") },
  );
  check(
    podModelDigest(other as V1Pod, "tiny") === undefined,
    "the unselected pod was annotated with the model",
  );
  const otherMount =
    other?.spec?.containers[0]?.volumeMounts?.some((m) => m.mountPath === MOUNT_PATH) ?? false;
  check(!otherMount, "the unselected pod got the model mount");
  await cluster.countsAre("tiny", { matched: 2, current: 2, stale: 0 });
}

/**
 * A model that does not exist: the ModelDeployment reports Resolved=False (ManifestNotFound) and
 * the webhook refuses the selected pods, so the Deployment has no pods and its ReplicaSet says why.
 */
export async function missingModelBlocksPods(options: ScenarioOptions): Promise<void> {
  const cluster = new Cluster(options);
  const reference = `${options.registryHost}/e2e/missing-${uniqueSuffix()}:v1`;
  await cluster.createModelDeployment("missing", reference, { app: "blocked" });
  let last: ModelDeploymentStatus = {};
  await waitFor(
    "ModelDeployment missing: Resolved=False, reason ManifestNotFound",
    async () => {
      last = await cluster.status("missing");
      const resolved = cluster.condition(last, "Resolved");
      return resolved?.status === "False" && resolved.reason === "ManifestNotFound" ? true : undefined;
    },
    { timeoutMs: 120_000, detail: async () => `last status: ${JSON.stringify(last)}` },
  );
  await cluster.createDeployment("blocked", 1);
  const failure = await waitFor(
    "the ReplicaSet of Deployment blocked to report the webhook's refusal",
    async () => {
      const sets = await cluster.apps.listNamespacedReplicaSet({
        namespace: cluster.namespace,
        labelSelector: "app=blocked",
      });
      const condition = sets.items
        .flatMap((rs) => rs.status?.conditions ?? [])
        .find((c) => c.type === "ReplicaFailure" && c.status === "True");
      return condition?.message;
    },
    { timeoutMs: 120_000, detail: () => cluster.explain("blocked") },
  );
  check(
    failure.includes(`ModelDeployment ${cluster.namespace}/missing`),
    `the refusal does not name the ModelDeployment: ${failure}`,
  );
  const pods = await cluster.livePods("blocked");
  check(pods.length === 0, `the webhook let ${pods.length} pod(s) through without their model`);
  options.log?.(`pods refused: ${failure}`);
}

/**
 * A tag moves under two ModelDeployments, `updatePolicy: Rollout` and `Pinned`, each selecting its
 * own Deployment (refreshInterval 30s): Rollout restarts its Deployment onto the new digest and
 * the new pods read the new model; Pinned resolves the new digest but keeps its pods, counted
 * stale, still serving the old model.
 */
export async function tagMoveRollsOut(options: ScenarioOptions): Promise<void> {
  const cluster = new Cluster(options);
  const repository = `e2e/moving-${uniqueSuffix()}`;
  const reference = `${options.registryHost}/${repository}:v1`;
  const marker1 = `model ${repository} first`;
  const marker2 = `model ${repository} second`;
  const digest1 = await publish(options, repository, "v1", marker1);
  const strategy = options.expectStrategy;

  for (const [name, updatePolicy] of [
    ["rolling", "Rollout"],
    ["pinned", "Pinned"],
  ] as const) {
    await cluster.createModelDeployment(name, reference, { app: name, updatePolicy, refreshInterval: "30s" });
    await cluster.waitReady(name, digest1);
    await cluster.createDeployment(name, 2);
  }
  for (const name of ["rolling", "pinned"]) {
    const pods = await cluster.podsAt(name, name, digest1, 2);
    await cluster.expectPodsServe(pods, {
      strategy,
      pinned: `${options.registryHost}/${repository}@${digest1}`,
      marker: marker1,
    });
    await cluster.countsAre(name, { matched: 2, current: 2, stale: 0 });
  }
  options.log?.("both Deployments serve the first digest");

  const digest2 = await publish(options, repository, "v1", marker2);
  check(digest2 !== digest1, "the second push produced the same digest");

  await waitFor(
    "the rolling Deployment's template to carry the new digest",
    async () => {
      const deployment = await cluster.apps.readNamespacedDeployment({
        namespace: cluster.namespace,
        name: "rolling",
      });
      return deployment.spec?.template.metadata?.annotations?.[rolloutAnnotation("rolling")] === digest2
        ? true
        : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 2_000 },
  );
  const rolled = await cluster.podsAt("rolling", "rolling", digest2, 2);
  await cluster.expectPodsServe(rolled, {
    strategy,
    pinned: `${options.registryHost}/${repository}@${digest2}`,
    marker: marker2,
  });
  const rolling = await cluster.countsAre("rolling", { matched: 2, current: 2, stale: 0 });
  check(
    rolling.resolved?.digest === digest2,
    `rolling: status.resolved.digest is ${rolling.resolved?.digest}`,
  );
  options.log?.("Rollout: the rolling Deployment restarted onto the second digest");

  const pinned = await cluster.countsAre("pinned", { matched: 2, current: 0, stale: 2 });
  check(pinned.resolved?.digest === digest2, `pinned: status.resolved.digest is ${pinned.resolved?.digest}`);
  check(cluster.condition(pinned, "Ready")?.status === "True", "pinned: not Ready after the tag moved");
  const kept = await cluster.podsAt("pinned", "pinned", digest1, 2);
  await cluster.expectPodsServe(kept, {
    strategy,
    pinned: `${options.registryHost}/${repository}@${digest1}`,
    marker: marker1,
  });
  const template = await cluster.apps.readNamespacedDeployment({
    namespace: cluster.namespace,
    name: "pinned",
  });
  const ours = Object.keys(template.spec?.template.metadata?.annotations ?? {}).filter((k) =>
    k.startsWith("modelpack.dev/"),
  );
  check(ours.length === 0, `pinned: the Deployment's template was annotated: ${ours.join(", ")}`);
  options.log?.("Pinned: pods kept the first digest, counted stale");
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly run: (options: ScenarioOptions) => Promise<void>;
}

/** Every scenario, in the order the runner runs them. Each needs its own namespace. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: "auto",
    description: "strategy Auto: the model reaches the pods with the strategy this cluster supports",
    run: (options) => modelReachesPods({ ...options, strategy: "Auto" }),
  },
  {
    name: "init-container",
    description: "strategy InitContainer: an init container pulls and verifies the model on any runtime",
    run: (options) => modelReachesPods({ ...options, strategy: "InitContainer" }),
  },
  {
    name: "missing-model",
    description: "a model that does not exist: not Ready, and the webhook refuses the selected pods",
    run: missingModelBlocksPods,
  },
  {
    name: "tag-move",
    description: "a moved tag: Rollout restarts its Deployment onto the new digest, Pinned keeps its pods",
    run: tagMoveRollsOut,
  },
];
