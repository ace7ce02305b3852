import { writeFile } from "node:fs/promises";
import { KubeConfig, dumpYaml } from "@kubernetes/client-node";

/** Credentials of the harness admin (cluster-admin through `O=system:masters`). */
export interface AdminCredentials {
  /** https URL of kube-apiserver, e.g. https://127.0.0.1:41234 */
  server: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** Cluster, user and context name in the harness kubeconfig. */
export const KUBECONFIG_NAME = "modelpack-harness";

/**
 * Writes a self-contained kubeconfig (certificates embedded as base64 data, mode 0600) to `path`
 * and returns it loaded as a client-node KubeConfig. The same file is used by the tests,
 * kube-controller-manager, kube-scheduler, kwok and `kubectl`.
 */
export async function writeAdminKubeconfig(path: string, credentials: AdminCredentials): Promise<KubeConfig> {
  const b64 = (pem: string): string => Buffer.from(pem).toString("base64");
  const document = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: KUBECONFIG_NAME,
        cluster: { server: credentials.server, "certificate-authority-data": b64(credentials.caPem) },
      },
    ],
    users: [
      {
        name: KUBECONFIG_NAME,
        user: {
          "client-certificate-data": b64(credentials.certPem),
          "client-key-data": b64(credentials.keyPem),
        },
      },
    ],
    contexts: [{ name: KUBECONFIG_NAME, context: { cluster: KUBECONFIG_NAME, user: KUBECONFIG_NAME } }],
    "current-context": KUBECONFIG_NAME,
  };
  await writeFile(path, dumpYaml(document), { mode: 0o600 });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(path);
  return kubeConfig;
}
