import { describe, expect, it } from "vitest";
import {
  namespacesOfKeys,
  NO_NAMESPACE,
  servingNames,
  webhookConfiguration,
  webhookConfigurationPatch,
  WebhookConfigurationError,
  webhookNamespaceSelector,
  type NamespaceSelectorOptions,
} from "./configuration.js";

const base = {
  clientConfig: { url: "https://127.0.0.1:9443/mutate-pods" },
  operatorNamespace: "modelpack-system",
};

describe("webhookConfiguration", () => {
  it("builds the pods CREATE webhook with safe defaults", () => {
    const config = webhookConfiguration({ ...base, caPem: "PEM" });
    expect(config.metadata.name).toBe("modelpack-operator");
    expect(config.webhooks).toEqual([
      {
        name: "pods.modelpack.dev",
        admissionReviewVersions: ["v1"],
        sideEffects: "None",
        failurePolicy: "Fail",
        matchPolicy: "Equivalent",
        reinvocationPolicy: "IfNeeded",
        timeoutSeconds: 5,
        rules: [
          {
            operations: ["CREATE"],
            apiGroups: [""],
            apiVersions: ["v1"],
            resources: ["pods"],
            scope: "Namespaced",
          },
        ],
        namespaceSelector: {
          matchExpressions: [
            {
              key: "kubernetes.io/metadata.name",
              operator: "NotIn",
              values: ["modelpack-system", "kube-system"],
            },
            { key: "modelpack.dev/webhook", operator: "NotIn", values: ["disabled"] },
            { key: "kubernetes.io/metadata.name", operator: "In", values: [NO_NAMESPACE] },
          ],
        },
        clientConfig: {
          url: "https://127.0.0.1:9443/mutate-pods",
          caBundle: Buffer.from("PEM").toString("base64"),
        },
      },
    ]);
  });

  it("ANDs the user's selectors and the watched namespaces with the exclusions", () => {
    const config = webhookConfiguration({
      ...base,
      failurePolicy: "Ignore",
      timeoutSeconds: 10,
      excludedNamespaces: ["monitoring", "kube-system"],
      watchNamespaces: ["serving"],
      inUseNamespaces: ["serving"],
      namespaceSelector: {
        matchLabels: { models: "on" },
        matchExpressions: [{ key: "tier", operator: "Exists" }],
      },
      objectSelector: { matchExpressions: [{ key: "modelpack.dev/skip", operator: "DoesNotExist" }] },
    });
    expect(config.webhooks[0]).toMatchObject({
      failurePolicy: "Ignore",
      timeoutSeconds: 10,
      namespaceSelector: {
        matchLabels: { models: "on" },
        matchExpressions: [
          { key: "tier", operator: "Exists" },
          {
            key: "kubernetes.io/metadata.name",
            operator: "NotIn",
            values: ["modelpack-system", "kube-system", "monitoring"],
          },
          { key: "modelpack.dev/webhook", operator: "NotIn", values: ["disabled"] },
          { key: "kubernetes.io/metadata.name", operator: "In", values: ["serving"] },
        ],
      },
      objectSelector: { matchExpressions: [{ key: "modelpack.dev/skip", operator: "DoesNotExist" }] },
    });
  });

  it("uses a Service reference in cluster, and leaves caBundle out when there is none", () => {
    const config = webhookConfiguration({
      ...base,
      clientConfig: { service: { namespace: "modelpack-system", name: "modelpack-operator-webhook" } },
    });
    expect(config.webhooks[0]?.clientConfig).toEqual({
      service: {
        namespace: "modelpack-system",
        name: "modelpack-operator-webhook",
        port: 443,
        path: "/mutate-pods",
      },
    });
  });

  it.each([
    ["a timeout of 0", { timeoutSeconds: 0 }, /1 to 30 seconds/],
    ["a timeout of 31", { timeoutSeconds: 31 }, /1 to 30 seconds/],
    ["plain http", { clientConfig: { url: "http://127.0.0.1:9443/mutate-pods" } }, /must be https/],
    ["a query", { clientConfig: { url: "https://127.0.0.1:9443/mutate-pods?x=1" } }, /must be https/],
    ["no URL", { clientConfig: { url: "not a url" } }, /does not parse/],
    [
      "watching an excluded namespace",
      { watchNamespaces: ["kube-system"] },
      /kube-system is watched but excluded/,
    ],
  ])("refuses %s", (_, options, message) => {
    expect(() => webhookConfiguration({ ...base, ...options })).toThrow(WebhookConfigurationError);
    expect(() => webhookConfiguration({ ...base, ...options })).toThrow(message);
  });
});

describe("webhookNamespaceSelector", () => {
  const own = { operatorNamespace: "mp" };
  const notIn = (values: string[]) => ({ key: "kubernetes.io/metadata.name", operator: "NotIn", values });
  const optOut = { key: "modelpack.dev/webhook", operator: "NotIn", values: ["disabled"] };
  const inList = (values: string[]) => ({ key: "kubernetes.io/metadata.name", operator: "In", values });
  it.each<[string, NamespaceSelectorOptions, unknown[]]>([
    [
      "no ModelDeployments: a name no namespace has",
      own,
      [notIn(["mp", "kube-system"]), optOut, inList([NO_NAMESPACE])],
    ],
    [
      "an empty list is the same",
      { ...own, inUseNamespaces: [] },
      [notIn(["mp", "kube-system"]), optOut, inList([NO_NAMESPACE])],
    ],
    [
      "the namespaces in use, sorted and once each",
      { ...own, inUseNamespaces: ["team-b", "team-a", "team-b"] },
      [notIn(["mp", "kube-system"]), optOut, inList(["team-a", "team-b"])],
    ],
    [
      "excluded namespaces never appear in In",
      { ...own, excludedNamespaces: ["ops"], inUseNamespaces: ["ops", "mp", "kube-system", "serving"] },
      [notIn(["mp", "kube-system", "ops"]), optOut, inList(["serving"])],
    ],
    [
      "only excluded namespaces in use: nothing",
      { ...own, inUseNamespaces: ["mp"] },
      [notIn(["mp", "kube-system"]), optOut, inList([NO_NAMESPACE])],
    ],
    [
      "watched namespaces narrow the list",
      { ...own, watchNamespaces: ["a", "b"], inUseNamespaces: ["b", "c"] },
      [notIn(["mp", "kube-system"]), optOut, inList(["b"])],
    ],
    [
      "over the bound: every namespace but the exclusions",
      { ...own, maxNamespaces: 2, inUseNamespaces: ["a", "b", "c"] },
      [notIn(["mp", "kube-system"]), optOut],
    ],
    [
      "over the bound with watched namespaces: the watched ones",
      { ...own, maxNamespaces: 1, watchNamespaces: ["a", "b"], inUseNamespaces: ["a", "b"] },
      [notIn(["mp", "kube-system"]), optOut, inList(["a", "b"])],
    ],
    ["all", { ...own, inUseNamespaces: "all" }, [notIn(["mp", "kube-system"]), optOut]],
    [
      "the user's expressions come first",
      {
        ...own,
        namespaceSelector: { matchExpressions: [{ key: "tier", operator: "Exists" }] },
        inUseNamespaces: ["a"],
      },
      [{ key: "tier", operator: "Exists" }, notIn(["mp", "kube-system"]), optOut, inList(["a"])],
    ],
  ])("%s", (_, options, expressions) => {
    expect(webhookNamespaceSelector(options).matchExpressions).toEqual(expressions);
  });

  it("never yields In without values, and NO_NAMESPACE is a label value no namespace can be named", () => {
    expect(NO_NAMESPACE).toMatch(/^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/);
    expect(NO_NAMESPACE.length).toBeLessThanOrEqual(63);
    expect(NO_NAMESPACE).not.toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});

describe("namespacesOfKeys", () => {
  it.each<[string[], number, string[] | "all"]>([
    [[], 5, []],
    [["b/x", "a/y", "b/z"], 5, ["a", "b"]],
    [["cluster-scoped", "/odd", "a/y"], 5, ["a"]],
    [["a/1", "b/1", "c/1"], 2, "all"],
    [["a/1", "a/2", "a/3"], 1, ["a"]],
  ])("%j (max %i) → %j", (keys, max, expected) => {
    expect(namespacesOfKeys(keys, max)).toEqual(expected);
  });
});

describe("webhookConfigurationPatch", () => {
  it("is the webhook entry and the object's name, without the metadata the installer owns", () => {
    const options = {
      ...base,
      name: "mpo",
      clientConfig: { service: { namespace: "mp", name: "mpo-webhook" } },
      inUseNamespaces: ["a"],
      caPem: "PEM",
    };
    expect(webhookConfigurationPatch(options)).toEqual({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingWebhookConfiguration",
      metadata: { name: "mpo" },
      webhooks: webhookConfiguration(options).webhooks,
    });
  });
});

describe("servingNames", () => {
  it.each([
    [{ url: "https://127.0.0.1:9443/mutate-pods" }, { dnsNames: [], ipAddresses: ["127.0.0.1"] }],
    [{ url: "https://[::1]:9443/mutate-pods" }, { dnsNames: [], ipAddresses: ["::1"] }],
    [
      { url: "https://webhook.example.com/mutate-pods" },
      { dnsNames: ["webhook.example.com"], ipAddresses: [] },
    ],
    [
      { service: { namespace: "ns", name: "svc" } },
      { dnsNames: ["svc.ns.svc", "svc.ns.svc.cluster.local"], ipAddresses: [] },
    ],
  ])("%j → %j", (config, expected) => {
    expect(servingNames(config)).toEqual(expected);
  });
});
