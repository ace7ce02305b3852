import { CoreV1Api } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { CapabilityProbe } from "../../src/controller/capability-probe.js";
import { controllerKubeApi } from "../../src/controller/kube-api.js";
import { systemClock } from "../../src/runtime/clock.js";
import { useControlPlane } from "../harness/testing.js";

describe("capability probe on a default 1.35 apiserver with fake nodes", () => {
  const plane = useControlPlane({ full: true });

  it("sees image volumes kept, the version, and each node's runtime", async () => {
    await plane().createFakeNodes(1, { containerRuntimeVersion: "cri-o://1.34.0" });
    const probe = new CapabilityProbe({
      kube: controllerKubeApi(plane().kubeConfig),
      namespace: "default",
      clock: systemClock,
    });
    const caps = await probe.get();
    expect(caps.imageVolumeField).toBe("kept");
    expect(caps.serverVersion).toBe("v1.35.8");
    expect(caps.nodes).toEqual([expect.objectContaining({ containerRuntimeVersion: "cri-o://1.34.0" })]);
    expect(await probe.get()).toBe(caps); // cached
  });

  it("works in a namespace that enforces the restricted Pod Security level (the operator's own)", async () => {
    const kubeConfig = plane().kubeConfig;
    await kubeConfig.makeApiClient(CoreV1Api).createNamespace({
      body: {
        metadata: {
          name: "restricted-probe",
          labels: { "pod-security.kubernetes.io/enforce": "restricted" },
        },
      },
    });
    const probe = new CapabilityProbe({
      kube: controllerKubeApi(kubeConfig),
      namespace: "restricted-probe",
      clock: systemClock,
    });
    expect((await probe.get()).imageVolumeField).toBe("kept");
  });
});

describe("capability probe with ImageVolume=false", () => {
  const plane = useControlPlane({ featureGates: { ImageVolume: false } });

  it("detects the silent drop", async () => {
    const probe = new CapabilityProbe({
      kube: controllerKubeApi(plane().kubeConfig),
      namespace: "default",
      clock: systemClock,
    });
    expect((await probe.get()).imageVolumeField).toBe("dropped");
  });
});
