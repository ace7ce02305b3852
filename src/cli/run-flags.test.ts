import { describe, expect, it } from "vitest";
import { resourcesFlag, webhookFlags } from "./run-flags.js";

const base = {
  "init-image": "registry.example.com/op@sha256:" + "0".repeat(64),
  "webhook-bind-address": ":9443",
  "webhook-service": "modelpack-operator-webhook",
  "webhook-failure-policy": "Fail",
  "webhook-timeout-seconds": "5",
  injection: "webhook",
};

describe("--init-resources", () => {
  it.each([
    ["{}", {}],
    ['{"limits":{"memory":"1Gi"}}', { limits: { memory: "1Gi" } }],
    [
      '{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":"2","memory":"1.5Gi"}}',
      { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "2", memory: "1.5Gi" } },
    ],
  ])("%s", (text, expected) => expect(resourcesFlag(text)).toEqual(expected));

  it.each([
    ["not json", /is not JSON/],
    ["[]", /must be a JSON object/],
    ['{"limit":{}}', /has "limit", but only "requests" and "limits"/],
    ['{"limits":{"memory":"lots"}}', /"limits.memory" must be a quantity/],
    ['{"limits":{"memory":512}}', /"limits.memory" must be a quantity/],
    ['{"requests":[]}', /"requests" must be an object/],
  ])("refuses %s", (text, message) => expect(() => resourcesFlag(text)).toThrow(message));
});

describe("--init-user", () => {
  it("reaches the webhook settings; anything but fixed or platform is a usage error", () => {
    expect(webhookFlags({ ...base, "init-user": "platform" })).toMatchObject({ initUser: "platform" });
    expect(webhookFlags(base)).not.toHaveProperty("initUser");
    expect(() => webhookFlags({ ...base, "init-user": "root" })).toThrow(
      /--init-user must be one of fixed, platform/,
    );
  });
});

describe("--injection", () => {
  it.each(["auto", "webhook", "admission-policy"] as const)("%s reaches the webhook settings", (injection) =>
    expect(webhookFlags({ ...base, injection })).toMatchObject({ injection }),
  );
  it("anything else is a usage error naming the choices", () =>
    expect(() => webhookFlags({ ...base, injection: "policy" })).toThrow(
      /--injection must be one of auto, webhook, admission-policy/,
    ));
});
