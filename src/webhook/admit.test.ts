import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it, vi } from "vitest";
import {
  DIGEST,
  imageVolumeUnsupportedStatus,
  INIT_SETTINGS,
  modelDeployment,
  pod,
  podReview,
  readyStatus,
  storeOf,
  type ModelDeploymentFixture,
} from "../../test/webhook/fixtures.js";
import { AdmissionReview, type AdmissionReviewResponse } from "./admission-review.js";
import { admit, type AdmitContext } from "./admit.js";
import { WebhookRequestError } from "./errors.js";

const review = (object: V1Pod, options?: Parameters<typeof podReview>[1]): AdmissionReview =>
  AdmissionReview.parse(podReview(object, options));
const context = (fixtures: ModelDeploymentFixture[]): AdmitContext => ({
  store: storeOf(fixtures.map(modelDeployment)),
  settings: INIT_SETTINGS,
});
const patchOf = (answer: AdmissionReviewResponse): { op: string; path: string; value?: unknown }[] =>
  JSON.parse(Buffer.from(answer.response.patch ?? "", "base64").toString("utf8"));

const llama: ModelDeploymentFixture = { name: "llama", matchLabels: { app: "llama" } };

describe("admit", () => {
  it("allows a pod that no ModelDeployment selects, with no patch", () => {
    const answer = admit(review(pod({ labels: { app: "other" } })), context([llama]));
    expect(answer).toEqual({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "0e1c1b24-6a2e-4d5c-9a3f-1d2e3f4a5b6c", allowed: true },
    });
  });

  it("allows a matching pod in another namespace unchanged", () => {
    const answer = admit(review(pod({ namespace: "elsewhere" })), context([llama]));
    expect(answer.response).toEqual({ uid: expect.any(String), allowed: true });
  });

  it("patches a pod a Ready ModelDeployment selects: volume pinned to the digest, mounts, annotation", () => {
    const answer = admit(review(pod()), context([llama]));
    expect(answer.response).toMatchObject({ allowed: true, patchType: "JSONPatch" });
    const patch = patchOf(answer);
    expect(patch).toContainEqual({
      op: "add",
      path: "/spec/volumes/-",
      value: {
        name: "modelpack-model-llama",
        image: { reference: `registry.example.com/models/llama@${DIGEST}`, pullPolicy: "IfNotPresent" },
      },
    });
    expect(patch.filter((op) => op.path.endsWith("/volumeMounts/-"))).toHaveLength(2);
    expect(patch).toContainEqual({
      op: "add",
      path: "/metadata/annotations/modelpack.dev~1model.llama",
      value: DIGEST,
    });
  });

  it("answers dryRun requests the same way", () => {
    const wet = admit(review(pod()), context([llama]));
    const dry = admit(review(pod(), { dryRun: true }), context([llama]));
    expect(dry).toEqual(wet);
  });

  it("denies a pod a not-Ready ModelDeployment selects, naming it, the cause and the next step", () => {
    const answer = admit(review(pod()), context([{ ...llama, status: imageVolumeUnsupportedStatus() }]));
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status).toMatchObject({ code: 403, reason: "Forbidden" });
    expect(answer.response.status?.message).toMatch(
      /^ModelDeployment serving\/llama selects this pod but is not Ready: Stalled, ImageVolumeUnsupported: .*use strategy Auto or InitContainer.*ReplicaSet/,
    );
  });

  it("denies when any one of several matching ModelDeployments is not Ready, listing each", () => {
    const answer = admit(
      review(pod({ labels: { app: "llama", tier: "gpu" } })),
      context([
        llama,
        { name: "b", matchLabels: { tier: "gpu" }, status: undefined },
        { name: "a", matchLabels: { tier: "gpu" }, generation: 2, status: readyStatus({ generation: 1 }) },
      ]),
    );
    const message = answer.response.status?.message ?? "";
    expect(message).toMatch(/^ModelDeployment serving\/a .*; ModelDeployment serving\/b /);
    expect(message).not.toContain("serving/llama");
  });

  it("passes every Ready match to the planner in name order and denies with its conflict", () => {
    const planMounts = vi.fn().mockReturnValue({
      allowed: false,
      message: "mount path /models/x of ModelDeployment serving/a is used by ...",
    });
    const answer = admit(review(pod({ labels: { app: "llama", tier: "gpu" } })), {
      ...context([
        { name: "b", matchLabels: { tier: "gpu" } },
        { name: "a", matchLabels: { app: "llama" } },
      ]),
      planMounts,
    });
    expect(planMounts.mock.calls[0]?.[1].map((t: { name: string }) => t.name)).toEqual(["a", "b"]);
    expect(planMounts.mock.calls[0]?.[2]).toBe(INIT_SETTINGS);
    expect(answer.response).toMatchObject({
      allowed: false,
      status: { code: 403, message: "mount path /models/x of ModelDeployment serving/a is used by ..." },
    });
  });

  it("refuses through the planner a conflict it finds: the mount path is taken", () => {
    const answer = admit(review(pod()), context([{ ...llama, mount: { path: "/etc/server" } }]));
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status?.message).toContain("/etc/server");
  });

  it("returns the planner's warnings", () => {
    const planMounts = () => ({
      allowed: true as const,
      patch: [],
      warnings: ["already mounted at an earlier digest"],
    });
    const answer = admit(review(pod()), { ...context([llama]), planMounts });
    expect(answer.response).toEqual({
      uid: expect.any(String),
      allowed: true,
      warnings: ["already mounted at an earlier digest"],
    });
  });

  it("mounts with InitContainer when the status says so", () => {
    const answer = admit(
      review(pod()),
      context([{ ...llama, status: readyStatus({ strategy: "InitContainer" }) }]),
    );
    const patch = patchOf(answer);
    expect(JSON.stringify(patch)).toContain("emptyDir");
    expect(patch.some((op) => op.path.startsWith("/spec/initContainers"))).toBe(true);
  });

  it.each([
    ["UPDATE", { operation: "UPDATE" }],
    ["a non-pod kind", { kind: "ConfigMap" }],
  ])("allows %s requests unchanged without reading the object", (_, options) => {
    const answer = admit(AdmissionReview.parse({ ...podReview(pod(), options) }), context([llama]));
    expect(answer.response).toEqual({ uid: expect.any(String), allowed: true });
  });

  it("throws MalformedReview for an object that is not a pod", () => {
    const body = podReview(pod());
    (body.request as { object: unknown }).object = { metadata: {}, spec: { containers: "nope" } };
    expect(() => admit(AdmissionReview.parse(body), context([llama]))).toThrow(WebhookRequestError);
    try {
      admit(AdmissionReview.parse(body), context([llama]));
    } catch (err) {
      expect(err).toMatchObject({
        code: "MalformedReview",
        message: expect.stringContaining("spec.containers"),
      });
    }
  });
});
