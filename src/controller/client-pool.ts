import type { RegistryClientOptions } from "../oci/client.js";
import type { LookupCredentials } from "./artifact-cache.js";

/**
 * Registry clients kept one per credential identity (a ModelDeployment's pull secrets, by name and
 * version), at most `max`: the oldest is closed when a new one would exceed it. Shared by the
 * steps that read registries beside the resolver (signatures, image variants).
 */
export function clientPool<C extends { close(): Promise<void> }>(
  create: (options: RegistryClientOptions) => C,
  base: Omit<RegistryClientOptions, "credentials">,
  max: number,
): (credentials: LookupCredentials) => C {
  const clients = new Map<string, C>();
  return (credentials) => {
    let client = clients.get(credentials.identity);
    if (client === undefined) {
      client = create({ ...base, credentials: credentials.store });
      clients.set(credentials.identity, client);
      for (const [identity, old] of clients) {
        if (clients.size <= max) break;
        clients.delete(identity);
        void old.close();
      }
    }
    return client;
  };
}
