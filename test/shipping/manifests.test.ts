/**
 * deploy/: the kustomize layout renders; its CRD is the generated one byte for byte; the Deployment
 * is locked down (non-root with no hard-coded UID, read-only root, no privilege escalation, drop ALL, RuntimeDefault
 * seccomp, probes on 8081, 2 replicas, downward-API identity); RBAC never lists or watches Secrets;
 * every object is accepted by a real kube-apiserver, first with server-side dry-run, then for real;
 * the ServiceAccount can do exactly what DESIGN.md §5 allows (kubectl auth can-i); and
 * `kubectl delete -k deploy/` leaves no MutatingWebhookConfiguration behind.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAllYaml } from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { useControlPlane } from "../harness/testing.js";
import {
  CRD_FILE,
  DEPLOY,
  documentHeads,
  items,
  key,
  kubectl,
  ok,
  read,
  run,
  type KubeObject,
} from "./support.js";

const plane = useControlPlane();
const SA = "system:serviceaccount:modelpack-system:modelpack-operator";

interface Container {
  image: string;
  args: string[];
  env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: Record<string, unknown>;
}
interface DeploymentObject extends KubeObject {
  spec: {
    replicas: number;
    template: {
      spec: { securityContext: Record<string, unknown>; containers: Container[]; serviceAccountName: string };
    };
  };
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

describe("deploy/ (plain manifests)", () => {
  let rendered: string;
  let objects: KubeObject[];

  beforeAll(async () => {
    rendered = await ok("kubectl", ["kustomize", DEPLOY]);
    // Cluster-scoped objects first (the Namespace must exist before namespaced objects can be dry-run).
    const admin = plane().kubeconfigPath;
    const clusterScoped = await kubectl(
      admin,
      ["apply", "--server-side", "--dry-run=server", "-o", "json", "-f", "-"],
      documentsOf(rendered, (kind) =>
        [
          "Namespace",
          "CustomResourceDefinition",
          "ClusterRole",
          "ClusterRoleBinding",
          "MutatingWebhookConfiguration",
        ].includes(kind),
      ),
    );
    expect(items(clusterScoped).length).toBe(7);
    await kubectl(admin, ["apply", "--server-side", "-f", join(DEPLOY, "namespace.yaml")]);
    objects = items(
      await kubectl(admin, ["apply", "--server-side", "--dry-run=server", "-o", "json", "-f", "-"], rendered),
    );
  });

  it("keeps crds/ a byte-for-byte copy of the generated CRD", () => {
    expect(read(join(DEPLOY, "crds", "modelpack.dev_modeldeployments.yaml"))).toBe(read(CRD_FILE));
  });

  it("renders the expected objects, all in modelpack-system", () => {
    const expected = [
      "Namespace//modelpack-system",
      "CustomResourceDefinition//modeldeployments.modelpack.dev",
      "ServiceAccount/modelpack-system/modelpack-operator",
      "ClusterRole//modelpack-operator",
      "ClusterRole//modelpack-operator-cluster",
      "ClusterRoleBinding//modelpack-operator",
      "ClusterRoleBinding//modelpack-operator-cluster",
      "Role/modelpack-system/modelpack-operator",
      "RoleBinding/modelpack-system/modelpack-operator",
      "Deployment/modelpack-system/modelpack-operator",
      "PodDisruptionBudget/modelpack-system/modelpack-operator",
      "Service/modelpack-system/modelpack-operator-webhook",
      "Service/modelpack-system/modelpack-operator-metrics",
      "MutatingWebhookConfiguration//modelpack-operator",
    ];
    expect(objects.map(key).sort()).toEqual(expected.sort());
    expect(
      documentHeads(rendered)
        .map((d) => `${d.kind}/${d.namespace ?? ""}/${d.name}`)
        .sort(),
    ).toEqual(expected.sort());
  });

  it("runs a locked-down Deployment with two replicas, probes and the downward-API identity", () => {
    const deployment = objects.find((o) => o.kind === "Deployment") as DeploymentObject;
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe("modelpack-operator");
    // No hard-coded UID, GID or fsGroup (OpenShift's restricted SCC assigns them; the image is 65532).
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    const [container] = pod.containers;
    expect(container?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container?.args).toEqual(
      expect.arrayContaining([
        "run",
        "--health-bind-address=0.0.0.0:8081",
        "--webhook-service=modelpack-operator-webhook",
      ]),
    );
    // The init container runs the operator's own image: kustomize copies it into --init-image.
    expect(container?.args).toContain("--init-image=$(MODELPACK_INIT_IMAGE)");
    expect(container?.env).toContainEqual({ name: "MODELPACK_INIT_IMAGE", value: container?.image });
    expect(container?.image).toMatch(/:\d+\.\d+\.\d+$/);
    expect(container?.env).toEqual(
      expect.arrayContaining([
        { name: "POD_NAME", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } } },
        {
          name: "POD_NAMESPACE",
          valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } },
        },
      ]),
    );
    expect(container?.ports.map((p) => [p.name, p.containerPort])).toEqual([
      ["probes", 8081],
      ["webhook", 9443],
    ]);
    expect(container?.livenessProbe.httpGet).toMatchObject({ path: "/healthz", port: "probes" });
    expect(container?.readinessProbe.httpGet).toMatchObject({ path: "/readyz", port: "probes" });
    expect(container?.resources.requests).toBeDefined();
    expect(container?.resources.limits?.memory).toBeDefined();
  });

  it("fronts the webhook with 443 → 9443 and metrics with 8081, and keeps one replica through disruptions", () => {
    const service = (name: string) =>
      objects.find((o) => o.kind === "Service" && o.metadata.name === name) as KubeObject & {
        spec: { ports: { port: number; targetPort: string }[] };
      };
    expect(service("modelpack-operator-webhook").spec.ports).toEqual([
      expect.objectContaining({ port: 443, targetPort: "webhook" }),
    ]);
    expect(service("modelpack-operator-metrics").spec.ports).toEqual([
      expect.objectContaining({ port: 8081, targetPort: "probes" }),
    ]);
    expect(objects.find((o) => o.kind === "PodDisruptionBudget")).toMatchObject({
      spec: { minAvailable: 1 },
    });
  });

  it("never grants list or watch on Secrets, nor wildcards", () => {
    for (const role of objects.filter((o) => o.kind === "ClusterRole" || o.kind === "Role")) {
      for (const rule of (role as KubeObject & { rules: Rule[] }).rules) {
        expect(rule.verbs, key(role)).not.toContain("*");
        expect(rule.resources, key(role)).not.toContain("*");
        if (rule.resources.includes("secrets"))
          expect(
            rule.verbs.filter((v) => v === "list" || v === "watch"),
            key(role),
          ).toEqual([]);
      }
    }
  });

  it("is accepted by the apiserver for real, every object", async () => {
    const admin = plane().kubeconfigPath;
    await kubectl(admin, ["apply", "--server-side", "-k", DEPLOY]);
    const stored = await Promise.all(
      objects.map(async (o) =>
        key(
          items(
            await kubectl(admin, [
              "get",
              o.kind.toLowerCase() + (o.apiVersion.includes("/") ? "." + o.apiVersion.split("/")[0] : ""),
              o.metadata.name,
              ...(o.metadata.namespace ? ["-n", o.metadata.namespace] : []),
              "-o",
              "json",
            ]),
          )[0] as KubeObject,
        ),
      ),
    );
    expect(stored.sort()).toEqual(objects.map(key).sort());
    // Applying again changes nothing (a GitOps tool would see it in sync).
    const again = await kubectl(admin, ["apply", "--server-side", "-k", DEPLOY]);
    expect(again.split("\n").filter((l) => l.trim() !== "" && !l.endsWith("serverside-applied"))).toEqual([]);
  });

  it.each([
    // [verb, resource, namespace, allowed]
    ["get", "secrets/registry-creds", "serving", true],
    ["list", "secrets", "serving", false],
    ["watch", "secrets", "serving", false],
    ["list", "secrets", "modelpack-system", false],
    ["update", "secrets/modelpack-operator-webhook-tls", "modelpack-system", true],
    ["update", "secrets/other", "modelpack-system", false],
    ["create", "secrets", "serving", false],
    ["watch", "modeldeployments.modelpack.dev", "serving", true],
    ["patch", "modeldeployments.modelpack.dev --subresource=status", "serving", true],
    ["patch", "modeldeployments.modelpack.dev", "serving", false],
    ["update", "modeldeployments.modelpack.dev", "serving", false],
    ["watch", "pods", "serving", true],
    ["create", "pods", "serving", false],
    ["create", "pods", "modelpack-system", true],
    ["delete", "pods", "serving", false],
    ["watch", "nodes", "", true],
    // Rollouts are opt-in: no patch on workloads unless enabled (rbac.yaml).
    ["patch", "deployments.apps", "serving", false],
    ["get", "deployments.apps", "serving", true],
    ["delete", "deployments.apps", "serving", false],
    ["create", "events", "serving", true],
    ["update", "leases.coordination.k8s.io", "modelpack-system", true],
    ["update", "leases.coordination.k8s.io", "serving", false],
    ["patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io/modelpack-operator", "", true],
    ["patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io/someone-else", "", false],
    // deploy/ owns the configuration: the operator can never re-create it after an uninstall.
    ["create", "mutatingwebhookconfigurations.admissionregistration.k8s.io", "", false],
  ] as const)("lets the ServiceAccount %s %s in %s: %s", async (verb, resource, namespace, allowed) => {
    const result = await kubectlCanI(plane().kubeconfigPath, verb, resource, namespace);
    expect(result).toBe(allowed);
  });

  it("derives --init-image from the image kustomize sets, in deploy/ and in an overlay that copies the replacement", async () => {
    const work = mkdtempSync(join(tmpdir(), "modelpack-kustomize-"));
    try {
      cpSync(DEPLOY, join(work, "base"), { recursive: true });
      const digest = "sha256:" + "b".repeat(64);
      // What `kustomize edit set image` writes into deploy/kustomization.yaml.
      const base = join(work, "base", "kustomization.yaml");
      writeFileSync(base, read(base).replace(/newTag: \S+/, `digest: ${digest}`));
      const own = initImage(await ok("kubectl", ["kustomize", join(work, "base")]));
      expect(own).toEqual({
        image: `registry.example.com/modelpack/modelpack-operator@${digest}`,
        init: `registry.example.com/modelpack/modelpack-operator@${digest}`,
      });
      const replacements =
        /^replacements:\n[\s\S]*/m.exec(read(join(DEPLOY, "kustomization.yaml")))?.[0] ?? "";
      expect(replacements).not.toBe("");
      mkdirSync(join(work, "overlay"));
      writeFileSync(
        join(work, "overlay", "kustomization.yaml"),
        "resources: [../base]\nimages:\n  - name: registry.example.com/modelpack/modelpack-operator\n" +
          "    newName: corp.example/mpo\n    newTag: 2.0.0\n" +
          replacements,
      );
      const overlay = initImage(await ok("kubectl", ["kustomize", join(work, "overlay")]));
      expect(overlay.image).toMatch(/^corp\.example\/mpo[:@]/);
      expect(overlay.init).toBe(overlay.image);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("renders the webhook configuration without webhooks (the operator adds its own) and tells the operator rollouts are off", () => {
    const configuration = objects.find((o) => o.kind === "MutatingWebhookConfiguration") as
      (KubeObject & { webhooks?: unknown[] }) | undefined;
    expect(configuration?.webhooks ?? []).toEqual([]);
    const deployment = objects.find((o) => o.kind === "Deployment") as DeploymentObject;
    expect(deployment.spec.template.spec.containers[0]?.args).toContain("--workload-rollout=false");
  });

  it("leaves no MutatingWebhookConfiguration after kubectl delete -k deploy/, even with the operator's webhook in it", async () => {
    const admin = plane().kubeconfigPath;
    await kubectl(admin, ["apply", "--server-side", "-k", DEPLOY]);
    // What the operator does at run time: add its webhook entry (server-side apply, own manager).
    await kubectl(
      admin,
      ["apply", "--server-side", "--field-manager=modelpack-operator", "-f", "-"],
      JSON.stringify({
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "MutatingWebhookConfiguration",
        metadata: { name: "modelpack-operator" },
        webhooks: [
          {
            name: "pods.modelpack.dev",
            admissionReviewVersions: ["v1"],
            sideEffects: "None",
            failurePolicy: "Fail",
            rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
            namespaceSelector: {
              matchExpressions: [
                {
                  key: "kubernetes.io/metadata.name",
                  operator: "In",
                  values: ["no-namespace.modelpack.dev"],
                },
              ],
            },
            clientConfig: {
              service: {
                namespace: "modelpack-system",
                name: "modelpack-operator-webhook",
                path: "/mutate-pods",
              },
            },
          },
        ],
      }),
    );
    await kubectl(admin, ["delete", "-k", DEPLOY, "--wait=false"]);
    const left = items(await kubectl(admin, ["get", "mutatingwebhookconfigurations", "-o", "json"]));
    expect(left.map((o) => o.metadata.name)).not.toContain("modelpack-operator");
  });
});

/** `kubectl auth can-i` as the operator's ServiceAccount; `resource` may end with ` --subresource=NAME`. */
async function kubectlCanI(
  kubeconfig: string,
  verb: string,
  resource: string,
  namespace: string,
): Promise<boolean> {
  const result = await run("kubectl", [
    "--kubeconfig",
    kubeconfig,
    "auth",
    "can-i",
    verb,
    ...resource.split(" "),
    `--as=${SA}`,
    ...(namespace === "" ? [] : ["-n", namespace]),
  ]);
  if (result.stdout.trim() !== "yes" && result.stdout.trim() !== "no")
    throw new Error(`kubectl auth can-i: ${result.stderr}`);
  return result.stdout.trim() === "yes";
}

/** The operator container's image and the MODELPACK_INIT_IMAGE its --init-image expands to. */
function initImage(yaml: string): { image?: string; init?: string } {
  const deployment = (loadAllYaml(yaml) as (KubeObject | null)[]).find((o) => o?.kind === "Deployment") as
    DeploymentObject | undefined;
  const container = deployment?.spec.template.spec.containers[0];
  return {
    ...(container?.image !== undefined && { image: container.image }),
    ...(container?.env.find((e) => e.name === "MODELPACK_INIT_IMAGE")?.value !== undefined && {
      init: container.env.find((e) => e.name === "MODELPACK_INIT_IMAGE")?.value,
    }),
  };
}

/** The documents of a multi-document YAML stream whose `kind:` passes `keep`. */
function documentsOf(yaml: string, keep: (kind: string) => boolean): string {
  return yaml
    .split(/^---\s*$/m)
    .filter((doc) => keep(/^kind: (\S+)$/m.exec(doc)?.[1] ?? ""))
    .join("---\n");
}
