import { z } from "zod";
import { Reason } from "../api/index.js";
import { describeError } from "../errors.js";
import { chainCredentialStores, parseDockerConfig, type CredentialStore } from "../oci/credentials.js";
import { RegistryError } from "../oci/errors.js";
import { KubeApiError } from "../runtime/kube-errors.js";
import { credentialIdentity, type LookupCredentials } from "./artifact-cache.js";
import type { ControllerKubeApi } from "./kube-api.js";
import type { ResolveFailure } from "./plan.js";

const Secret = z.looseObject({
  type: z.string().optional(),
  metadata: z.looseObject({ resourceVersion: z.string().optional() }),
  data: z.record(z.string(), z.string()).optional(),
});

/**
 * Reads the pull secrets a ModelDeployment names, in its own namespace, by name (the operator
 * never lists or watches Secrets). A missing or malformed secret is a ResolveFailure for the
 * status, not an exception; API failures other than 404 throw (retried with backoff).
 */
export async function loadPullSecrets(
  kube: Pick<ControllerKubeApi, "getSecret">,
  namespace: string,
  names: readonly string[],
  signal?: AbortSignal,
): Promise<{ credentials: LookupCredentials } | { failure: ResolveFailure }> {
  const stores: CredentialStore[] = [];
  const versions: { namespace: string; name: string; resourceVersion?: string }[] = [];
  for (const name of names) {
    let raw: unknown;
    try {
      raw = await kube.getSecret(namespace, name, signal);
    } catch (err) {
      if (err instanceof KubeApiError && err.code === "NotFound") {
        return {
          failure: {
            reason: Reason.SecretNotFound,
            transient: false,
            message: `pull secret ${namespace}/${name} does not exist; create it (kubectl create secret docker-registry ${name} -n ${namespace} …) or fix spec.model.pullSecrets`,
          },
        };
      }
      if (err instanceof KubeApiError && err.code === "Forbidden") {
        return {
          failure: {
            reason: Reason.SecretInvalid,
            transient: false,
            message: `the operator may not read secret ${namespace}/${name}: ${err.message}; grant it get on this secret`,
          },
        };
      }
      throw err;
    }
    const secret = Secret.safeParse(raw);
    const key =
      secret.success && secret.data.type === "kubernetes.io/dockercfg" ? ".dockercfg" : ".dockerconfigjson";
    const encoded = secret.success ? secret.data.data?.[key] : undefined;
    if (!secret.success || encoded === undefined) {
      return {
        failure: {
          reason: Reason.SecretInvalid,
          transient: false,
          message: `pull secret ${namespace}/${name} has no ${key} key; use a secret of type kubernetes.io/dockerconfigjson`,
        },
      };
    }
    try {
      stores.push(
        parseDockerConfig(Buffer.from(encoded, "base64").toString("utf8"), `secret ${namespace}/${name}`),
      );
    } catch (err) {
      const message = err instanceof RegistryError ? err.message : describeError(err);
      return { failure: { reason: Reason.SecretInvalid, transient: false, message } };
    }
    versions.push({
      namespace,
      name,
      ...(secret.data.metadata.resourceVersion !== undefined && {
        resourceVersion: secret.data.metadata.resourceVersion,
      }),
    });
  }
  return { credentials: { store: chainCredentialStores(stores), identity: credentialIdentity(versions) } };
}
