import { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { systemClock } from "../runtime/clock.js";
import { silentLogger } from "../runtime/logger.js";
import { INIT_SETTINGS, storeOf } from "../../test/webhook/fixtures.js";
import { WebhookConfigurationError } from "./configuration.js";
import { createWebhook, WebhookOptionsError, withBoundPort, type WebhookOptions } from "./webhook.js";
import { selfSignedServingCertificates } from "./x509.js";

const base: WebhookOptions = {
  logger: silentLogger(),
  clock: systemClock,
  namespace: "modelpack-system",
  store: storeOf([]),
  settings: INIT_SETTINGS,
  certificates: {
    mode: "static",
    certificates: selfSignedServingCertificates({ ipAddresses: ["127.0.0.1"] }),
  },
};

describe("withBoundPort", () => {
  it.each([
    [{ url: "https://127.0.0.1:0/mutate-pods" }, { url: "https://127.0.0.1:9443/mutate-pods" }],
    [{ url: "https://127.0.0.1:8443/mutate-pods" }, { url: "https://127.0.0.1:8443/mutate-pods" }],
    [{ url: "https://[::1]:0/mutate-pods" }, { url: "https://[::1]:9443/mutate-pods" }],
    [{ service: { namespace: "ns", name: "svc" } }, { service: { namespace: "ns", name: "svc" } }],
  ])("%j → %j", (config, expected) => {
    expect(withBoundPort(config, 9443)).toEqual(expected);
  });
});

describe("createWebhook", () => {
  it("needs a kubeconfig for self-managed certificates or a managed configuration", () => {
    expect(() => createWebhook({ ...base, certificates: { mode: "self-managed" } })).toThrow(
      WebhookOptionsError,
    );
    expect(() =>
      createWebhook({ ...base, configuration: { clientConfig: { url: "https://127.0.0.1:0/x" } } }),
    ).toThrow(WebhookOptionsError);
  });

  it("needs names for self-managed certificates when the configuration is not managed", () => {
    expect(() =>
      createWebhook({ ...base, kubeConfig: new KubeConfig(), certificates: { mode: "self-managed" } }),
    ).toThrow(/need either names or a webhook configuration/);
  });

  it("refuses a configuration the apiserver would refuse before starting anything", () => {
    expect(() =>
      createWebhook({
        ...base,
        kubeConfig: new KubeConfig(),
        configuration: { clientConfig: { url: "https://127.0.0.1:0/x" }, timeoutSeconds: 60 },
      }),
    ).toThrow(WebhookConfigurationError);
  });

  it("serves with static certificates and reports when it is serving", async () => {
    const webhook = createWebhook({ ...base, host: "127.0.0.1", port: 0 });
    expect(webhook.isServing()).toBe(false);
    const stop = new AbortController();
    const running = webhook.start(stop.signal);
    await webhook.address();
    await expect.poll(() => webhook.isServing()).toBe(true);
    stop.abort();
    await running;
    expect(webhook.isServing()).toBe(false);
  });

  it("fails with the bind error when the port is taken", async () => {
    const first = createWebhook({ ...base, host: "127.0.0.1", port: 0 });
    const stop = new AbortController();
    const running = first.start(stop.signal);
    const { port } = await first.address();
    const second = createWebhook({ ...base, host: "127.0.0.1", port });
    await expect(second.start(new AbortController().signal)).rejects.toThrow(/EADDRINUSE/);
    stop.abort();
    await running;
  });
});
