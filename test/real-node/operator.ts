/**
 * The operator on a real node, as a user installs it: the image built without Docker (npm run
 * image) pushed to the node's registry, the Helm chart installed with it, and workloads whose
 * containers print the SHA-256 of every file they can read under the model's mount path.
 */
import { fileURLToPath } from "node:url";
import { parseReference } from "../../src/oci/reference.js";
import type { RealNode } from "../harness/real-node/real-node.js";
import { waitFor } from "../harness/testing.js";
import { buildImage, pushImage } from "../../scripts/image/image.js";
import { ensureTools } from "../harness/tools.js";
import { CHART, ok } from "../shipping/support.js";
import { kubectl, kubectlOk, waitForLogs } from "./support.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export const OPERATOR_NAMESPACE = "modelpack-system";
export const RELEASE = "mpo";

/** Builds the operator image (cached by content) and pushes it; returns `repo@sha256:…`. */
export async function pushOperatorImage(node: RealNode): Promise<string> {
  const image = await buildImage({ root: ROOT, log: () => undefined });
  const ref = parseReference(`${node.registry}/modelpack-operator:test`);
  const { digest } = await pushImage(image, ref, { plainHttp: [node.registry] });
  return `${node.registry}/modelpack-operator@${digest}`;
}

/** `helm install` of the chart with the image; resolves once the Deployment is Available. */
export async function installOperator(
  node: RealNode,
  image: string,
  options: { plainHttp?: readonly string[]; set?: readonly string[] } = {},
): Promise<void> {
  const { helm } = await ensureTools(["helm"]);
  const [repository = "", digest = ""] = image.split("@");
  await ok(`${helm}/helm`, [
    "install",
    RELEASE,
    CHART,
    "-n",
    OPERATOR_NAMESPACE,
    "--create-namespace",
    "--kubeconfig",
    node.kubeconfigPath,
    "--set",
    `image.repository=${repository}`,
    "--set",
    `image.digest=${digest}`,
    "--set-json",
    `registries.plainHttp=${JSON.stringify([node.registry, ...(options.plainHttp ?? [])])}`,
    "--set",
    "rollout.enabled=true",
    ...(options.set ?? []).flatMap((s) => ["--set", s]),
    "--wait",
    "--timeout",
    "3m",
  ]);
}

export async function uninstallOperator(node: RealNode): Promise<void> {
  const { helm } = await ensureTools(["helm"]);
  await ok(`${helm}/helm`, [
    "uninstall",
    RELEASE,
    "-n",
    OPERATOR_NAMESPACE,
    "--kubeconfig",
    node.kubeconfigPath,
    "--wait",
    "--timeout",
    "2m",
  ]);
}

/**
 * A Node script for `node -e`: prints `sha256:<hex> <path>` for every regular file below the
 * folder given as its argument (paths relative to it, sorted), then `done`, then idles.
 */
export const HASH_FILES_SCRIPT = [
  'const fs = require("node:fs"), path = require("node:path"), crypto = require("node:crypto");',
  "const root = process.argv[1]; const out = [];",
  "const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) {",
  "  const p = path.join(d, e.name);",
  "  if (e.isDirectory()) walk(p);",
  '  else if (e.isFile()) out.push("sha256:" + crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex") + " " + path.relative(root, p));',
  "} };",
  'try { walk(root); } catch (err) { console.log("error " + err.message); }',
  'out.sort((a, b) => a.split(" ")[1].localeCompare(b.split(" ")[1])); for (const line of out) console.log(line);',
  'console.log("done " + out.length); setInterval(() => {}, 1 << 30);',
].join("\n");

/** The container that prints the digests of every file under `folder`. */
export function hashingContainer(image: string, folder: string): Record<string, unknown> {
  return {
    name: "main",
    image,
    command: ["node", "-e", HASH_FILES_SCRIPT, folder],
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
  };
}

/** Parses the hashing container's output: path → digest (hidden bookkeeping files left out). */
export function parseDigests(logs: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const line of logs.split("\n")) {
    const match = /^(sha256:[0-9a-f]{64}) (.+)$/.exec(line.trim());
    if (match?.[1] && match[2] && !match[2].split("/").some((part) => part.startsWith(".")))
      files.set(match[2], match[1]);
  }
  return files;
}

/** A Deployment of one hashing pod, labelled `app: <name>`. */
export function hashingDeployment(
  namespace: string,
  name: string,
  image: string,
  folder: string,
): Record<string, unknown> {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 0,
          containers: [hashingContainer(image, folder)],
        },
      },
    },
  };
}

/** The newest Running pod of a Deployment's label, once one is there. */
export async function newestPod(
  node: RealNode,
  namespace: string,
  app: string,
  notIn: readonly string[] = [],
): Promise<string> {
  return waitFor(
    `a new pod of ${namespace}/${app}`,
    async () => {
      const out = await kubectlOk(node, [
        "get",
        "pods",
        "-n",
        namespace,
        "-l",
        `app=${app}`,
        "--sort-by=.metadata.creationTimestamp",
        "-o",
        'jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\\n"}{end}',
      ]);
      const live = out
        .split("\n")
        .map((l) => l.trim().split(" "))
        .filter((p) => p[0] && p.length === 1 && !notIn.includes(p[0]))
        .map((p) => p[0] ?? "");
      return live.at(-1);
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}

/** The digests a pod's hashing container printed (waits for its `done` line). */
export async function digestsPrinted(
  node: RealNode,
  namespace: string,
  pod: string,
): Promise<Map<string, string>> {
  const logs = await waitForLogs(node, namespace, pod, {
    container: "main",
    until: /^done \d+$/m,
    timeoutMs: 180_000,
  });
  return parseDigests(logs);
}

/** The files of a ModelPack manifest: path (title, else filepath annotation) → layer digest. */
export function layerFiles(manifest: Record<string, unknown>): Map<string, string> {
  const layers = (manifest.layers ?? []) as { digest: string; annotations?: Record<string, string> }[];
  const files = new Map<string, string>();
  for (const layer of layers) {
    const path =
      layer.annotations?.["org.opencontainers.image.title"] ??
      layer.annotations?.["org.cncf.model.filepath"] ??
      layer.annotations?.["org.cnai.model.filepath"];
    if (path) files.set(path, layer.digest);
  }
  return files;
}

/** `kubectl apply -f -` of objects. */
export async function apply(node: RealNode, ...objects: Record<string, unknown>[]): Promise<void> {
  await kubectlOk(
    node,
    ["apply", "-f", "-"],
    JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  );
}

/** A ModelDeployment. */
export function modelDeployment(
  namespace: string,
  name: string,
  spec: {
    reference: string;
    app: string;
    path: string;
    strategy?: string;
    pullSecrets?: string[];
    refreshInterval?: string;
    updatePolicy?: string;
  },
): Record<string, unknown> {
  return {
    apiVersion: "modelpack.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name, namespace },
    spec: {
      model: {
        reference: spec.reference,
        ...(spec.pullSecrets && { pullSecrets: spec.pullSecrets.map((s) => ({ name: s })) }),
        ...(spec.refreshInterval && { refreshInterval: spec.refreshInterval }),
      },
      selector: { matchLabels: { app: spec.app } },
      mount: { path: spec.path },
      ...(spec.strategy && { strategy: spec.strategy }),
      ...(spec.updatePolicy && { updatePolicy: spec.updatePolicy }),
    },
  };
}

/** Waits for a ModelDeployment's condition and returns its status. */
export async function waitForCondition(
  node: RealNode,
  namespace: string,
  name: string,
  type: string,
  status: "True" | "False",
  timeoutMs = 90_000,
): Promise<Record<string, unknown>> {
  let last = "";
  return waitFor(
    `${namespace}/${name} ${type}=${status}`,
    async () => {
      const result = await kubectl(node, ["get", "modeldeployment", "-n", namespace, name, "-o", "json"]);
      last = result.stdout;
      if (result.code !== 0) return undefined;
      const object = JSON.parse(result.stdout) as {
        status?: { conditions?: { type: string; status: string }[] };
      };
      const condition = object.status?.conditions?.find((c) => c.type === type);
      return condition?.status === status ? (object.status as Record<string, unknown>) : undefined;
    },
    { timeoutMs, intervalMs: 500 },
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\nlast seen: ${last}`);
  });
}

export interface ServedModel {
  /** The ModelDeployment's status once Ready. */
  readonly status: Record<string, unknown>;
  /** The newest pod of the hashing Deployment (`app: <name>`). */
  readonly pod: string;
}

/**
 * What a user does to serve a model: a namespace (created if missing), a ModelDeployment `name`
 * selecting `app: <name>`, waited Ready, and a Deployment of one hashing pod reading `path`.
 */
export async function serveModel(
  node: RealNode,
  image: string,
  spec: { namespace: string; name: string; reference: string; path: string } & Omit<
    Parameters<typeof modelDeployment>[2],
    "reference" | "app" | "path"
  >,
): Promise<ServedModel> {
  const { namespace, name, ...md } = spec;
  const created = await kubectl(node, ["create", "namespace", namespace]);
  if (created.code !== 0 && !/AlreadyExists/.test(created.stderr)) throw new Error(created.stderr);
  await apply(node, modelDeployment(namespace, name, { ...md, app: name }));
  const status = await waitForCondition(node, namespace, name, "Ready", "True");
  await apply(node, hashingDeployment(namespace, name, image, spec.path));
  return { status, pod: await newestPod(node, namespace, name) };
}
