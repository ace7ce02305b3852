import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { GROUP, PLURAL, VERSION } from "../../src/api/index.js";
import { waitFor } from "../harness/testing.js";

/** The generated CRD, as users install it. */
export const CRD = join(import.meta.dirname, "..", "..", "crds", "modelpack.dev_modeldeployments.yaml");

/** Applies the CRD with `kubectl apply --server-side` and waits until it is served. */
export async function installCrd(kubeconfigPath: string, kubeConfig: KubeConfig): Promise<void> {
  execFileSync("kubectl", ["--kubeconfig", kubeconfigPath, "apply", "--server-side", "-f", CRD], {
    stdio: "pipe",
  });
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  await waitFor("the CRD to be served", () =>
    custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }).then(
      () => true,
      () => undefined,
    ),
  );
}
