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
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAllYaml } from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { pickFreePorts } from "../harness/ports.js";
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
  NODE,
  ok,
  read,
  ROOT,
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
  "host network on other ports": [
    "--set",
    "hostNetwork=true",
    "--set",
    "webhook.port=10260",
    "--set",
    "healthPort=10261",
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

/**
 * The harness apiserver's version. Chart.yaml's kubeVersion is checked against it; a helm built from
 * Go modules (as the harness builds it) defaults to v1.20.0, released builds to their client-go's.
 */
const KUBE_VERSION = "1.35.0";
const template = (args: string[], release = "mpo", namespace = "modelpack-system") =>
  run(helm, ["template", release, CHART, "--namespace", namespace, "--kube-version", KUBE_VERSION, ...args]);
const rendered = async (args: string[]): Promise<string> => {
  const result = await template(args);
  if (result.code !== 0) throw new Error(result.stderr);
  return result.stdout;
};
const heads = async (args: string[]) =>
  documentHeads(await rendered(args)).map((d) => `${d.kind}/${d.namespace ?? ""}/${d.name}`);
/** The rendered objects, parsed. */
const objectsOf = async (args: string[]): Promise<KubeObject[]> =>
  (loadAllYaml(await rendered(args)) as (KubeObject | null)[]).filter((o): o is KubeObject => o !== null);
const objectOf = async <T = KubeObject>(kind: string, args: string[] = []): Promise<T> => {
  const found = (await objectsOf(args)).find((o) => o.kind === kind);
  if (found === undefined) throw new Error(`no ${kind} rendered with ${args.join(" ")}`);
  return found as T;
};
interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  priorityClassName?: string;
  topologySpreadConstraints?: unknown[];
  securityContext?: Record<string, unknown>;
  containers: {
    image: string;
    command?: string[];
    args: string[];
    env: { name: string; value?: string }[];
    securityContext?: Record<string, unknown>;
  }[];
  volumes?: { name: string; secret?: { secretName: string; items?: { key: string }[] } }[];
}
type DeploymentObject = KubeObject & {
  spec: { template: { metadata: { annotations?: Record<string, string> }; spec: PodSpec } };
};
type PodObject = KubeObject & { spec: PodSpec };
const testPodArgs = ["--show-only", "templates/tests/test-connection.yaml"];
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
    expect(kinds(documentHeads(await rendered(["--skip-tests"])))).toEqual(kinds(plain));
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
      "--injection=webhook",
      "--webhook-cert-secret=mpo-modelpack-operator-webhook-tls",
      "--init-image=registry.example.com/modelpack/modelpack-operator:0.1.0",
      "--init-user=fixed",
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
    // Admission-policy injection: the operator writes its policies and bindings (and only then may create).
    const policyMode =
      (await rendered(["--set", "webhook.injection=admission-policy"]))
        .split(/^---$/m)
        .find(
          (d) => d.includes("name: mpo-modelpack-operator-cluster\n") && d.includes("kind: ClusterRole\n"),
        ) ?? "";
    expect(policyMode).toMatch(
      /validatingadmissionpolicybindings\n\s+verbs: \["get", "list", "create", "patch", "delete"\]/,
    );
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

  it("runs in the node's network only with hostNetwork: ClusterFirstWithHostNet DNS unless set, the ports the operator binds", async () => {
    type HostPod = {
      hostNetwork?: boolean;
      dnsPolicy?: string;
      containers: { args: string[]; ports: { name: string; containerPort: number }[] }[];
    };
    const podOf = async (args: string[]) =>
      (await objectOf<KubeObject & { spec: { template: { spec: HostPod } } }>("Deployment", args)).spec
        .template.spec;
    const defaults = await podOf([]);
    expect(defaults.hostNetwork).toBeUndefined();
    expect(defaults.dnsPolicy).toBeUndefined();
    const host = await podOf(VALUE_SETS["host network on other ports"] ?? []);
    expect(host).toMatchObject({ hostNetwork: true, dnsPolicy: "ClusterFirstWithHostNet" });
    // The ports the operator binds (on every address of the node) are the container ports, which
    // the probes and Services name.
    expect(host.containers[0]?.args).toEqual(
      expect.arrayContaining(["--health-bind-address=0.0.0.0:10261", "--webhook-bind-address=0.0.0.0:10260"]),
    );
    expect(host.containers[0]?.ports).toEqual([
      { name: "probes", containerPort: 10261, protocol: "TCP" },
      { name: "webhook", containerPort: 10260, protocol: "TCP" },
    ]);
    expect((await podOf(["--set", "hostNetwork=true", "--set", "dnsPolicy=Default"])).dnsPolicy).toBe(
      "Default",
    );
    expect((await podOf(["--set", "dnsPolicy=ClusterFirst"])).dnsPolicy).toBe("ClusterFirst");
    const policy = await objectOf<KubeObject & { spec: { ingress: { ports: { port: number }[] }[] } }>(
      "NetworkPolicy",
      [...(VALUE_SETS["host network on other ports"] ?? []), "--set", "networkPolicy.enabled=true"],
    );
    expect(policy.spec.ingress.flatMap((rule) => rule.ports.map((p) => p.port))).toEqual([10260, 10261]);
    // Pod Security restricted (and baseline) refuse host-network pods: the rendered namespace allows them.
    const namespace = await objectOf("Namespace", [
      ...(VALUE_SETS["host network on other ports"] ?? []),
      "--set",
      "namespace.create=true",
    ]);
    expect(namespace.metadata.labels?.["pod-security.kubernetes.io/enforce"]).toBe("privileged");
    // Refused: a DNS policy Kubernetes does not know, one port for both servers.
    const wrongDns = await template(["--set", "dnsPolicy=ClusterFirstWithHostNetwork"]);
    expect(wrongDns.code).not.toBe(0);
    expect(wrongDns.stderr).toContain("dnsPolicy");
    const samePort = await template(["--set", "hostNetwork=true", "--set", "healthPort=9443"]);
    expect(samePort.code).not.toBe(0);
    expect(samePort.stderr).toContain("healthPort and webhook.port are both 9443");
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
      "_validate.tpl",
      "prometheusrule.yaml",
      "tests/test-connection.yaml",
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

  it("works as a subchart: the schema accepts global, and a parent chart renders it with its values", async () => {
    const direct = await template(["--set", "global.imageRegistry=corp.example"]);
    expect(direct.code, direct.stderr).toBe(0);
    const parent = mkdtempSync(join(tmpdir(), "modelpack-parent-"));
    try {
      cpSync(CHART, join(parent, "charts", "modelpack-operator"), { recursive: true });
      writeFileSync(join(parent, "Chart.yaml"), "apiVersion: v2\nname: platform\nversion: 1.0.0\n");
      writeFileSync(
        join(parent, "values.yaml"),
        "global:\n  team: models\nmodelpack-operator:\n  replicaCount: 3\n",
      );
      const result = await run(helm, [
        "template",
        "platform",
        parent,
        "-n",
        "platform",
        "--kube-version",
        KUBE_VERSION,
      ]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/kind: Deployment\n[\s\S]*replicas: 3\n/);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it("declares kubeVersion, home and sources, and refuses clusters older than the README's table", async () => {
    const chart = read(join(CHART, "Chart.yaml"));
    expect(chart).toContain('kubeVersion: ">=1.31.0-0"');
    expect(chart).toMatch(/^home: https:\/\//m);
    expect(chart).toMatch(/^sources:\n {2}- https:\/\//m);
    const old = await run(helm, ["template", "mpo", CHART, "--kube-version", "1.30.9"]);
    expect(old.code).not.toBe(0);
    expect(old.stderr).toContain("kubeVersion");
    expect((await run(helm, ["template", "mpo", CHART, "--kube-version", "1.31.0"])).code).toBe(0);
  });

  it("has a README that describes every top-level value", () => {
    const readme = read(join(CHART, "README.md"));
    const keys = [...read(join(CHART, "values.yaml")).matchAll(/^([A-Za-z][A-Za-z0-9]*):/gm)].map(
      (m) => m[1],
    );
    expect(keys.length).toBeGreaterThan(20);
    for (const k of [...keys, "global"]) expect(readme, k).toMatch(new RegExp("`" + k + "[.`/]"));
  });

  it("runs with no hard-coded UID, restricted security contexts, and the ServiceAccount, args, env, priority and spread asked for", async () => {
    const defaults = await objectOf<DeploymentObject>("Deployment");
    const pod = defaults.spec.template.spec;
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(pod.containers[0]?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(JSON.stringify(defaults)).not.toMatch(/runAsUser|runAsGroup|fsGroup/);
    expect(pod.serviceAccountName).toBe("mpo-modelpack-operator");
    expect(await heads([])).toContain("ServiceAccount/modelpack-system/mpo-modelpack-operator");

    const args = [
      "--set",
      "serviceAccount.create=false",
      "--set",
      "serviceAccount.name=corp-operator",
      "--set",
      "extraArgs={--log-level=debug}",
      "--set",
      "extraEnv[0].name=NODE_OPTIONS",
      "--set",
      "extraEnv[0].value=--max-old-space-size=256",
      "--set",
      "priorityClassName=system-cluster-critical",
      "--set-json",
      'topologySpreadConstraints=[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"ScheduleAnyway"}]',
      "--set-json",
      'podSecurityContext={"runAsNonRoot":true,"fsGroup":1000670000}',
    ];
    const custom = (await objectOf<DeploymentObject>("Deployment", args)).spec.template.spec;
    expect(custom.serviceAccountName).toBe("corp-operator");
    expect(custom.priorityClassName).toBe("system-cluster-critical");
    expect(custom.topologySpreadConstraints).toEqual([
      { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway" },
    ]);
    // Helm merges maps: the default's keys stay unless set to null.
    expect(custom.securityContext).toEqual({
      runAsNonRoot: true,
      fsGroup: 1000670000,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(custom.containers[0]?.args.at(-1)).toBe("--log-level=debug");
    expect(custom.containers[0]?.env).toContainEqual({
      name: "NODE_OPTIONS",
      value: "--max-old-space-size=256",
    });
    const defaultArgs = defaults.spec.template.spec.containers[0]?.args ?? [];
    expect(defaultArgs).toContain("--init-user=fixed");
    expect(defaultArgs.some((a) => a.startsWith("--init-resources"))).toBe(false);
    const openshift = (
      await objectOf<DeploymentObject>("Deployment", [
        "--set",
        "initContainer.user=platform",
        "--set-json",
        'initContainer.resources={"limits":{"memory":"2Gi"}}',
      ])
    ).spec.template.spec.containers[0]?.args;
    expect(openshift).toContain("--init-user=platform");
    expect(openshift).toContain('--init-resources={"limits":{"memory":"2Gi"}}');
    const objects = await objectsOf(args);
    expect(objects.some((o) => o.kind === "ServiceAccount")).toBe(false);
    const binding = objects.find(
      (o) => o.kind === "ClusterRoleBinding" && o.metadata.name === "mpo-modelpack-operator",
    ) as (KubeObject & { subjects: { name: string }[] }) | undefined;
    expect(binding?.subjects).toEqual([expect.objectContaining({ name: "corp-operator" })]);
    const annotated = await objectOf("ServiceAccount", ["--set", "serviceAccount.annotations.team=models"]);
    expect(annotated.metadata.annotations).toEqual({ team: "models" });
  });

  it.each([
    [
      ["--set", "replicaCount=2", "--set", "podDisruptionBudget.minAvailable=2"],
      "podDisruptionBudget.minAvailable=2 with replicaCount=2",
    ],
    [
      ["--set", "replicaCount=3", "--set", "podDisruptionBudget.minAvailable=5"],
      "set minAvailable below replicaCount (e.g. 2)",
    ],
    [
      ["--set", "podDisruptionBudget.minAvailable=100%"],
      "podDisruptionBudget.minAvailable=100% keeps every one",
    ],
    [
      ["--set", "watchNamespaces={team-a,modelpack-system}"],
      'watchNamespaces lists "modelpack-system", but the webhook never serves the release namespace',
    ],
    [
      ["--set", "watchNamespaces={kube-system}"],
      'watchNamespaces lists "kube-system", but the webhook never serves kube-system',
    ],
    [["--set", "serviceAccount.create=false"], "serviceAccount.create=false needs serviceAccount.name"],
    [["--set", "podDisruptionBudget.minAvailable=half"], "minAvailable"],
  ])("refuses inconsistent values %j", async (args, message) => {
    const result = await template(args);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
  });

  it.each([
    ["replicaCount=2", "podDisruptionBudget.minAvailable=1"],
    ["replicaCount=1", "podDisruptionBudget.minAvailable=1"],
    ["replicaCount=4", "podDisruptionBudget.minAvailable=50%"],
    ["replicaCount=2", "watchNamespaces={team-a,other-system}"],
  ])("accepts consistent values %s %s", async (...set) => {
    const result = await template(set.flatMap((s) => ["--set", s]));
    expect(result.code, result.stderr).toBe(0);
  });

  it("rolls the operator pods when the CA bundle changes (checksum annotation), and only then", async () => {
    const checksum = async (args: string[]) =>
      (await objectOf<DeploymentObject>("Deployment", args)).spec.template.metadata.annotations?.[
        "checksum/ca-bundle"
      ];
    const pem = (body: string) => [
      "--set-string",
      `caBundle.pem=-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----`,
    ];
    expect(await checksum([])).toBeUndefined();
    const first = await checksum(pem("MIIB"));
    expect(first).toMatch(/^[a-f0-9]{64}$/);
    expect(await checksum(pem("MIIB"))).toBe(first);
    expect(await checksum(pem("MIIC"))).not.toBe(first);
    expect(await checksum(["--set", "caBundle.existingConfigMap=corp-ca"])).toMatch(/^[a-f0-9]{64}$/);
    const both = await objectOf<DeploymentObject>("Deployment", [
      ...pem("MIIB"),
      "--set",
      "podAnnotations.team=models",
    ]);
    expect(both.spec.template.metadata.annotations).toEqual({ "checksum/ca-bundle": first, team: "models" });
  });

  it("renders a PrometheusRule with the README's alerts, each with a severity, only when enabled", async () => {
    expect((await heads([])).some((h) => h.startsWith("PrometheusRule/"))).toBe(false);
    const rule = await objectOf<KubeObject & { spec: { groups: { rules: Record<string, unknown>[] }[] } }>(
      "PrometheusRule",
      ["--set", "prometheusRule.enabled=true", "--set", "prometheusRule.labels.release=prom"],
    );
    expect(rule.metadata.labels?.release).toBe("prom");
    const rules = rule.spec.groups.flatMap((g) => g.rules) as {
      alert: string;
      expr: string;
      labels: { severity: string };
      annotations?: { summary?: string };
    }[];
    // The same alerts, expressions and severities as the README's example rules.
    const readme = read(join(ROOT, "README.md"));
    const example = [
      ...readme
        .slice(readme.indexOf("### Alerts"))
        .matchAll(/ {2}- alert: (\S+)\n {4}expr: (.*)\n {4}for: \S+\n {4}labels: \{severity: (\w+)\}/g),
    ].map((m) => ({ alert: m[1], expr: m[2], severity: m[3] }));
    expect(example.length).toBeGreaterThanOrEqual(4);
    expect(rules.map((r) => ({ alert: r.alert, expr: r.expr, severity: r.labels.severity }))).toEqual(
      example,
    );
    // Prometheus' own templating survives Helm's.
    expect(rules[0]?.annotations?.summary).toContain("{{ $value }}");
    expect(rules[1]?.annotations?.summary).toContain("{{ $labels.registry }}");
  });

  it("has a helm test pod: the operator image's node runs files/connection-test.cjs against both Services, restricted, with only the webhook's CA", async () => {
    const pod = await objectOf<PodObject>("Pod", testPodArgs);
    expect(pod.metadata.annotations?.["helm.sh/hook"]).toBe("test");
    const [container] = pod.spec.containers;
    expect(container?.image).toBe("registry.example.com/modelpack/modelpack-operator:0.1.0");
    expect(container?.command).toEqual(["node", "-e"]);
    expect(container?.args[0]?.trimEnd()).toBe(read(join(CHART, "files", "connection-test.cjs")).trimEnd());
    expect(container?.env).toEqual(
      expect.arrayContaining([
        {
          name: "READYZ_URL",
          value: "http://mpo-modelpack-operator-metrics.modelpack-system.svc:8081/readyz",
        },
        {
          name: "WEBHOOK_URL",
          value: "https://mpo-modelpack-operator-webhook.modelpack-system.svc:443/healthz",
        },
      ]),
    );
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.volumes).toEqual([
      {
        name: "webhook-ca",
        secret: {
          secretName: "mpo-modelpack-operator-webhook-tls",
          items: [{ key: "ca.crt", path: "ca.crt" }],
        },
      },
    ]);
    const noMetrics = await objectOf<PodObject>("Pod", [
      ...testPodArgs,
      "--set",
      "metrics.service.enabled=false",
    ]);
    expect(noMetrics.spec.containers[0]?.env.map((e) => e.name)).not.toContain("READYZ_URL");
    expect((await rendered(["--skip-tests"])).includes("helm.sh/hook: test")).toBe(false);
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
      const notes = await ok(helm, [
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
      // The notes warn about the placeholder image and say how to uninstall and test.
      expect(notes).toContain("WARNING: image.repository is the chart's placeholder");
      expect(notes).toContain("helm uninstall mpo -n modelpack-system");
      expect(notes).toContain("helm test mpo -n modelpack-system");
      expect(notes).toContain('"Uninstalling" in the chart\'s README.md');
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
    it("prints no placeholder warning for a real image", async () => {
      const notes = await ok(helm, [
        "install",
        "real",
        CHART,
        "-n",
        "real-system",
        "--dry-run=client",
        "--kubeconfig",
        plane().kubeconfigPath,
        "--set",
        "image.repository=corp.example/modelpack-operator",
        "--set",
        "crds.install=false",
      ]);
      expect(notes).toContain("NOTES:");
      expect(notes).not.toContain("WARNING");
    });

    it("renders the operator pod and the test pod so that Pod Security 'restricted' admits them, with no runAsUser", async () => {
      const admin = plane().kubeconfigPath;
      await kubectl(admin, ["create", "namespace", "restricted-ops"]);
      await kubectl(admin, [
        "label",
        "namespace",
        "restricted-ops",
        "pod-security.kubernetes.io/enforce=restricted",
      ]);
      const deployment = await objectOf<DeploymentObject>("Deployment", [
        "--set",
        "caBundle.existingConfigMap=corp-ca",
      ]);
      const operatorPod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "operator-pod" },
        // Not the ServiceAccount: the dry-run namespace has none of that name.
        spec: { ...deployment.spec.template.spec, serviceAccountName: undefined },
      };
      const testPod = await objectOf<PodObject>("Pod", testPodArgs);
      for (const pod of [operatorPod, { ...testPod, metadata: { name: testPod.metadata.name } }]) {
        const result = await run(
          "kubectl",
          [
            "--kubeconfig",
            admin,
            "create",
            "-n",
            "restricted-ops",
            "--dry-run=server",
            "-o",
            "name",
            "-f",
            "-",
          ],
          { input: JSON.stringify(pod) },
        );
        expect(result.code, result.stderr).toBe(0);
        expect(result.stderr).not.toContain("violate");
      }
      // The check is real: the same pod without its security contexts is refused.
      const loose = structuredClone(operatorPod);
      loose.spec.securityContext = {};
      if (loose.spec.containers[0] !== undefined) loose.spec.containers[0].securityContext = {};
      const refused = await run(
        "kubectl",
        ["--kubeconfig", admin, "create", "-n", "restricted-ops", "--dry-run=server", "-f", "-"],
        { input: JSON.stringify(loose) },
      );
      expect(refused.stderr).toContain("restricted");
    });

    it("has a helm test script that passes against a running operator and names the failure otherwise", async () => {
      const admin = plane().kubeconfigPath;
      await ok(helm, [
        "install",
        "hc",
        CHART,
        "-n",
        "hc-system",
        "--create-namespace",
        "--kubeconfig",
        admin,
        "--set",
        "crds.install=false",
      ]);
      const [webhookPort = 0] = await pickFreePorts(1);
      const operator = await startInstalledOperator({
        kubeconfigPath: admin,
        namespace: "hc-system",
        configurationName: "hc-modelpack-operator",
        service: "hc-modelpack-operator-webhook",
        webhookPort,
        args: ["--webhook-cert-secret", "hc-modelpack-operator-webhook-tls"],
      });
      const dir = mkdtempSync(join(tmpdir(), "modelpack-helm-test-"));
      try {
        const script = (await objectOf<PodObject>("Pod", [...testPodArgs])).spec.containers[0]?.args[0] ?? "";
        const secret = await waitFor("the webhook's Secret with ca.crt", async () => {
          const got = await run("kubectl", [
            "--kubeconfig",
            admin,
            "get",
            "secret",
            "-n",
            "hc-system",
            "hc-modelpack-operator-webhook-tls",
            "-o",
            "json",
          ]);
          const data =
            got.code === 0 ? (JSON.parse(got.stdout) as { data?: Record<string, string> }).data : undefined;
          return data?.["ca.crt"];
        });
        writeFileSync(join(dir, "ca.crt"), Buffer.from(secret, "base64"));
        const env = (extra: Record<string, string>) => ({
          ...process.env,
          READYZ_URL: `http://127.0.0.1:${operator.healthPort}/readyz`,
          WEBHOOK_URL: `https://127.0.0.1:${webhookPort}/healthz`,
          CA_FILE: join(dir, "ca.crt"),
          TLS_SERVER_NAME: "hc-modelpack-operator-webhook.hc-system.svc",
          TEST_TIMEOUT_SECONDS: "60",
          ...extra,
        });
        const passed = await run(NODE, ["-e", script], { env: env({}) });
        expect(passed.code, passed.stderr).toBe(0);
        expect(passed.stdout).toContain("ok: the operator is ready");
        expect(passed.stdout).toContain("ok: the webhook answers over TLS");
        // A certificate that does not name the Service fails, as the apiserver's call would.
        const wrongName = await run(NODE, ["-e", script], {
          env: env({ TLS_SERVER_NAME: "someone-else.hc-system.svc", TEST_TIMEOUT_SECONDS: "1" }),
        });
        expect(wrongName.code).toBe(1);
        expect(wrongName.stderr).toContain("FAIL: the webhook answers over TLS");
        expect(wrongName.stderr).toContain("does not sign the serving certificate");
        await operator.stop();
        const down = await run(NODE, ["-e", script], { env: env({ TEST_TIMEOUT_SECONDS: "1" }) });
        expect(down.code).toBe(1);
        expect(down.stderr).toContain("FAIL: the operator is ready");
        expect(down.stderr).toContain("No operator pod is Ready");
      } finally {
        await operator.stop();
        rmSync(dir, { recursive: true, force: true });
        await run(helm, ["uninstall", "hc", "-n", "hc-system", "--kubeconfig", admin]);
      }
    });
  });
});
