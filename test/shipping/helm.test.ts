/**
 * charts/modelpack-operator: `helm lint` (strict) for several value sets; `helm template` renders
 * the same objects as deploy/ and honours each value (cert-manager certificates, watched namespaces
 * with per-namespace RoleBindings, ServiceMonitor, CA bundle, Argo CD health ConfigMap, CRD toggle);
 * values.schema.json rejects bad values; rendering is deterministic (Argo CD stays in sync); and
 * `helm install` into the harness apiserver has every rendered object accepted, twice (all
 * namespaces, and watched namespaces without CRDs), with RBAC that follows watchNamespaces (Roles
 * in those namespaces only) and rollout.enabled; the operator's webhook survives `helm upgrade` and
 * `helm uninstall` leaves no MutatingWebhookConfiguration behind.
 */
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { useControlPlane, waitFor } from "../harness/testing.js";
import { ensureTools } from "../harness/tools.js";
import { startInstalledOperator } from "../support/installed-operator.js";
import {
  CHART,
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
let helm = "";

const VALUE_SETS: Record<string, string[]> = {
  default: [],
  "cert-manager": ["--set", "webhook.certificates.mode=cert-manager"],
  "cert-manager with an issuer": [
    "--set",
    "webhook.certificates.mode=cert-manager",
    "--set",
    "webhook.certificates.certManager.issuerRef.name=corp-ca",
    "--set",
    "webhook.certificates.certManager.issuerRef.kind=ClusterIssuer",
  ],
  "watched namespaces": ["--set", "watchNamespaces={team-a,team-b}"],
  "ServiceMonitor on": [
    "--set",
    "metrics.serviceMonitor.enabled=true",
    "--set",
    "metrics.serviceMonitor.labels.release=prom",
  ],
  "registries and CA bundle": [
    "--set",
    "registries.allowed={registry.example.com,127.0.0.1:5000}",
    "--set",
    "registries.plainHttp={127.0.0.1:5000}",
    "--set-string",
    "caBundle.pem=-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
  ],
  "Argo CD health, no CRDs, one replica": [
    "--set",
    "argocd.healthCheck.enabled=true",
    "--set",
    "crds.install=false",
    "--set",
    "replicaCount=1",
  ],
  "namespace-scoped with rollouts, NetworkPolicy and namespace": [
    "--set",
    "watchNamespaces={team-a}",
    "--set",
    "rollout.enabled=true",
    "--set",
    "networkPolicy.enabled=true",
    "--set",
    "networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.0/24",
    "--set",
    "namespace.create=true",
  ],
  "pinned digest and separate init image": [
    "--set",
    "image.digest=sha256:" + "a".repeat(64),
    "--set",
    "initImage.repository=registry.example.com/modelpack/puller",
    "--set",
    "initImage.tag=9.9.9",
    "--set",
    "initImage.pullPolicy=Always",
  ],
};

const template = (args: string[], release = "mpo", namespace = "modelpack-system") =>
  run(helm, ["template", release, CHART, "--namespace", namespace, ...args]);
const rendered = async (args: string[]): Promise<string> => {
  const result = await template(args);
  if (result.code !== 0) throw new Error(result.stderr);
  return result.stdout;
};
const heads = async (args: string[]) =>
  documentHeads(await rendered(args)).map((d) => `${d.kind}/${d.namespace ?? ""}/${d.name}`);
/** The Deployment's container args, read from the rendered YAML (the `- --flag` lines). */
const operatorArgs = async (args: string[]) =>
  [...(await rendered(args)).matchAll(/^ {12}- (run|--[a-z-]+(?:=.*)?)$/gm)].map((m) => m[1]);

describe("Helm chart", () => {
  beforeAll(async () => {
    helm = join((await ensureTools(["helm"])).helm, "helm");
  }, 45 * 60_000);

  it.each(Object.entries(VALUE_SETS))("lints strictly with %s values", async (_, args) => {
    await ok(helm, ["lint", CHART, "--strict", ...args]);
  });

  it("keeps files/ copies of the generated CRD and of the Argo CD health check", () => {
    expect(read(join(CHART, "files", "modelpack.dev_modeldeployments.yaml"))).toBe(read(CRD_FILE));
    expect(read(join(CHART, "files", "argocd-health.lua"))).toBe(read(join(DEPLOY, "argocd", "health.lua")));
  });

  it("renders the same kinds of objects as deploy/ (minus the Namespace, which Helm owns)", async () => {
    // Both own the MutatingWebhookConfiguration, so uninstalling removes it.
    const kinds = (list: { kind: string }[]) => [...new Set(list.map((d) => d.kind))].sort();
    const plain = documentHeads(await ok("kubectl", ["kustomize", DEPLOY])).filter(
      (d) => d.kind !== "Namespace",
    );
    expect(kinds(documentHeads(await rendered([])))).toEqual(kinds(plain));
    expect(await heads([])).toEqual(
      expect.arrayContaining([
        "CustomResourceDefinition//modeldeployments.modelpack.dev",
        "Deployment/modelpack-system/mpo-modelpack-operator",
        "Service/modelpack-system/mpo-modelpack-operator-webhook",
        "Service/modelpack-system/mpo-modelpack-operator-metrics",
        "PodDisruptionBudget/modelpack-system/mpo-modelpack-operator",
        "ClusterRoleBinding//mpo-modelpack-operator",
      ]),
    );
  });

  it("passes the operator the flags its values ask for", async () => {
    const defaults = await operatorArgs([]);
    expect(defaults).toEqual([
      "run",
      "--health-bind-address=0.0.0.0:8081",
      "--webhook-bind-address=0.0.0.0:9443",
      "--webhook-service=mpo-modelpack-operator-webhook",
      "--webhook-configuration-name=mpo-modelpack-operator",
      "--webhook-failure-policy=Fail",
      "--webhook-timeout-seconds=5",
      "--webhook-cert-secret=mpo-modelpack-operator-webhook-tls",
      "--init-image=registry.example.com/modelpack/modelpack-operator:0.1.0",
      "--log-level=info",
      "--workers=4",
      "--workload-rollout=false",
    ]);
    expect(await operatorArgs(VALUE_SETS["cert-manager"] ?? [])).toContain(
      "--webhook-cert-dir=/etc/modelpack-operator/webhook-certs",
    );
    expect(await operatorArgs(VALUE_SETS["watched namespaces"] ?? [])).toContain(
      "--watch-namespace=team-a,team-b",
    );
    expect(await operatorArgs(VALUE_SETS["registries and CA bundle"] ?? [])).toEqual(
      expect.arrayContaining([
        "--allowed-registries=registry.example.com,127.0.0.1:5000",
        "--plain-http-registries=127.0.0.1:5000",
        "--ca-file=/etc/modelpack-operator/ca/ca.crt",
      ]),
    );
    const pinned = await operatorArgs(VALUE_SETS["pinned digest and separate init image"] ?? []);
    expect(pinned).toEqual(
      expect.arrayContaining([
        "--init-image=registry.example.com/modelpack/puller:9.9.9",
        "--init-image-pull-policy=Always",
      ]),
    );
    expect(await rendered(VALUE_SETS["pinned digest and separate init image"] ?? [])).toContain(
      `image: "registry.example.com/modelpack/modelpack-operator:0.1.0@sha256:${"a".repeat(64)}"`,
    );
    expect(
      await operatorArgs([
        "--set",
        "leaderElection=false",
        "--set",
        "logLevel=debug",
        "--set",
        "webhook.failurePolicy=Ignore",
      ]),
    ).toEqual(
      expect.arrayContaining([
        "--disable-leader-election",
        "--log-level=debug",
        "--webhook-failure-policy=Ignore",
      ]),
    );
  });

  it("issues the webhook certificate with cert-manager when asked, with a self-signed Issuer unless one is given", async () => {
    const own = await heads(VALUE_SETS["cert-manager"] ?? []);
    expect(own).toEqual(
      expect.arrayContaining([
        "Issuer/modelpack-system/mpo-modelpack-operator-selfsigned",
        "Certificate/modelpack-system/mpo-modelpack-operator-webhook",
      ]),
    );
    const yaml = await rendered(VALUE_SETS["cert-manager"] ?? []);
    expect(yaml).toContain("- mpo-modelpack-operator-webhook.modelpack-system.svc\n");
    expect(yaml).toContain("secretName: mpo-modelpack-operator-webhook-tls");
    // The operator does not manage the Secret then: no Secret rights in its namespace.
    expect(yaml).not.toMatch(/resourceNames: \["mpo-modelpack-operator-webhook-tls"\]/);
    const given = await rendered(VALUE_SETS["cert-manager with an issuer"] ?? []);
    expect(documentHeads(given).map((d) => d.kind)).not.toContain("Issuer");
    expect(given).toMatch(/issuerRef:\n\s+kind: ClusterIssuer\n\s+name: corp-ca/);
    expect(await heads([])).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/^(Certificate|Issuer)\//)]),
    );
  });

  it("grants the namespaced permissions by a Role per watched namespace, cluster-wide otherwise", async () => {
    const watched = await heads(VALUE_SETS["watched namespaces"] ?? []);
    expect(watched).toEqual(
      expect.arrayContaining([
        "Role/team-a/mpo-modelpack-operator",
        "RoleBinding/team-a/mpo-modelpack-operator",
        "Role/team-b/mpo-modelpack-operator",
        "RoleBinding/team-b/mpo-modelpack-operator",
      ]),
    );
    // Nothing namespaced is granted cluster-wide, not even as an unbound ClusterRole.
    expect(watched).not.toContain("ClusterRoleBinding//mpo-modelpack-operator");
    expect(watched).not.toContain("ClusterRole//mpo-modelpack-operator");
    expect(watched).toContain("ClusterRoleBinding//mpo-modelpack-operator-cluster");
    expect(await heads([])).toContain("ClusterRoleBinding//mpo-modelpack-operator");
    const cluster =
      (await rendered(VALUE_SETS["watched namespaces"] ?? []))
        .split(/^---$/m)
        .find(
          (d) => d.includes("name: mpo-modelpack-operator-cluster\n") && d.includes("kind: ClusterRole\n"),
        ) ?? "";
    expect(cluster).not.toContain("secrets");
    expect(cluster).not.toContain('"create"');
    expect(cluster).toContain('resourceNames: ["mpo-modelpack-operator"]');
  });

  it("grants patch on workloads only with rollout.enabled, and tells the operator", async () => {
    const patchRule = /resources: \["deployments", "statefulsets", "daemonsets"\]\n\s+verbs: \["patch"\]/;
    expect(await rendered([])).not.toMatch(patchRule);
    const on = VALUE_SETS["namespace-scoped with rollouts, NetworkPolicy and namespace"] ?? [];
    expect(await rendered(on)).toMatch(patchRule);
    expect(await operatorArgs(on)).toContain("--workload-rollout=true");
  });

  it("renders the webhook configuration without webhooks, with cert-manager's CA injection when asked", async () => {
    const doc = (yaml: string) =>
      yaml.split(/^---$/m).find((d) => d.includes("kind: MutatingWebhookConfiguration")) ?? "";
    const plain = doc(await rendered([]));
    expect(plain).toContain("name: mpo-modelpack-operator\n");
    expect(plain).not.toMatch(/^webhooks:/m);
    expect(plain).not.toContain("inject-ca-from");
    expect(doc(await rendered(VALUE_SETS["cert-manager"] ?? []))).toContain(
      "cert-manager.io/inject-ca-from: modelpack-system/mpo-modelpack-operator-webhook",
    );
  });

  it("renders a NetworkPolicy for the webhook and metrics ports, and a restricted namespace, only when asked", async () => {
    const on = await rendered(
      VALUE_SETS["namespace-scoped with rollouts, NetworkPolicy and namespace"] ?? [],
    );
    const policy = on.split(/^---$/m).find((d) => d.includes("kind: NetworkPolicy")) ?? "";
    expect(policy).toMatch(
      /- port: 9443\n\s+protocol: TCP\n\s+from:\n\s+- ipBlock:\n\s+cidr: 10\.0\.0\.0\/24/,
    );
    expect(policy).toMatch(/- port: 8081\n\s+protocol: TCP\n/);
    expect(policy).toContain('policyTypes: ["Ingress"]');
    expect(
      await heads(VALUE_SETS["namespace-scoped with rollouts, NetworkPolicy and namespace"] ?? []),
    ).toContain("Namespace//modelpack-system");
    expect(on).toContain("pod-security.kubernetes.io/enforce: restricted");
    const off = await heads([]);
    expect(off.some((h) => h.startsWith("NetworkPolicy/") || h.startsWith("Namespace/"))).toBe(false);
  });

  it("renders a ServiceMonitor only when enabled, the CRD only when installed, a PDB only with replicas", async () => {
    expect(await heads(VALUE_SETS["ServiceMonitor on"] ?? [])).toContain(
      "ServiceMonitor/modelpack-system/mpo-modelpack-operator",
    );
    expect((await heads([])).some((h) => h.startsWith("ServiceMonitor/"))).toBe(false);
    const minimal = await heads(VALUE_SETS["Argo CD health, no CRDs, one replica"] ?? []);
    expect(minimal.some((h) => h.startsWith("CustomResourceDefinition/"))).toBe(false);
    expect(minimal.some((h) => h.startsWith("PodDisruptionBudget/"))).toBe(false);
    expect(minimal).toContain("ConfigMap/modelpack-system/mpo-modelpack-operator-argocd-health");
    const crd =
      (await rendered([])).split(/^---$/m).find((d) => d.includes("kind: CustomResourceDefinition")) ?? "";
    expect(crd).toContain("helm.sh/resource-policy: keep");
    // Apart from that annotation, the rendered CRD is the generated file.
    expect(
      crd
        .replace("  annotations:\n    helm.sh/resource-policy: keep\n", "")
        .replace(/^\n# Source: [^\n]+\n/, ""),
    ).toBe(read(CRD_FILE));
  });

  it("renders the Argo CD health check as the same Lua", async () => {
    const yaml = await rendered(VALUE_SETS["Argo CD health, no CRDs, one replica"] ?? []);
    const block =
      /resource\.customizations\.health\.modelpack\.dev_ModelDeployment: \|\n((?: {4}.*\n|\n)*)/.exec(
        yaml,
      )?.[1] ?? "";
    expect(
      block
        .split("\n")
        .map((l) => l.replace(/^ {4}/, ""))
        .join("\n")
        .replace(/\n+$/, "\n"),
    ).toBe(read(join(DEPLOY, "argocd", "health.lua")));
  });

  it("renders deterministically and uses no random or cluster-reading functions", async () => {
    for (const args of Object.values(VALUE_SETS)) expect(await rendered(args)).toBe(await rendered(args));
    for (const file of [
      "_helpers.tpl",
      "deployment.yaml",
      "rbac.yaml",
      "certificate.yaml",
      "services.yaml",
      "crds.yaml",
      "ca-configmap.yaml",
      "argocd-health.yaml",
      "servicemonitor.yaml",
      "pdb.yaml",
      "serviceaccount.yaml",
      "mutatingwebhookconfiguration.yaml",
      "networkpolicy.yaml",
      "namespace.yaml",
    ]) {
      expect(read(join(CHART, "templates", file)), file).not.toMatch(
        /\b(randAlphaNum|randAlpha|randNumeric|randAscii|randBytes|uuidv4|genCA|genPrivateKey|genSelfSignedCert|genSignedCert|lookup|now)\b/,
      );
    }
  });

  it.each([
    [["--set", "logLevel=loud"], "logLevel"],
    [["--set", "webhook.failurePolicy=Maybe"], "failurePolicy"],
    [["--set", "webhook.certificates.mode=vault"], "mode"],
    [["--set", "webhook.timeoutSeconds=60"], "timeoutSeconds"],
    [["--set", "replicaCount=0"], "replicaCount"],
    [["--set", "watchNamespaces={Team_A}"], "watchNamespaces"],
    [["--set", "registries.allowed={https://registry.example.com}"], "allowed"],
    [["--set", "image.digest=latest"], "digest"],
    [["--set", "unknownKey=1"], "unknownKey"],
  ])("rejects invalid values %j", async (args, field) => {
    const result = await template(args);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(field);
  });

  it("passes webhook namespace and object selectors to the operator as JSON flags", async () => {
    const result = await template([
      "--set",
      "webhook.objectSelector.matchLabels.modelpack=enabled",
      "--set",
      "webhook.namespaceSelector.matchLabels.team=a",
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`--webhook-object-selector={"matchLabels":{"modelpack":"enabled"}}`);
    expect(result.stdout).toContain(`--webhook-namespace-selector={"matchLabels":{"team":"a"}}`);
  });

  describe("helm install against the harness apiserver", () => {
    const installed = async (release: string, namespace: string): Promise<KubeObject[]> => {
      const manifest = await ok(helm, [
        "get",
        "manifest",
        release,
        "-n",
        namespace,
        "--kubeconfig",
        plane().kubeconfigPath,
      ]);
      const heads = documentHeads(manifest);
      expect(heads.length).toBeGreaterThan(5);
      return Promise.all(
        heads.map(async (h) => {
          const resource =
            h.kind === "CustomResourceDefinition"
              ? "customresourcedefinitions.apiextensions.k8s.io"
              : h.kind.toLowerCase();
          const json = await kubectl(plane().kubeconfigPath, [
            "get",
            resource,
            h.name,
            ...(h.namespace !== undefined
              ? ["-n", h.namespace]
              : resource === "customresourcedefinitions.apiextensions.k8s.io" || h.kind.startsWith("Cluster")
                ? []
                : ["-n", namespace]),
            "-o",
            "json",
          ]);
          return items(json)[0] as KubeObject;
        }),
      );
    };

    it("installs with default values and every rendered object is stored", async () => {
      await ok(helm, [
        "install",
        "mpo",
        CHART,
        "-n",
        "modelpack-system",
        "--create-namespace",
        "--kubeconfig",
        plane().kubeconfigPath,
      ]);
      const stored = await installed("mpo", "modelpack-system");
      expect(stored.map(key)).toEqual(
        expect.arrayContaining([
          "Deployment/modelpack-system/mpo-modelpack-operator",
          "CustomResourceDefinition//modeldeployments.modelpack.dev",
        ]),
      );
      const status = JSON.parse(
        await ok(helm, [
          "status",
          "mpo",
          "-n",
          "modelpack-system",
          "-o",
          "json",
          "--kubeconfig",
          plane().kubeconfigPath,
        ]),
      ) as { info: { status: string } };
      expect(status.info.status).toBe("deployed");
      // The CRD works: a ModelDeployment is accepted.
      await kubectl(plane().kubeconfigPath, ["create", "namespace", "serving"]);
      await kubectl(
        plane().kubeconfigPath,
        ["apply", "--server-side", "-n", "serving", "-f", "-"],
        JSON.stringify({
          apiVersion: "modelpack.dev/v1alpha1",
          kind: "ModelDeployment",
          metadata: { name: "llama" },
          spec: {
            model: { reference: "registry.example.com/models/llama:v1" },
            selector: { matchLabels: { app: "llama" } },
            mount: { path: "/models/llama" },
          },
        }),
      );
      // Upgrading with the same values changes nothing it should not (no random values).
      await ok(helm, [
        "upgrade",
        "mpo",
        CHART,
        "-n",
        "modelpack-system",
        "--kubeconfig",
        plane().kubeconfigPath,
      ]);
    });

    it("keeps the operator's webhook through helm upgrade, and helm uninstall leaves no MutatingWebhookConfiguration", async () => {
      const admin = plane().kubeconfigPath;
      const webhookOf = async () =>
        (
          items(
            await kubectl(admin, [
              "get",
              "mutatingwebhookconfiguration",
              "mpo-modelpack-operator",
              "-o",
              "json",
            ]),
          )[0] as KubeObject & { webhooks?: { name: string; namespaceSelector: unknown }[] }
        ).webhooks?.find((w) => w.name === "pods.modelpack.dev");
      // The operator as the chart runs it (by Service, with the chart's names), as a local process.
      const operator = await startInstalledOperator({
        kubeconfigPath: admin,
        namespace: "modelpack-system",
        configurationName: "mpo-modelpack-operator",
        service: "mpo-modelpack-operator-webhook",
      });
      try {
        const added = await waitFor("the operator's webhook in the chart's configuration", async () => {
          const hook = await webhookOf();
          return JSON.stringify(hook?.namespaceSelector ?? {}).includes('"serving"') ? hook : undefined;
        });
        await ok(helm, ["upgrade", "mpo", CHART, "-n", "modelpack-system", "--kubeconfig", admin]);
        expect(await webhookOf()).toEqual(added);
        await ok(helm, ["uninstall", "mpo", "-n", "modelpack-system", "--kubeconfig", admin]);
        // A change of scope while the operator still runs does not bring the configuration back.
        await kubectl(admin, ["create", "namespace", "after-uninstall"]);
        await kubectl(
          admin,
          ["apply", "--server-side", "-n", "after-uninstall", "-f", "-"],
          JSON.stringify({
            apiVersion: "modelpack.dev/v1alpha1",
            kind: "ModelDeployment",
            metadata: { name: "llama" },
            spec: {
              model: { reference: "registry.example.com/models/llama:v1" },
              selector: { matchLabels: { app: "llama" } },
              mount: { path: "/models/llama" },
            },
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 4_000));
      } finally {
        await operator.stop();
      }
      const left = items(await kubectl(admin, ["get", "mutatingwebhookconfigurations", "-o", "json"]));
      expect(left.map((o) => o.metadata.name)).not.toContain("mpo-modelpack-operator");
    });

    it("installs a second, namespace-scoped release whose ServiceAccount gets Secrets only in its watched namespaces", async () => {
      const admin = plane().kubeconfigPath;
      for (const namespace of ["team-a", "team-b", "team-c"])
        await kubectl(admin, ["create", "namespace", namespace]);
      await ok(helm, [
        "install",
        "team",
        CHART,
        "-n",
        "team-ops",
        "--create-namespace",
        "--kubeconfig",
        admin,
        "--set",
        "crds.install=false",
        "--set",
        "watchNamespaces={team-a,team-b}",
        "--set",
        "argocd.healthCheck.enabled=true",
        "--set-string",
        "caBundle.pem=-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
      ]);
      const stored = await installed("team", "team-ops");
      expect(stored.map(key)).toEqual(
        expect.arrayContaining([
          "RoleBinding/team-a/team-modelpack-operator",
          "ConfigMap/team-ops/team-modelpack-operator-ca",
          "ConfigMap/team-ops/team-modelpack-operator-argocd-health",
        ]),
      );
      const canI = async (verb: string, resource: string, namespace: string) =>
        (
          await run("kubectl", [
            "--kubeconfig",
            admin,
            "auth",
            "can-i",
            verb,
            resource,
            "-n",
            namespace,
            "--as=system:serviceaccount:team-ops:team-modelpack-operator",
          ])
        ).stdout.trim();
      expect(await canI("get", "secrets", "team-a")).toBe("yes");
      expect(await canI("get", "secrets", "team-c")).toBe("no");
      expect(await canI("list", "secrets", "team-a")).toBe("no");
      expect(await canI("watch", "pods", "team-b")).toBe("yes");
      expect(await canI("watch", "pods", "team-c")).toBe("no");
      expect(await canI("update", "leases.coordination.k8s.io", "team-ops")).toBe("yes");
      // Rollouts are opt-in, and the configuration is the chart's: no create, no patch on workloads.
      expect(await canI("patch", "deployments.apps", "team-a")).toBe("no");
      expect(await canI("get", "deployments.apps", "team-a")).toBe("yes");
      expect(await canI("create", "mutatingwebhookconfigurations.admissionregistration.k8s.io", "")).toBe(
        "no",
      );
    });
  });
});
