import { CoreV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { waitFor } from "../harness/testing.js";

/**
 * Resolves once the operator's webhook mounts a ModelDeployment's model into a dry-run pod with
 * `labels` in `namespace` (`mounted` says whether it did). The webhook's scope reaches a
 * namespace a moment after its first ModelDeployment (README, "Failure behaviour"): pods created
 * before that are never sent to the webhook, so tests create their workloads after this.
 */
export async function waitForWebhookToMount(
  kubeConfig: KubeConfig,
  namespace: string,
  labels: Record<string, string>,
  mounted: (pod: V1Pod) => boolean,
): Promise<void> {
  await waitFor(
    `the webhook to mount the model into a dry-run pod in ${namespace} labelled ${JSON.stringify(labels)}`,
    async () => {
      const pod = await kubeConfig.makeApiClient(CoreV1Api).createNamespacedPod({
        namespace,
        dryRun: "All",
        body: {
          metadata: { name: "webhook-probe", labels },
          spec: { containers: [{ name: "main", image: "registry.example.com/server:1" }] },
        },
      });
      return mounted(pod) ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}
