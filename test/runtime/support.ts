/**
 * Helpers for the runtime integration tests: a throwaway CRD, a TCP proxy that can cut every
 * connection through it, and a kubeconfig that dials the apiserver through such a proxy.
 */
import { ApiextensionsV1Api, KubeConfig } from "@kubernetes/client-node";
import { createServer, connect, type Socket } from "node:net";
import { waitFor } from "../harness/testing.js";

export const WIDGET = {
  group: "runtime-test.modelpack.dev",
  version: "v1",
  plural: "widgets",
  kind: "Widget",
};

/** Installs the namespaced `Widget` CRD (any spec) and waits until it is served. Idempotent per plane. */
export async function installWidgetCrd(kubeConfig: KubeConfig): Promise<void> {
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const name = `${WIDGET.plural}.${WIDGET.group}`;
  await api.createCustomResourceDefinition({
    body: {
      metadata: { name },
      spec: {
        group: WIDGET.group,
        scope: "Namespaced",
        names: { plural: WIDGET.plural, singular: "widget", kind: WIDGET.kind, listKind: "WidgetList" },
        versions: [
          {
            name: WIDGET.version,
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: { type: "object", x_kubernetes_preserve_unknown_fields: true },
            },
          },
        ],
      },
    },
  });
  await waitFor("the Widget CRD to be established", async () => {
    const crd = await api.readCustomResourceDefinition({ name });
    return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")
      ? true
      : undefined;
  });
}

export interface TcpProxy {
  readonly url: string;
  /** Destroys every open connection (both sides), like a network cut or a proxy restart. */
  cutConnections(): number;
  /** While true, new connections are accepted and closed at once. */
  refuse: boolean;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 to `target` (TLS passes through untouched). */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
  const proxy: TcpProxy = {
    url: "",
    refuse: false,
    cutConnections() {
      const count = open.size;
      for (const socket of open) socket.destroy();
      open.clear();
      return count;
    },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.cutConnections();
        server.close(() => resolve());
      }),
  };
  const server = createServer((client) => {
    if (proxy.refuse) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    open.add(client);
    open.add(upstream);
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", closeBoth).on("close", closeBoth);
    upstream.on("error", closeBoth).on("close", closeBoth);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the proxy has no TCP address");
  return Object.assign(proxy, { url: `https://127.0.0.1:${address.port}` });
}

/** A copy of `kubeConfig` whose clusters are reached at `server` instead. */
export function kubeConfigVia(kubeConfig: KubeConfig, server: string): KubeConfig {
  const copy = new KubeConfig();
  copy.loadFromOptions({
    clusters: kubeConfig.getClusters().map((cluster) => ({ ...cluster, server })),
    users: kubeConfig.getUsers(),
    contexts: kubeConfig.getContexts(),
    currentContext: kubeConfig.getCurrentContext(),
  });
  return copy;
}

/** The host and port of an `https://host:port` URL. */
export function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
}
