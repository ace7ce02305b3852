import { describe, expect, it } from "vitest";
import { ModelDeployment, type ModelDeploymentStatus } from "../api/index.js";
import { planMounts } from "../mount/index.js";
import { applyJsonPatch } from "../mount/apply-json-patch.js";
import { condition, INIT_SETTINGS, readyStatus, REGISTRY } from "../../test/webhook/fixtures.js";
import { podInjection } from "./injection.js";
import { bindingName, bindingsFor, celLiteral } from "./policies.js";

const md = (status: ModelDeploymentStatus | undefined, spec: Record<string, unknown> = {}, generation = 1) =>
  ModelDeployment.parse({
    apiVersion: "modelpack.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name: "llama", namespace: "serve", generation },
    spec: {
      model: { reference: `${REGISTRY}/models/llama:v1` },
      selector: { matchLabels: { app: "llama" } },
      mount: { path: "/models/llama" },
      ...spec,
    },
    ...(status !== undefined && { status }),
  });

describe("podInjection", () => {
  it.each<[string, ModelDeploymentStatus | undefined, RegExp, number?]>([
    ["no status yet", undefined, /is not Ready/],
    ["Ready for an older generation", readyStatus({ generation: 1 }), /is not Ready/, 2],
    [
      "not Ready",
      {
        observedGeneration: 1,
        conditions: [condition("Ready", "False", "ManifestNotFound", "tag v1 not found")],
      },
      /is not Ready: ManifestNotFound: tag v1 not found/,
    ],
  ])("%s: refused with the webhook's message", (_name, status, message, generation = 1) => {
    const injection = podInjection(md(status, {}, generation), INIT_SETTINGS);
    expect(injection).toEqual({
      observedGeneration: generation,
      allowed: false,
      message: expect.any(String),
    });
    expect(injection.message).toMatch(message);
  });

  it.each(["ImageVolume", "InitContainer"] as const)(
    "%s: what the policies add is exactly what the webhook's patch adds to a bare pod",
    (strategy) => {
      const model = md(readyStatus({ strategy }), {
        model: { reference: `${REGISTRY}/models/llama:v1`, pullSecrets: [{ name: "creds" }] },
        mount: { path: "/models/llama", containers: ["server"] },
      });
      const injection = podInjection(model, INIT_SETTINGS);
      expect(injection).toMatchObject({ observedGeneration: 1, allowed: true, containers: ["server"] });
      const pod = {
        metadata: { namespace: "serve" },
        spec: { containers: [{ name: "server" }, { name: "other" }] },
      };
      const plan = planMounts(
        pod,
        [
          {
            name: "llama",
            namespace: "serve",
            pinnedReference: model.status?.resolved?.reference ?? "",
            digest: model.status?.resolved?.digest ?? "",
            strategy,
            mountPath: "/models/llama",
            containers: ["server"],
            pullSecrets: ["creds"],
            sizeBytes: model.status?.model?.sizeBytes ?? 0,
          },
        ],
        INIT_SETTINGS,
      );
      if (!plan.allowed) throw new Error(plan.message);
      const patched = applyJsonPatch<unknown>(pod, plan.patch) as {
        metadata: { annotations: Record<string, string> };
        spec: {
          volumes: unknown[];
          initContainers?: unknown[];
          imagePullSecrets?: { name: string }[];
          containers: { name: string; volumeMounts?: unknown[] }[];
        };
      };
      expect(injection.annotations).toEqual(patched.metadata.annotations);
      expect(injection.volumes).toEqual(patched.spec.volumes);
      expect(injection.initContainers).toEqual(patched.spec.initContainers);
      expect(injection.imagePullSecrets).toEqual(patched.spec.imagePullSecrets?.map((s) => s.name));
      expect(patched.spec.containers[0]?.volumeMounts).toEqual([injection.mount]);
      expect(patched.spec.containers[1]?.volumeMounts).toBeUndefined();
    },
  );

  it("an allowed registry list the status breaks is a refusal, as at the webhook", () => {
    const injection = podInjection(md(readyStatus()), INIT_SETTINGS, {
      allowedRegistries: ["elsewhere.example"],
    });
    expect(injection.allowed).toBe(false);
    expect(injection.message).toMatch(/not in the operator's allowed registries \(elsewhere.example\)/);
  });
});

describe("bindings", () => {
  it.each([
    ["serve", "llama", "serve.llama"],
    ["serve", "x".repeat(253), `serve.${"x".repeat(236)}.hash`],
  ])("%s/%s is bound as %s", (namespace, name, expected) =>
    expect(bindingName(namespace, name, () => "hash")).toBe(expected),
  );

  it("match the ModelDeployment's namespace and selector, name it as the param, admit when it is gone", () => {
    const selector = { matchExpressions: [{ key: "app", operator: "In" as const, values: ["a", "b"] }] };
    const owner = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingAdmissionPolicy",
      name: "p",
      uid: "u1",
    };
    const { mutating, validating } = bindingsFor(
      { namespace: "serve", name: "llama", selector },
      "serve.llama",
      {
        mutating: owner,
      },
    );
    const paramRef = { name: "llama", namespace: "serve", parameterNotFoundAction: "Allow" };
    const matchResources = {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "serve" } },
      objectSelector: selector,
    };
    expect(mutating).toMatchObject({
      kind: "MutatingAdmissionPolicyBinding",
      metadata: { name: "serve.llama", ownerReferences: [{ ...owner, controller: false }] },
      spec: { policyName: "models.modelpack.dev", paramRef, matchResources },
    });
    expect(validating).toMatchObject({
      kind: "ValidatingAdmissionPolicyBinding",
      spec: { paramRef, matchResources, validationActions: ["Deny"] },
    });
    expect(validating).not.toHaveProperty("metadata.ownerReferences");
  });
});

describe("celLiteral", () => {
  it.each([
    ["text", '"text"'],
    [65532, "65532"],
    [false, "false"],
    [["ALL"], '["ALL"]'],
    [
      { runAsUser: 1, capabilities: { drop: ["ALL"] } },
      '{"runAsUser": dyn(1), "capabilities": dyn({"drop": dyn(["ALL"])})}',
    ],
  ])("%j → %s", (value, expected) => expect(celLiteral(value)).toBe(expected));
});
