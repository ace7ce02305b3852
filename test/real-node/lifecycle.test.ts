/**
 * `npm run harness -- up --real-node` / `status` / `down` as a user runs them (each its own
 * process), with real pods on the node in between, and proof that `down` leaves the host as it
 * found it: mounts, network links, addresses, routes, iptables, cgroups, sysctls, fixed paths,
 * network namespaces and processes are compared before and after.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { z } from "zod";
import { buildContainerImage, buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { NODE, run, type RunResult } from "../shipping/support.js";
import { hostSnapshot, skipReason, snapshotDiff } from "./support.js";
import { waitFor } from "../harness/testing.js";

const CLI = fileURLToPath(new URL("../harness/cli.ts", import.meta.url));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function harness(stateDir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      NODE,
      ["--import", "tsx", CLI, ...args],
      {
        env: { ...process.env, HARNESS_STATE_DIR: stateDir, ...env },
        timeout: 20 * 60_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const Status = z.object({
  running: z.boolean(),
  server: z.string(),
  registry: z.string(),
  kubeconfig: z.string(),
  realNode: z.object({ node: z.string(), runtime: z.string() }),
  components: z.array(z.object({ name: z.string(), running: z.boolean() })),
});

describe.skipIf(skipReason("containerd") !== undefined)("harness up --real-node | status | down", () => {
  let stateDir = "";
  afterAll(async () => {
    if (stateDir) {
      await harness(stateDir, ["down"]); // in case a test failed half-way
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  test("runs real pods, and down leaves the host as it was", async () => {
    stateDir = await mkdtemp(join(tmpdir(), "mpo-real-node-cli-"));
    const before = hostSnapshot(stateDir);

    const up = await harness(stateDir, ["up", "--real-node"]);
    expect(up.code, up.stderr).toBe(0);
    const took = Number(/\(took ([\d.]+) s\)/.exec(up.stdout)?.[1]);
    console.log(`harness up --real-node (warm tools): ${took} s`);
    expect(took).toBeLessThan(20);

    const statusRun = await harness(stateDir, ["status", "--output", "json"]);
    expect(statusRun.code, statusRun.stdout).toBe(0);
    const status = Status.parse(JSON.parse(statusRun.stdout));
    expect(status.registry).toMatch(/^[\d.]+:\d+$/);
    expect(status.realNode).toEqual({ node: "modelpack-node", runtime: "containerd" });
    expect(status.components.map((c) => c.name)).toEqual(
      expect.arrayContaining(["kube-apiserver", "kubelet", "containerd", "kube-proxy", "registry"]),
    );

    // Real pods: the sandbox, an emptyDir and two image volumes (an image, and a ModelPack
    // artifact, which containerd mounts empty) make mounts, cgroups and shims to clean up.
    const registry = `http://${status.registry}`;
    const image = await buildContainerImage([{ path: "hello.txt", content: "hello from an image volume\n" }]);
    await pushArtifact({ url: registry }, "lifecycle/image", "v1", image);
    const model = await buildModelPackArtifact([
      { path: "weights/model.safetensors", content: "w".repeat(4096) },
    ]);
    await pushArtifact({ url: registry }, "lifecycle/model", "v1", model);
    const kubectl = (args: string[], input?: string): Promise<RunResult> =>
      run("kubectl", ["--kubeconfig", status.kubeconfig, ...args], input === undefined ? {} : { input });
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "lifecycle", namespace: "default" },
      spec: {
        containers: [
          {
            name: "main",
            image: `${status.registry}/pause:harness`,
            volumeMounts: [
              { name: "scratch", mountPath: "/scratch" },
              { name: "image", mountPath: "/image" },
              { name: "model", mountPath: "/model" },
            ],
          },
        ],
        volumes: [
          { name: "scratch", emptyDir: {} },
          { name: "image", image: { reference: `${status.registry}/lifecycle/image:v1` } },
          { name: "model", image: { reference: `${status.registry}/lifecycle/model:v1` } },
        ],
      },
    };
    const apply = await kubectl(["apply", "-f", "-"], JSON.stringify(pod));
    expect(apply.code, apply.stderr).toBe(0);
    await waitFor(
      "the pod to run on the real node",
      async () => {
        const get = await kubectl(["get", "pod", "lifecycle", "-o", "jsonpath={.status.phase}"]);
        return get.stdout === "Running" ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(snapshotDiff(before, hostSnapshot(stateDir)).length).toBeGreaterThan(0);

    const down = await harness(stateDir, ["down"]);
    expect(down.code, down.stdout + down.stderr).toBe(0);
    expect(down.stdout).toContain("effects on this host are undone");
    expect(snapshotDiff(before, hostSnapshot(stateDir))).toEqual([]);
  });

  test("up --real-node refuses what cannot run here, and says why", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mpo-real-node-refused-"));
    try {
      // CRI-O without a crio on PATH and without its source archive.
      const result = await harness(dir, ["up", "--real-node", "--runtime", "cri-o"], {
        MODELPACK_THIRD_PARTY: join(dir, "no-third-party"),
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("no crio on PATH and no CRI-O source archive");
      expect(result.stderr).toContain("MODELPACK_THIRD_PARTY");
      expect(existsSync(join(dir, "state.json"))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
