/**
 * Feature gates reach the apiserver: with `ImageVolume=false` a 1.35 apiserver silently drops
 * `spec.volumes[].image` and the mounts naming it (no error, no warning), which is exactly what the
 * operator's dry-run probe has to detect. The default-on case is in control-plane.test.ts.
 */
import { CoreV1Api } from "@kubernetes/client-node";
import { readFileSync, readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname } from "node:path";
import { describe, expect, test } from "vitest";
import { startControlPlane } from "./control-plane.js";
import { HarnessError } from "./errors.js";
import { imageVolumeOf, imageVolumePod } from "./fixtures/resources.js";
import { createNamespace, useControlPlane } from "./testing.js";

const controlPlane = useControlPlane({ featureGates: { ImageVolume: false } });

describe("a control plane started with featureGates { ImageVolume: false }", () => {
  test("passes the gate on the kube-apiserver command line", () => {
    const plane = controlPlane();
    expect(plane.featureGates).toEqual({ ImageVolume: false });
    expect(plane.logTail("kube-apiserver", 100_000)).toContain("--feature-gates=ImageVolume=false");
  });

  test("server-side dry-run silently drops the image volume and its mount", async () => {
    const plane = controlPlane();
    const namespace = await createNamespace(plane.kubeConfig, "image-volume-off");
    const core = plane.kubeConfig.makeApiClient(CoreV1Api);
    const pod = await core.createNamespacedPod({ namespace, body: imageVolumePod("probe"), dryRun: "All" });
    expect(imageVolumeOf(pod)).toEqual({ reference: undefined, mountPath: undefined });
    expect(pod.spec?.volumes ?? []).toEqual([]);
    expect(pod.spec?.containers[0]?.volumeMounts ?? []).toEqual([]);
  });
});

describe("a control plane that cannot start", () => {
  test("fails fast with the component, its log tail and the log path, and leaves nothing running", async () => {
    const started = Date.now();
    const error: unknown = await startControlPlane({ featureGates: { NoSuchGate: true } }).catch(
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(HarnessError);
    if (!(error instanceof HarnessError)) return;
    expect(Date.now() - started).toBeLessThan(30_000); // no waiting for the 90 s readiness timeout
    expect(error.code).toBe("component-exited");
    expect(error.message).toMatch(/^kube-apiserver exited with code 1 during startup/);
    expect(error.message).toContain("unrecognized feature gate: NoSuchGate");
    expect(error.logPath).toMatch(/\/logs\/kube-apiserver\.log$/);
    expect(error.message).toContain(`--- last 40 lines of ${error.logPath} ---`);
    // The folder is kept for the post-mortem the message points to; nothing may still run.
    const dir = dirname(dirname(error.logPath ?? "/"));
    expect(processesMentioning(dir)).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });
});

/** Pids of live processes whose command line mentions `text` (e.g. a control-plane folder). */
function processesMentioning(text: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text);
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}
