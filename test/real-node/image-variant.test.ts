/**
 * An artifact's image variant (publish-image) on a real containerd 2.4 node: the operator's Auto
 * strategy picks it, containerd mounts it as an image volume and the containers read every file
 * byte-identical (digests printed by the containers, compared here), and two pods on the node
 * share one pull: the registry is reached through a counting proxy inside the node's network
 * namespace, which sees each layer blob fetched once.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, test } from "vitest";
import { main } from "../../src/cli/main.js";
import { waitFor } from "../harness/testing.js";
import { buildModelPackArtifact, pushArtifact, sha256, type ArtifactFile } from "../support/publisher.js";
import {
  apply,
  digestsPrinted,
  hashingContainer,
  installOperator,
  modelDeployment,
  pushOperatorImage,
  waitForCondition,
} from "./operator.js";
import { kubectlOk, skipReason, useRealNode } from "./support.js";

const FILES: ArtifactFile[] = [
  {
    path: "weights/model-00001-of-00002.safetensors",
    content: randomBytes(3 * 1024 * 1024),
    encoding: "raw",
  },
  { path: "weights/model-00002-of-00002.safetensors", content: randomBytes(700 * 1024 + 3), encoding: "raw" },
  { path: "config.json", content: JSON.stringify({ model_type: "tiny" }), encoding: "tar" },
  { path: "tokenizer.json", content: '{"vocab":{"a":1}}', encoding: "tar+gzip" },
  { path: "README.md", content: "# a tiny model as an image\n", encoding: "raw" },
];

/**
 * A plain-HTTP proxy to `upstream`, run inside the node's network namespace (as root), that
 * prints `METHOD path` for every request it forwards.
 */
const PROXY_SCRIPT = [
  'const http = require("node:http"); const [host, port, upstream] = process.argv.slice(1);',
  'const [upHost, upPort] = upstream.split(":");',
  "http.createServer((req, res) => {",
  '  console.log(req.method + " " + req.url);',
  "  const out = http.request({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers: req.headers }, (r) => {",
  "    res.writeHead(r.statusCode, r.headers); r.pipe(res); });",
  '  out.on("error", () => res.destroy()); req.pipe(out);',
  '}).listen(Number(port), host, () => console.log("listening"));',
].join("\n");

describe.skipIf(skipReason("containerd") !== undefined)(
  "an image variant on a real containerd node",
  { timeout: 300_000 },
  () => {
    const node = useRealNode("containerd");
    let proxy: ChildProcess | undefined;
    let proxyLog = "";
    afterAll(() => {
      if (proxy?.pid !== undefined && proxy.exitCode === null) proxy.kill("SIGTERM");
    });

    test("Auto picks the variant; containerd mounts it; two pods read every file byte-identical from one pull", async () => {
      const n = node();
      // The counting proxy, inside the node's namespace, in front of the node's registry.
      const proxyHost = `${n.nodeAddress}:5055`;
      proxy = spawn(
        "nsenter",
        [
          `--net=${n.netnsPath}`,
          "--",
          process.execPath,
          "-e",
          PROXY_SCRIPT,
          n.nodeAddress,
          "5055",
          n.registry,
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      proxy.stdout?.on("data", (chunk: Buffer) => (proxyLog += chunk.toString()));
      await waitFor("the counting proxy", async () => (proxyLog.includes("listening") ? true : undefined), {
        timeoutMs: 15_000,
      });
      await n.trustRegistry(proxyHost);

      const image = await pushOperatorImage(n);
      await installOperator(n, image, { plainHttp: [proxyHost] });

      // The artifact and its variant, written straight to the registry (not counted).
      const artifact = await buildModelPackArtifact(FILES);
      const digest = await pushArtifact({ url: `http://${n.registry}` }, "models/variant", "v1", artifact);
      const stdout = new PassThrough();
      let printed = "";
      stdout.on("data", (c: Buffer) => (printed += c.toString()));
      const code = await main(
        ["publish-image", `${n.registry}/models/variant:v1`, "--plain-http", "-o", "json"],
        { stdout, stderr: process.stderr, env: { HOME: "/nonexistent" } },
      );
      expect(code).toBe(0);
      const published = JSON.parse(printed) as {
        digest: string;
        subject: string;
        findable: { via: string };
        layers: { digest: string; action: string }[];
      };
      expect(published.subject).toBe(digest);
      expect(published.findable.via).toBe("tag"); // the node's registry has no referrers API

      await kubectlOk(n, ["create", "namespace", "variant"]);
      await apply(
        n,
        modelDeployment("variant", "tiny", {
          reference: `${proxyHost}/models/variant:v1`,
          app: "tiny",
          path: "/models/tiny",
        }),
      );
      const status = (await waitForCondition(n, "variant", "tiny", "Ready", "True")) as {
        strategy?: string;
        imageVariant?: { used: boolean; digest?: string; reference?: string; reason: string };
      };
      expect(status.strategy).toBe("ImageVolume");
      expect(status.imageVariant).toMatchObject({
        used: true,
        digest: published.digest,
        reference: `${proxyHost}/models/variant@${published.digest}`,
        reason: "ImageVariantUsed",
      });

      const expected = new Map(FILES.map((f) => [f.path, sha256(f.content)]));
      const pod = (name: string): Record<string, unknown> => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: "variant", labels: { app: "tiny" } },
        spec: {
          terminationGracePeriodSeconds: 0,
          containers: [hashingContainer(image, "/models/tiny")],
        },
      });
      await apply(n, pod("reader-1"));
      expect(await digestsPrinted(n, "variant", "reader-1")).toEqual(expected);
      const spec = JSON.parse(
        await kubectlOk(n, ["get", "pod", "-n", "variant", "reader-1", "-o", "json"]),
      ) as {
        spec: { volumes: { image?: { reference: string } }[]; initContainers?: unknown[] };
      };
      expect(spec.spec.volumes.flatMap((v) => (v.image ? [v.image.reference] : []))).toEqual([
        `${proxyHost}/models/variant@${published.digest}`,
      ]);
      expect(spec.spec.initContainers ?? []).toEqual([]);

      await apply(n, pod("reader-2"));
      expect(await digestsPrinted(n, "variant", "reader-2")).toEqual(expected);

      // One pull for both pods: each layer blob went through the registry once.
      const gets = (blob: string): number =>
        proxyLog.split("\n").filter((l) => l.startsWith("GET ") && l.endsWith(`/blobs/${blob}`)).length;
      const layers = [...new Set(published.layers.map((l) => l.digest))];
      expect(layers.map((l) => [l, gets(l)])).toEqual(layers.map((l) => [l, 1]));
    });
  },
);

describe.skipIf(skipReason("cri-o") !== undefined)(
  "an image variant beside a raw artifact on a real CRI-O node",
  { timeout: 300_000 },
  () => {
    const node = useRealNode("cri-o");

    test("Auto keeps the ModelPack artifact (CRI-O mounts it): the variant is not needed, the files come from the artifact", async () => {
      const n = node();
      const image = await pushOperatorImage(n);
      await installOperator(n, image);
      const files = FILES.filter((f) => f.encoding === "raw");
      const artifact = await buildModelPackArtifact(files);
      const digest = await pushArtifact({ url: `http://${n.registry}` }, "models/raw", "v1", artifact);
      const stdout = new PassThrough();
      const code = await main(
        ["publish-image", `${n.registry}/models/raw:v1`, "--plain-http", "-o", "json"],
        {
          stdout,
          stderr: process.stderr,
          env: { HOME: "/nonexistent" },
        },
      );
      expect(code).toBe(0);

      await kubectlOk(n, ["create", "namespace", "variant"]);
      await apply(
        n,
        modelDeployment("variant", "raw", {
          reference: `${n.registry}/models/raw:v1`,
          app: "raw",
          path: "/models/raw",
        }),
      );
      const status = (await waitForCondition(n, "variant", "raw", "Ready", "True")) as {
        strategy?: string;
        imageVariant?: { used: boolean; reason: string };
      };
      expect(status.strategy).toBe("ImageVolume");
      expect(status.imageVariant).toMatchObject({ used: false, reason: "ImageVariantNotNeeded" });
      await apply(n, {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "reader", namespace: "variant", labels: { app: "raw" } },
        spec: { terminationGracePeriodSeconds: 0, containers: [hashingContainer(image, "/models/raw")] },
      });
      expect(await digestsPrinted(n, "variant", "reader")).toEqual(
        new Map(files.map((f) => [f.path, sha256(f.content)])),
      );
      const spec = JSON.parse(
        await kubectlOk(n, ["get", "pod", "-n", "variant", "reader", "-o", "json"]),
      ) as {
        spec: { volumes: { image?: { reference: string } }[] };
      };
      expect(spec.spec.volumes.flatMap((v) => (v.image ? [v.image.reference] : []))).toEqual([
        `${n.registry}/models/raw@${digest}`,
      ]);
    });
  },
);
