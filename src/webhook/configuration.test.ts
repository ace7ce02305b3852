import { describe, expect, it } from "vitest";
import { servingNames, webhookConfiguration, WebhookConfigurationError } from "./configuration.js";

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
