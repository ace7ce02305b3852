/**
 * `npm run demo -- --real-node [--runtime cri-o]` (root): the demo's story on a real node. A real
 * kubelet with containerd (default) or CRI-O runs the operator, installed by its Helm chart from
 * the image built without Docker, and a Deployment whose container prints the SHA-256 of every
 * model file it reads, so the last screen is `kubectl logs` of a real serving container: on
 * containerd the files arrive through the verified init-container pull, on CRI-O straight from
 * the image volume. Everything stays inside the network namespace the harness creates, and is
 * undone at the end (and on Ctrl-C).
 */
import { spawn } from "node:child_process";
import { main } from "../../src/cli/main.js";
import type { RuntimeName } from "../../test/harness/real-node/configs.js";
import {
  crioUnavailableReason,
  realNodeUnavailableReason,
  startRealNode,
  type RealNode,
} from "../../test/harness/real-node/real-node.js";
import { buildModelPackArtifact, pushArtifact } from "../../test/support/publisher.js";
import {
  digestsPrinted,
  installOperator,
  layerFiles,
  pushOperatorImage,
  serveModel,
  uninstallOperator,
} from "../../test/real-node/operator.js";
import { sampleModelFiles } from "./sample-model.js";

const say = (text: string): void => void process.stdout.write(`\n\x1b[1m${text}\x1b[0m\n`);

function kubectl(node: RealNode, args: string[]): Promise<string> {
  process.stdout.write(`$ kubectl ${args.join(" ")}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn("kubectl", ["--kubeconfig", node.kubeconfigPath, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      process.stdout.write(out.endsWith("\n") || out === "" ? out : `${out}\n`);
      if (code === 0) resolve(out);
      else reject(new Error(`kubectl ${args.join(" ")} failed: ${err.trim()}`));
    });
  });
}

/** Runs the real-node demo; returns the process exit code. */
export async function realNodeDemo(runtime: RuntimeName): Promise<number> {
  const unavailable = runtime === "cri-o" ? crioUnavailableReason() : realNodeUnavailableReason(runtime);
  if (unavailable) {
    console.error(`demo --real-node: ${unavailable}`);
    return 1;
  }
  let node: RealNode | undefined;
  let stopping: Promise<unknown> | undefined;
  const cleanUp = async (): Promise<void> => {
    stopping ??= node?.stop();
    await stopping;
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stdout.write("\ninterrupted: undoing the real node\n");
      void cleanUp().finally(() => process.exit(130));
    });
  }
  try {
    say(
      `1. Start a control plane and a real ${runtime} node (kubelet, runc, CNI, kube-proxy) in a network namespace`,
    );
    console.log("   (the first run builds the kubelet and the runtime from source: several minutes)");
    node = await startRealNode({ runtime, log: (line) => console.log(`   ${line}`) });
    await kubectl(node, ["get", "nodes", "-o", "wide"]);
    console.log(`registry the node trusts: ${node.registry}`);

    say("2. Build the operator image without Docker and push it to that registry");
    const image = await pushOperatorImage(node);
    console.log(`pushed ${image}`);

    say("3. Install the operator with its Helm chart (2 replicas, webhook through its Service)");
    await installOperator(node, image);
    await kubectl(node, ["get", "pods", "-n", "modelpack-system", "-o", "wide"]);

    say("4. Publish a small real ModelPack model (raw layers) and inspect it");
    const artifact = await buildModelPackArtifact(sampleModelFiles(), { name: "tiny-demo", family: "demo" });
    await pushArtifact({ url: `http://${node.registry}` }, "models/tiny-demo", "v1", artifact);
    const reference = `${node.registry}/models/tiny-demo:v1`;
    process.stdout.write(`$ modelpack-operator inspect ${reference} --plain-http\n`);
    await main(["inspect", reference, "--plain-http"], {
      stdout: process.stdout,
      stderr: process.stderr,
      env: process.env,
    });

    say(
      "5. Apply a ModelDeployment (strategy Auto; the operator picks what this node can mount) and a Deployment",
    );
    console.log(
      "   whose container (the operator image, running node) prints the SHA-256 of every model file",
    );
    const { pod } = await serveModel(node, image, {
      namespace: "demo",
      name: "server",
      reference,
      path: "/models/tiny",
    });
    await kubectl(node, ["get", "md", "-n", "demo", "-o", "wide"]);

    say("6. What the real container read: kubectl logs");
    const printed = await digestsPrinted(node, "demo", pod);
    await kubectl(node, ["logs", "-n", "demo", pod, "-c", "main"]);
    const expected = layerFiles(artifact.manifest);
    const same =
      printed.size === expected.size && [...expected].every(([path, digest]) => printed.get(path) === digest);
    const via =
      runtime === "cri-o" ? "straight from the image volume" : "through the verified init-container pull";
    if (!same) throw new Error(`the container read other bytes than the artifact's layers (${via})`);
    console.log(`✓ all ${expected.size} files match the artifact's layer digests, read ${via}`);

    say("7. helm uninstall, then undo the node: processes, mounts, namespace, cgroups, sysctls");
    await uninstallOperator(node);
    return 0;
  } catch (err) {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    if (node) console.error(node.logTails(15));
    return 1;
  } finally {
    await cleanUp();
    say("Done.");
  }
}
