import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { main } from "../src/cli/main.js";
import { startControlPlane, type FullControlPlane } from "../test/harness/control-plane.js";
import { pickFreePorts } from "../test/harness/ports.js";
import { ensureTools } from "../test/harness/tools.js";
import { buildModelPackArtifact, pushArtifact } from "../test/support/publisher.js";
import { startRegistry, type TestRegistry } from "../test/support/registry.js";
import { sampleModelFiles } from "./demo/sample-model.js";
import { realNodeDemo } from "./demo/real-node.js";

/**
 * `npm run demo`: the product end to end on this machine, nothing outside 127.0.0.1. A real
 * Kubernetes control plane with fake nodes (built from Go modules on first run), a local OCI
 * registry with a small real ModelPack model, and the operator with its admission webhook; then
 * what a user does: apply a ModelDeployment and a Deployment, and watch the pods get the model,
 * first as an image volume pinned to the digest, then through the verified init-container pull.
 * Cleans up on exit and on Ctrl-C.
 *
 * `npm run demo -- --real-node [--runtime containerd|cri-o]` (root) tells the same story on a real
 * node instead, ending with `kubectl logs` of a real container reading the model (demo/real-node.ts).
 */
const { values: demoFlags } = parseArgs({
  options: { "real-node": { type: "boolean", default: false }, runtime: { type: "string" } },
  strict: true,
});
if (demoFlags["real-node"]) {
  const runtime = demoFlags.runtime ?? "containerd";
  if (runtime !== "containerd" && runtime !== "cri-o") {
    console.error(`demo: --runtime must be containerd or cri-o, got '${runtime}'`);
    process.exit(2);
  }
  process.exit(await realNodeDemo(runtime));
} else if (demoFlags.runtime !== undefined) {
  console.error("demo: --runtime needs --real-node");
  process.exit(2);
}

const ROOT = join(import.meta.dirname, "..");
const say = (text: string): void => void process.stdout.write(`\n\x1b[1m${text}\x1b[0m\n`);
const quiet = { stdout: process.stdout, stderr: process.stderr, env: process.env };

let plane: FullControlPlane | undefined;
let registry: TestRegistry | undefined;
let work: string | undefined;
const operatorStop = new AbortController();
let operator: Promise<number> | undefined;

async function cleanUp(): Promise<void> {
  operatorStop.abort();
  await operator?.catch(() => undefined);
  await registry?.stop();
  await plane?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
  registry = undefined;
  plane = undefined;
  work = undefined;
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    process.stdout.write("\ninterrupted: cleaning up\n");
    void cleanUp().finally(() => process.exit(130));
  });
}

/** Runs kubectl without blocking the event loop (the operator runs in this process). */
function kubectlQuiet(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("kubectl", ["--kubeconfig", plane?.kubeconfigPath ?? "", ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(" ")} failed: ${err.trim()}`)),
    );
    child.stdin.end(input ?? "");
  });
}

/** Runs kubectl and shows the command and its output, as a user would see them. */
async function kubectl(args: string[], input?: string): Promise<string> {
  process.stdout.write(`$ kubectl ${args.join(" ")}\n`);
  const out = await kubectlQuiet(args, input);
  process.stdout.write(out.endsWith("\n") || out === "" ? out : `${out}\n`);
  return out;
}

async function cli(args: string[]): Promise<void> {
  process.stdout.write(`$ modelpack-operator ${args.join(" ")}\n`);
  const code = await main(args, quiet);
  if (code !== 0) throw new Error(`modelpack-operator ${args[0]} exited with ${code}`);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const modelDeployment = (
  name: string,
  reference: string,
  app: string,
  strategy: string,
): string => `apiVersion: modelpack.dev/v1alpha1
kind: ModelDeployment
metadata: {name: ${name}, namespace: demo}
spec:
  model: {reference: "${reference}", refreshInterval: 10m}
  selector: {matchLabels: {app: ${app}}}
  mount: {path: /models/tiny}
  strategy: ${strategy}
`;
const deployment = (app: string): string => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${app}, namespace: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: ${app}}}
  template:
    metadata: {labels: {app: ${app}}}
    spec: {containers: [{name: server, image: "registry.example.com/model-server:1"}]}
`;

try {
  say("1. Build or reuse the tools: kube-apiserver, etcd, kwok and a registry (the first run takes minutes)");
  await ensureTools(["kubernetes", "etcd", "kwok", "olareg"]);

  say("2. Start a Kubernetes 1.35 control plane on 127.0.0.1 with two fake CRI-O 1.34 nodes (kwok)");
  plane = await startControlPlane({ full: true });
  await plane.createFakeNodes(2, { containerRuntimeVersion: "cri-o://1.34.0" });
  await kubectl(["get", "nodes", "-o", "wide"]);

  say("3. Start a local OCI registry and publish a small real ModelPack model");
  registry = await startRegistry({ kind: "olareg" });
  const artifact = await buildModelPackArtifact(sampleModelFiles(), { name: "tiny-demo", family: "demo" });
  await pushArtifact(registry, "models/tiny-demo", "v1", artifact);
  const reference = `${registry.host}/models/tiny-demo:v1`;
  await cli(["inspect", reference, "--plain-http"]);

  say("4. Install the CRD and start the operator with its admission webhook (registered by URL)");
  await kubectl(["apply", "--server-side", "-f", join(ROOT, "crds")]);
  await kubectl(["create", "namespace", "demo"]);
  const [health = 0] = await pickFreePorts(1);
  operator = main(
    [
      "run",
      "--kubeconfig",
      plane.kubeconfigPath,
      "--namespace",
      "default",
      "--plain-http-registries",
      registry.host,
      "--health-bind-address",
      `127.0.0.1:${health}`,
      "--webhook-bind-address",
      "127.0.0.1:0",
      "--webhook-url",
      "https://127.0.0.1:0/mutate-pods",
      "--init-image",
      "registry.example.com/modelpack-operator:demo",
      "--log-level",
      "warn",
    ],
    { ...quiet, signal: operatorStop.signal },
  );
  const ready = async (): Promise<boolean> =>
    (await fetch(`http://127.0.0.1:${health}/readyz`).catch(() => undefined))?.status === 200;
  for (let i = 0; !(await ready()); i++) {
    if (i > 240) throw new Error("the operator did not become ready");
    await new Promise((r) => setTimeout(r, 250));
  }
  console.log(`operator ready: /healthz, /readyz and /metrics on 127.0.0.1:${health}`);

  say("5. Apply a ModelDeployment (strategy Auto) and wait until it is Ready");
  await kubectl(["apply", "-f", "-"], modelDeployment("tiny-demo", reference, "server", "Auto"));
  await kubectl([
    "wait",
    "-n",
    "demo",
    "--for=condition=Ready",
    "modeldeployment/tiny-demo",
    "--timeout=60s",
  ]);
  await kubectl(["get", "md", "-n", "demo", "-o", "wide"]);
  await kubectl([
    "get",
    "md",
    "tiny-demo",
    "-n",
    "demo",
    "-o",
    'jsonpath={.status.resolved.reference}{"\\n"}{range .status.conditions[*]}{.type}={.status} ({.reason}): {.message}{"\\n"}{end}',
  ]);

  say("6. Apply a Deployment whose pods the ModelDeployment selects: the webhook mounts the model");
  await kubectl(["apply", "-f", "-"], deployment("server"));
  await until("2 Running server pods", async () => {
    const out = await kubectlQuiet([
      "get",
      "pods",
      "-n",
      "demo",
      "-l",
      "app=server",
      "-o",
      "jsonpath={.items[*].status.phase}",
    ]);
    return out.split(" ").filter((p) => p === "Running").length === 2 ? true : undefined;
  });
  await kubectl(["get", "pods", "-n", "demo", "-l", "app=server", "-o", "wide"]);
  await kubectl([
    "get",
    "pods",
    "-n",
    "demo",
    "-l",
    "app=server",
    "-o",
    'jsonpath={.items[0].spec.volumes[?(@.image)]}{"\\n"}{.items[0].spec.containers[0].volumeMounts}{"\\n"}',
  ]);

  say("7. The InitContainer strategy: an init container pulls and verifies the model into an emptyDir");
  await kubectl(
    ["apply", "-f", "-"],
    modelDeployment("tiny-demo-init", reference, "server-init", "InitContainer"),
  );
  await kubectl([
    "wait",
    "-n",
    "demo",
    "--for=condition=Ready",
    "modeldeployment/tiny-demo-init",
    "--timeout=60s",
  ]);
  await kubectl(["apply", "-f", "-"], deployment("server-init"));
  await until("2 Running server-init pods", async () => {
    const out = await kubectlQuiet([
      "get",
      "pods",
      "-n",
      "demo",
      "-l",
      "app=server-init",
      "-o",
      "jsonpath={.items[*].status.phase}",
    ]);
    return out.split(" ").filter((p) => p === "Running").length === 2 ? true : undefined;
  });
  const initArgs = await kubectl([
    "get",
    "pods",
    "-n",
    "demo",
    "-l",
    "app=server-init",
    "-o",
    "jsonpath={.items[0].spec.initContainers[0].args}",
  ]);
  say("   Fake nodes run no containers, so here is the init container's own command, run locally:");
  work = await mkdtemp(join(tmpdir(), "modelpack-demo-"));
  const args = JSON.parse(initArgs) as string[];
  const dest = join(work, "model");
  const state = join(work, "pull-state.json");
  const pullArgs = args
    .map((a, i) => (args[i - 1] === "--dest" ? dest : args[i - 1] === "--state-file" ? state : a))
    .filter((a, i, all) => !(a.startsWith("--registry-config") || all[i - 1] === "--registry-config"));
  await cli(pullArgs);
  for (const name of (await readdir(dest, { recursive: true })).map(String).sort()) {
    const info = await stat(join(dest, name));
    if (info.isFile())
      console.log(`  ${(info.mode & 0o777).toString(8)}  ${String(info.size).padStart(6)}  ${name}`);
  }

  say("Done: the model reached the pods pinned to its digest, both ways. Cleaning up.");
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  if (plane !== undefined) console.error(`control-plane logs:\n${plane.logTails(15)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
