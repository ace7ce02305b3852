/**
 * deploy/argocd/health.lua, the Argo CD health check for ModelDeployment, run the way Argo CD's
 * controller runs it: in gopher-lua (the Lua Argo CD embeds), with the object as global `obj`
 * and only the package, base and table libraries (Argo CD's default for argocd-cm scripts), by the
 * harness's `argocd-lua` tool (test/harness/tools/argocd-lua, built from Go modules), against
 * ModelDeployments whose status is built by the controller's own plan(): the exact conditions the
 * operator writes. Also checks that the shipped copies (the argocd-cm patch and the chart's file)
 * are the same script.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ModelDeployment, type ModelDeploymentStatus } from "../../src/api/index.js";
import type { ArtifactInspection } from "../../src/artifact/inspect.js";
import type { ClusterCapabilities } from "../../src/controller/capabilities.js";
import { plan, resolveFailure, type Observation } from "../../src/controller/plan.js";
import { ensureTools } from "../harness/tools.js";
import { CHART, DEPLOY, ok, read } from "./support.js";

const HEALTH_LUA = join(DEPLOY, "argocd", "health.lua");
const work = mkdtempSync(join(tmpdir(), "mpo-argocd-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** What argocd-lua prints: the table the script returned, every value as Lua's tostring. */
const HealthStatus = z.object({ status: z.string(), message: z.string() });

/** The argocd-lua tool's folder: looked up once (build-tools.sh builds it on a cold cache). */
const argocdLua = ensureTools(["argocd-lua"]).then((folders) => join(folders["argocd-lua"], "argocd-lua"));

/** Runs the health check the way Argo CD does; returns {status, message}. */
async function health(obj: unknown, script = HEALTH_LUA): Promise<{ status: string; message: string }> {
  const tool = await argocdLua;
  const objFile = join(work, `obj-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(objFile, JSON.stringify(obj));
  return HealthStatus.parse(JSON.parse(await ok(tool, [script, objFile])));
}

const D1 = "sha256:" + "1".repeat(64);
const D2 = "sha256:" + "2".repeat(64);
const now = new Date("2026-11-25T12:00:00Z");

const md = (generation: number, status?: ModelDeploymentStatus, strategy?: string): ModelDeployment =>
  ModelDeployment.parse({
    apiVersion: "modelpack.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: {
      name: "llama",
      namespace: "serving",
      generation,
      uid: "0b6a7e4c-1111-4222-8333-444455556666",
    },
    spec: {
      model: { reference: "registry.example.com/models/llama:v1" },
      selector: { matchLabels: { app: "llama" } },
      mount: { path: "/models/llama" },
      ...(strategy !== undefined && { strategy }),
    },
    ...(status !== undefined && { status }),
  });

const inspection = (digest = D1): ArtifactInspection => ({
  reference: "registry.example.com/models/llama:v1",
  pinnedReference: `registry.example.com/models/llama@${digest}`,
  digest,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  artifactType: "application/vnd.cncf.model.manifest.v1+json",
  manifest: {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/vnd.cncf.model.manifest.v1+json",
    config: { mediaType: "application/vnd.cncf.model.config.v1+json", digest: D2, size: 10 },
    layers: [
      {
        mediaType: "application/vnd.cncf.model.weight.v1.raw",
        digest: D2,
        size: 100,
        annotations: { "org.cncf.model.filepath": "model.safetensors" },
      },
    ],
  },
  summary: { name: "llama", family: "llama3", sizeBytes: 100, layers: 1, files: 1 },
  valid: true,
  errors: [],
  warnings: [],
  lint: [],
});

const crio: ClusterCapabilities = {
  imageVolumeField: "kept",
  serverVersion: "v1.35.8",
  nodes: [{ name: "n1", containerRuntimeVersion: "cri-o://1.34.0", kubeletVersion: "v1.35.8" }],
};
const reconcile = (o: Partial<Observation> & Pick<Observation, "outcome">): ModelDeploymentStatus =>
  plan({ modelDeployment: md(1), capabilities: crio, now, ...o }).status;
/** The object as the apiserver serves it: the CR with the controller's status. */
const served = (generation: number, status: ModelDeploymentStatus | undefined) =>
  JSON.parse(JSON.stringify(md(generation, status))) as unknown;
const condition = (status: ModelDeploymentStatus, type: string) =>
  status.conditions?.find((c) => c.type === type);

describe("Argo CD health check (deploy/argocd/health.lua)", () => {
  it("is Progressing before the operator wrote any status", async () => {
    expect(await health(served(1, undefined))).toEqual({
      status: "Progressing",
      message: "Waiting for the operator to reconcile this ModelDeployment",
    });
  });

  it("is Healthy when Ready=True for the current generation, with the Ready message", async () => {
    const status = reconcile({ outcome: { inspection: inspection() } });
    const ready = condition(status, "Ready");
    expect(ready?.status).toBe("True");
    expect(await health(served(1, status))).toEqual({
      status: "Healthy",
      message: `${ready?.reason}: ${ready?.message}`,
    });
  });

  it("is Progressing while the status is older than the spec, even when it says Ready", async () => {
    const status = reconcile({ outcome: { inspection: inspection() } });
    expect(await health(served(2, status))).toEqual({
      status: "Progressing",
      message: "Waiting for the operator to observe generation 2 (status is for generation 1)",
    });
  });

  it("is Degraded when Stalled=True (a forced ImageVolume the cluster cannot mount)", async () => {
    const status = reconcile({
      modelDeployment: md(1, undefined, "ImageVolume"),
      capabilities: { ...crio, imageVolumeField: "dropped" },
      outcome: { inspection: inspection() },
    });
    const stalled = condition(status, "Stalled");
    expect(stalled).toMatchObject({ status: "True", reason: "ImageVolumeUnsupported" });
    expect(await health(served(1, status))).toEqual({
      status: "Degraded",
      message: `ImageVolumeUnsupported: ${stalled?.message}`,
    });
  });

  it.each(["NotFound", "Unauthorized", "DigestMismatch", "RegistryNotAllowed"] as const)(
    "is Degraded on the terminal registry failure %s",
    async (code) => {
      const status = reconcile({ outcome: { failure: resolveFailure(code, `registry said ${code}`) } });
      const stalled = condition(status, "Stalled");
      expect(stalled?.status).toBe("True");
      const result = await health(served(1, status));
      expect(result.status).toBe("Degraded");
      expect(result.message).toBe(`${stalled?.reason}: ${stalled?.message}`);
      expect(result.message).toContain(`registry said ${code}`);
    },
  );

  it("is Progressing when Reconciling=True (the registry is unreachable before any digest was verified)", async () => {
    const status = reconcile({
      outcome: { failure: resolveFailure("Unreachable", "cannot reach registry") },
    });
    const reconciling = condition(status, "Reconciling");
    expect(reconciling?.status).toBe("True");
    expect(await health(served(1, status))).toEqual({
      status: "Progressing",
      message: `${reconciling?.reason}: ${reconciling?.message}`,
    });
  });

  it("stays Healthy while a refresh fails and the verified digest stays in service (Ready stays True)", async () => {
    const ready = reconcile({ outcome: { inspection: inspection() } });
    const status = reconcile({
      modelDeployment: md(1, ready),
      now: new Date("2026-11-25T12:10:00Z"),
      outcome: { failure: resolveFailure("Unreachable", "cannot reach registry") },
    });
    expect(condition(status, "Resolved")?.status).toBe("False");
    const readyNow = condition(status, "Ready");
    expect(readyNow?.status).toBe("True");
    expect(await health(served(1, status))).toEqual({
      status: "Healthy",
      message: `${readyNow?.reason}: ${readyNow?.message}`,
    });
  });

  it("is Progressing while selected pods still mount an earlier digest (rollout)", async () => {
    const status = reconcile({
      outcome: { inspection: inspection() },
      pods: { matched: 3, current: 1, stale: 2 },
    });
    const reconciling = condition(status, "Reconciling");
    expect(reconciling).toMatchObject({ status: "True", reason: "RollingOut" });
    expect(await health(served(1, status))).toEqual({
      status: "Progressing",
      message: `RollingOut: ${reconciling?.message}`,
    });
  });

  it("is Healthy again after the spec change is reconciled", async () => {
    const first = reconcile({ outcome: { inspection: inspection(D1) } });
    const second = plan({
      modelDeployment: md(2, first),
      capabilities: crio,
      now,
      outcome: { inspection: inspection(D2) },
    }).status;
    expect(second.observedGeneration).toBe(2);
    expect((await health(served(2, second))).status).toBe("Healthy");
  });

  it("ignores a Ready=True condition observed for an older generation", async () => {
    const status = reconcile({ outcome: { inspection: inspection() } });
    const stale = { ...status, observedGeneration: 2 };
    const result = await health(served(2, stale));
    expect(result.status).toBe("Progressing");
  });

  it("ships the same script in the argocd-cm patch and in the Helm chart", () => {
    const script = read(HEALTH_LUA);
    expect(read(join(CHART, "files", "argocd-health.lua"))).toBe(script);
    const patch = read(join(DEPLOY, "argocd", "argocd-cm-patch.yaml"));
    const lines = patch.split("\n");
    const start = lines.indexOf("  resource.customizations.health.modelpack.dev_ModelDeployment: |");
    expect(start).toBeGreaterThan(0);
    const block = lines.slice(start + 1).map((l) => (l === "" ? "" : l.replace(/^ {4}/, "")));
    expect(lines.slice(start + 1).every((l) => l === "" || l.startsWith("    "))).toBe(true);
    expect(block.join("\n").replace(/\n+$/, "\n")).toBe(script);
    expect(patch).toMatch(/^ {2}name: argocd-cm$/m);
  });
});
