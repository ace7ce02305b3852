/**
 * The operator on a real CRI-O 1.36 node: the one runtime that mounts a ModelPack artifact as an
 * image volume. Auto picks ImageVolume for raw layers and the container reads every file through
 * the volume, byte-identical, folders from file paths included; tar layers (which CRI-O shows as the
 * tarball itself) and a legacy modctl artifact (no title annotation) go to the init container, and
 * never to an image volume that would hold the wrong bytes or nothing.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { ensureTools } from "../harness/tools.js";
import { buildModelPackArtifact, pushArtifact, sha256 } from "../support/publisher.js";
import { ok } from "../shipping/support.js";
import {
  apply,
  digestsPrinted,
  hashingContainer,
  hashingDeployment,
  installOperator,
  layerFiles,
  modelDeployment,
  newestPod,
  pushOperatorImage,
  serveModel,
  waitForCondition,
} from "./operator.js";
import { kubectl, kubectlOk, skipReason, useRealNode } from "./support.js";

describe.skipIf(skipReason("cri-o") !== undefined)(
  "the operator on a real CRI-O node",
  { timeout: 300_000 },
  () => {
    const node = useRealNode("cri-o");
    let image = "";
    let work = "";
    afterAll(async () => {
      if (work) await rm(work, { recursive: true, force: true });
    });

    test("Auto picks ImageVolume for raw layers: no init container, every file read through the volume", async () => {
      const n = node();
      expect(n.containerRuntimeVersion).toMatch(/^cri-o:\/\/1\.36\./);
      image = await pushOperatorImage(n);
      await installOperator(n, image);
      const artifact = await buildModelPackArtifact([
        { path: "config.json", content: '{"model_type": "tiny"}' },
        { path: "weights/model.safetensors", content: randomBytes(512 * 1024) },
        { path: "tokenizer/tokenizer.json", content: '{"v": 1}' },
      ]);
      await pushArtifact({ url: `http://${n.registry}` }, "models/raw", "v1", artifact);
      const { status, pod } = await serveModel(n, image, {
        namespace: "raw",
        name: "raw",
        reference: `${n.registry}/models/raw:v1`,
        path: "/models/raw",
      });
      expect(JSON.stringify(status)).toContain('"strategy":"ImageVolume"');
      const spec = await kubectlOk(n, ["get", "pod", "-n", "raw", pod, "-o", "json"]);
      expect(spec).not.toContain("initContainers");
      expect(spec).toContain(`"reference": "${n.registry}/models/raw@${artifact.manifestDigest}"`);
      expect(await digestsPrinted(n, "raw", pod)).toEqual(layerFiles(artifact.manifest));
    });

    test("tar layers: Auto picks InitContainer and a forced ImageVolume is refused", async () => {
      const n = node();
      const files = [
        { path: "config.json", content: '{"model_type": "tar"}', encoding: "tar" as const },
        { path: "weights/model.safetensors", content: randomBytes(256 * 1024), encoding: "tar" as const },
      ];
      const artifact = await buildModelPackArtifact(files);
      await pushArtifact({ url: `http://${n.registry}` }, "models/tar", "v1", artifact);
      await kubectlOk(n, ["create", "namespace", "tar"]);
      await apply(
        n,
        modelDeployment("tar", "auto", {
          reference: `${n.registry}/models/tar:v1`,
          app: "auto",
          path: "/models/tar",
        }),
        modelDeployment("tar", "forced", {
          reference: `${n.registry}/models/tar:v1`,
          app: "forced",
          path: "/models/tar",
          strategy: "ImageVolume",
        }),
      );
      const auto = await waitForCondition(n, "tar", "auto", "Ready", "True");
      expect(JSON.stringify(auto)).toContain('"strategy":"InitContainer"');
      await apply(n, hashingDeployment("tar", "auto", image, "/models/tar"));
      const pod = await newestPod(n, "tar", "auto");
      expect(await digestsPrinted(n, "tar", pod)).toEqual(
        new Map(files.map((f) => [f.path, sha256(f.content)])),
      );

      await waitForCondition(n, "tar", "forced", "MountSupported", "False");
      const refused = await kubectl(
        n,
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "forced", namespace: "tar", labels: { app: "forced" } },
          spec: { containers: [hashingContainer(image, "/models/tar")] },
        }),
      );
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain("tar/forced");
    });

    test("a legacy artifact built by modctl v0.2.2 (no title annotation) is not mounted empty", async () => {
      const n = node();
      const { modctl } = await ensureTools(["modctl"]);
      work = await mkdtemp(join(tmpdir(), "mpo-crio-modctl-"));
      const src = join(work, "src");
      await mkdir(src, { recursive: true });
      const sources = {
        "config.json": '{"model_type": "legacy"}',
        "model.safetensors": randomBytes(128 * 1024),
        "README.md": "# legacy\n",
      };
      for (const [name, content] of Object.entries(sources)) await writeFile(join(src, name), content);
      await writeFile(
        join(src, "Modelfile"),
        "NAME legacy\nARCH transformer\nFAMILY tiny\nFORMAT safetensors\nPARAMSIZE 1m\nPRECISION float16\n" +
          "CONFIG config.json\nMODEL model.safetensors\nDOC README.md\n",
      );
      const target = `${n.registry}/models/legacy:v1`;
      await ok(
        join(modctl, "modctl"),
        [
          "--storage-dir",
          join(work, "store"),
          "--no-progress",
          "build",
          "--plain-http",
          "--output-remote",
          "-t",
          target,
          "-f",
          join(src, "Modelfile"),
          src,
        ],
        { cwd: src },
      );
      const { status, pod } = await serveModel(n, image, {
        namespace: "legacy",
        name: "legacy",
        reference: target,
        path: "/models/legacy",
      });
      expect(JSON.stringify(status)).toContain('"strategy":"InitContainer"');
      expect(await digestsPrinted(n, "legacy", pod)).toEqual(
        new Map(Object.entries(sources).map(([name, content]) => [name, sha256(content)])),
      );
    });
  },
);
