/**
 * The operator on a real containerd 2.4 node, installed by the Helm chart with the image built
 * without Docker: its pods run and lead, the API server reaches its webhook through the Service,
 * and models really reach containers, checked by the SHA-256 of every file a container reads
 * (never by the pod phase: containerd mounts a ModelPack artifact as an empty volume and reports
 * success). The tests run in order and share the installation; the last one uninstalls it.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, test } from "vitest";
import type { RealNode } from "../harness/real-node/real-node.js";
import { waitFor } from "../harness/testing.js";
import { buildContainerImage, buildModelPackArtifact, pushArtifact, sha256 } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import {
  OPERATOR_NAMESPACE,
  apply,
  digestsPrinted,
  hashingContainer,
  installOperator,
  layerFiles,
  modelDeployment,
  newestPod,
  pushOperatorImage,
  serveModel,
  uninstallOperator,
  waitForCondition,
} from "./operator.js";
import { kubectl, kubectlOk, skipReason, useRealNode } from "./support.js";

const MODEL_FILES = (version: string) => [
  { path: "config.json", content: JSON.stringify({ model_type: "tiny", version }) },
  { path: "tokenizer.json", content: `{"version": "${version}"}` },
  { path: "weights/model-00001-of-00002.safetensors", content: randomBytes(1024 * 1024) },
  { path: "weights/model-00002-of-00002.safetensors", content: randomBytes(300 * 1024) },
  { path: "README.md", content: `# tiny model ${version}\n` },
];

describe.skipIf(skipReason("containerd") !== undefined)(
  "the operator on a real containerd node",
  { timeout: 300_000 },
  () => {
    const node = useRealNode("containerd");
    let image = "";
    let privateRegistry: TestRegistry | undefined;

    const json = async (n: RealNode, args: string[]): Promise<Record<string, unknown>> =>
      JSON.parse(await kubectlOk(n, [...args, "-o", "json"])) as Record<string, unknown>;

    test("the chart installs the built image: pods Running and Ready, a leader elected, metrics served", async () => {
      const n = node();
      privateRegistry = await startRegistry({
        auth: "basic",
        network: { netnsPath: n.netnsPath, address: n.nodeAddress },
      });
      image = await pushOperatorImage(n);
      await installOperator(n, image, { plainHttp: [privateRegistry.host] });
      const deployment = await json(n, [
        "get",
        "deployment",
        "-n",
        OPERATOR_NAMESPACE,
        "mpo-modelpack-operator",
      ]);
      expect((deployment.status as { readyReplicas?: number }).readyReplicas).toBe(2);

      const pods = await json(n, ["get", "pods", "-n", OPERATOR_NAMESPACE]);
      const items = pods.items as { metadata: { name: string }; status: { podIP: string; phase: string } }[];
      expect(items.map((p) => p.status.phase)).toEqual(["Running", "Running"]);
      const holder = await waitFor(
        "a leader",
        async () => {
          const leases = await json(n, ["get", "leases", "-n", OPERATOR_NAMESPACE]);
          const lease = (leases.items as { spec: { holderIdentity?: string } }[])[0];
          return lease?.spec.holderIdentity || undefined;
        },
        { timeoutMs: 60_000 },
      );
      expect(items.map((p) => p.metadata.name)).toContain(holder.split("_")[0]);

      // Metrics, straight from a pod's address inside the node's namespace.
      const metrics = await fetch(`http://${items[0]?.status.podIP}:8081/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain("modelpack_");
    });

    test("Auto on containerd is InitContainer, and a container reads every file byte-identical", async () => {
      const n = node();
      const artifact = await buildModelPackArtifact(MODEL_FILES("v1"));
      await pushArtifact({ url: `http://${n.registry}` }, "models/tiny", "v1", artifact);
      // The webhook, reached by the API server through the operator's Service, adds the puller.
      const { status, pod } = await serveModel(n, image, {
        namespace: "serving",
        name: "tiny",
        reference: `${n.registry}/models/tiny:v1`,
        path: "/models/tiny",
        updatePolicy: "Rollout",
        refreshInterval: "30s",
      });
      expect(JSON.stringify(status)).toContain('"strategy":"InitContainer"');
      const spec = await json(n, ["get", "pod", "-n", "serving", pod]);
      expect(JSON.stringify(spec)).toContain("modelpack-pull");
      expect(await digestsPrinted(n, "serving", pod)).toEqual(layerFiles(artifact.manifest));
    });

    test("a registry that needs credentials: the pull secret works, a wrong one is named", async () => {
      const n = node();
      const registry = privateRegistry;
      if (!registry) throw new Error("the private registry did not start");
      const artifact = await buildModelPackArtifact(MODEL_FILES("private"));
      await pushArtifact(
        { url: registry.url, username: registry.username, password: registry.password },
        "models/private",
        "v1",
        artifact,
      );
      await kubectlOk(n, ["create", "namespace", "private"]);
      const secret = (password: string): string[] => [
        "create",
        "secret",
        "docker-registry",
        "model-creds",
        "-n",
        "private",
        `--docker-server=${registry.host}`,
        `--docker-username=${registry.username}`,
        `--docker-password=${password}`,
      ];
      await kubectlOk(n, secret(registry.password));
      const { pod } = await serveModel(n, image, {
        namespace: "private",
        name: "private",
        reference: `${registry.host}/models/private:v1`,
        path: "/models/private",
        pullSecrets: ["model-creds"],
      });
      expect(await digestsPrinted(n, "private", pod)).toEqual(layerFiles(artifact.manifest));

      // The same secret with a wrong password: the next pod's puller fails and names the secret.
      await kubectlOk(n, ["delete", "secret", "model-creds", "-n", "private"]);
      await kubectlOk(n, secret("wrong-password"));
      await kubectlOk(n, ["delete", "pod", "-n", "private", pod, "--wait=false"]);
      const next = await newestPod(n, "private", "private", [pod]);
      const message = await waitFor(
        "the puller to fail",
        async () => {
          const result = await kubectl(n, ["logs", "-n", "private", next, "-c", "modelpack-pull-private"]);
          return /model-creds/.test(result.stdout + result.stderr) ? result.stdout : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 1_000 },
      ).catch(async (err: unknown) => {
        const logs = await kubectl(n, ["logs", "-n", "private", next, "-c", "modelpack-pull-private"]);
        const pods = await kubectl(n, ["get", "pod", "-n", "private", "-o", "yaml"]);
        throw new Error(
          `${(err as Error).message}\npuller logs: ${logs.stdout}${logs.stderr}\n${pods.stdout}`,
        );
      });
      expect(message).toContain(
        'rejected the configured credentials (user "tester", from pull secret "model-creds")',
      );

      // Without the secret the kubelet cannot mount it, and the pod's events say which one.
      await kubectlOk(n, ["delete", "secret", "model-creds", "-n", "private"]);
      await kubectlOk(n, ["delete", "pod", "-n", "private", next, "--wait=false"]);
      const third = await newestPod(n, "private", "private", [pod, next]);
      await waitFor(
        "an event naming the missing secret",
        async () => {
          const events = await kubectlOk(n, [
            "get",
            "events",
            "-n",
            "private",
            "--field-selector",
            `involvedObject.name=${third}`,
            "-o",
            "jsonpath={.items[*].message}",
          ]);
          return /secret "model-creds" not found/.test(events) ? events : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 1_000 },
      );
    });

    test("a forced ImageVolume on containerd is refused, never mounted empty; an image mounts", async () => {
      const n = node();
      await kubectlOk(n, ["create", "namespace", "forced"]);
      await apply(
        n,
        modelDeployment("forced", "forced", {
          reference: `${n.registry}/models/tiny:v1`,
          app: "forced",
          path: "/models/tiny",
          strategy: "ImageVolume",
        }),
      );
      const status = await waitForCondition(n, "forced", "forced", "MountSupported", "False");
      expect(JSON.stringify(status)).toContain("RuntimeCannotMount");
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "forced", namespace: "forced", labels: { app: "forced" } },
        spec: { containers: [hashingContainer(image, "/models/tiny")] },
      };
      const refused = await kubectl(n, ["apply", "-f", "-"], JSON.stringify(pod));
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain("forced/forced");

      // The node itself mounts image volumes: an ordinary image's files are all there.
      const files = [
        { path: "data/hello.txt", content: "hello from an image volume\n" },
        { path: "data/nested/blob.bin", content: randomBytes(64 * 1024) },
      ];
      await pushArtifact(
        { url: `http://${n.registry}` },
        "images/data",
        "v1",
        await buildContainerImage(files),
      );
      await apply(n, {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "image-volume", namespace: "forced" },
        spec: {
          containers: [
            { ...hashingContainer(image, "/data"), volumeMounts: [{ name: "data", mountPath: "/data" }] },
          ],
          volumes: [{ name: "data", image: { reference: `${n.registry}/images/data:v1` } }],
        },
      });
      const printed = await digestsPrinted(n, "forced", "image-volume");
      expect(printed).toEqual(new Map(files.map((f) => [f.path, sha256(f.content)])));
    });

    test("a tag move under Rollout rolls the Deployment, and the new pods read the new files", async () => {
      const n = node();
      const before = await newestPod(n, "serving", "tiny");
      const v2 = await buildModelPackArtifact(MODEL_FILES("v2"));
      await pushArtifact({ url: `http://${n.registry}` }, "models/tiny", "v1", v2);
      await waitFor(
        "the ModelDeployment to pin the moved tag",
        async () => {
          const md = await kubectlOk(n, [
            "get",
            "md",
            "-n",
            "serving",
            "tiny",
            "-o",
            "jsonpath={.status.resolved.digest}",
          ]);
          return md === v2.manifestDigest ? md : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 1_000 },
      );
      const after = await newestPod(n, "serving", "tiny", [before]);
      expect(await digestsPrinted(n, "serving", after)).toEqual(layerFiles(v2.manifest));
    });

    test("deleting the leader hands over within one lease duration, and pods keep being admitted", async () => {
      const n = node();
      const leases = await json(n, ["get", "leases", "-n", OPERATOR_NAMESPACE]);
      const lease = (
        leases.items as {
          metadata: { name: string };
          spec: { holderIdentity: string; leaseDurationSeconds: number };
        }[]
      )[0];
      if (!lease) throw new Error("no lease");
      const leader = lease.spec.holderIdentity.split("_")[0] ?? "";
      const started = Date.now();
      await kubectlOk(n, ["delete", "pod", "-n", OPERATOR_NAMESPACE, leader, "--wait=false"]);
      const next = await waitFor(
        "another leader",
        async () => {
          const holder = await kubectlOk(n, [
            "get",
            "lease",
            "-n",
            OPERATOR_NAMESPACE,
            lease.metadata.name,
            "-o",
            "jsonpath={.spec.holderIdentity}",
          ]);
          return holder && holder.split("_")[0] !== leader ? holder : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      const seconds = (Date.now() - started) / 1000;
      console.log(`leader ${leader} deleted; ${next} leads after ${seconds.toFixed(1)} s`);
      expect(seconds).toBeLessThanOrEqual(lease.spec.leaseDurationSeconds);

      // Admission goes on: a new pod of the served Deployment gets the puller and the files.
      const before = await newestPod(n, "serving", "tiny");
      await kubectlOk(n, ["delete", "pod", "-n", "serving", before, "--wait=false"]);
      const fresh = await newestPod(n, "serving", "tiny", [before]);
      expect((await digestsPrinted(n, "serving", fresh)).size).toBe(5);
    });

    test("helm uninstall: pods are created in every namespace again, and nothing of ours remains", async () => {
      const n = node();
      await uninstallOperator(n);
      for (const namespace of ["serving", "private", "forced", "default"]) {
        const name = `after-uninstall`;
        await apply(n, {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name, namespace, labels: { app: "tiny" } },
          spec: { containers: [hashingContainer(image, "/tmp")] },
        });
        const spec = await kubectlOk(n, ["get", "pod", "-n", namespace, name, "-o", "json"]);
        expect(spec).not.toContain("modelpack-pull");
      }
      const webhooks = await kubectlOk(n, ["get", "mutatingwebhookconfigurations", "-o", "name"]);
      expect(webhooks.trim()).toBe("");
      const left = await waitFor(
        "the release's objects to be gone",
        async () => {
          const names = await kubectlOk(n, [
            "get",
            "all,leases,secrets,configmaps,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings",
            "-A",
            "-l",
            "app.kubernetes.io/instance=mpo",
            "-o",
            "name",
          ]);
          return names.trim() === "" ? names : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 1_000 },
      );
      expect(left.trim()).toBe("");
      await privateRegistry?.stop();
    });
  },
);
