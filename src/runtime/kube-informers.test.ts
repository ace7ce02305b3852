import { KubeConfig } from "@kubernetes/client-node";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type { WatchEvent } from "./informer.js";
import { isResourceVersionUnavailable, KubeApiError } from "./kube-errors.js";
import { createKubeListerWatcher, resourcePath } from "./kube-informers.js";
import { decodeAs, decodeKubeObject, type KubeObject } from "./kube-object.js";
import type { V1Pod } from "@kubernetes/client-node";

/** A plain-HTTP stand-in for the apiserver on 127.0.0.1, answering with `handler`. */
async function fakeApiserver(handler: (request: IncomingMessage, response: ServerResponse) => void) {
  const requests: URL[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(new URL(request.url ?? "/", "http://localhost"));
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no address");
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: "fake", server: `http://127.0.0.1:${address.port}`, skipTLSVerify: true }],
    users: [{ name: "fake", token: "t0ken" }],
    contexts: [{ name: "fake", cluster: "fake", user: "fake" }],
    currentContext: "fake",
  });
  servers.push(server);
  return { kubeConfig, requests, port: address.port };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const widget = (name: string, resourceVersion: string) => ({
  apiVersion: "g/v1",
  kind: "Widget",
  metadata: { name, namespace: "ns", resourceVersion, managedFields: [{ manager: "kubectl" }] },
  spec: { size: 1 },
});

describe("Kubernetes list and watch calls", () => {
  it("builds core, group and namespaced collection paths", () => {
    expect(resourcePath({ version: "v1", plural: "pods" })).toBe("/api/v1/pods");
    expect(resourcePath({ version: "v1", plural: "pods", namespace: "ml" })).toBe(
      "/api/v1/namespaces/ml/pods",
    );
    expect(resourcePath({ group: "modelpack.dev", version: "v1alpha1", plural: "modeldeployments" })).toBe(
      "/apis/modelpack.dev/v1alpha1/modeldeployments",
    );
  });

  it("lists every page, strips managedFields, authenticates, and returns the last page's resourceVersion", async () => {
    const { kubeConfig, requests } = await fakeApiserver((request, response) => {
      expect(request.headers.authorization).toBe("Bearer t0ken");
      const url = new URL(request.url ?? "/", "http://localhost");
      const second = url.searchParams.get("continue") === "page2";
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          metadata: { resourceVersion: "42", ...(second ? {} : { continue: "page2" }) },
          items: second ? [widget("c", "41")] : [widget("a", "40"), widget("b", "39")],
        }),
      );
    });
    const lw = createKubeListerWatcher<KubeObject>({
      kubeConfig,
      path: "/apis/g/v1/namespaces/ns/widgets",
      decode: decodeKubeObject,
      pageSize: 2,
      labelSelector: "app=x",
    });
    const list = await lw.list(new AbortController().signal);
    expect(list.resourceVersion).toBe("42");
    expect(list.items.map((o) => o.metadata.name)).toEqual(["a", "b", "c"]);
    expect(list.items[0]?.metadata).not.toHaveProperty("managedFields");
    expect(requests.map((u) => u.search)).toEqual([
      "?limit=2&labelSelector=app%3Dx",
      "?limit=2&continue=page2&labelSelector=app%3Dx",
    ]);
  });

  it("streams watch events split across chunks, with bookmarks, and ends cleanly with the body", async () => {
    const { kubeConfig, requests } = await fakeApiserver((_request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      const lines =
        JSON.stringify({ type: "ADDED", object: widget("a", "43") }) +
        "\n" +
        JSON.stringify({
          type: "BOOKMARK",
          object: { kind: "Widget", metadata: { resourceVersion: "50" } },
        }) +
        "\n" +
        JSON.stringify({ type: "DELETED", object: widget("a", "51") });
      // Split mid-line and mid-character boundaries on purpose; no newline after the last event.
      const bytes = Buffer.from(lines);
      response.write(bytes.subarray(0, 17));
      setTimeout(() => {
        response.write(bytes.subarray(17, 120));
        setTimeout(() => response.end(bytes.subarray(120)), 5);
      }, 5);
    });
    const lw = createKubeListerWatcher<KubeObject>({
      kubeConfig,
      path: "/apis/g/v1/widgets",
      decode: decodeKubeObject,
      watchTimeoutSeconds: () => 7,
    });
    const events: WatchEvent<KubeObject>[] = [];
    await lw.watch("42", new AbortController().signal, (event) => events.push(event));
    expect(
      events.map((e) =>
        e.type === "BOOKMARK" ? `BOOKMARK ${e.resourceVersion}` : `${e.type} ${e.object.metadata.name}`,
      ),
    ).toEqual(["ADDED a", "BOOKMARK 50", "DELETED a"]);
    const query = Object.fromEntries(requests[0]!.searchParams);
    expect(query).toEqual({
      watch: "true",
      resourceVersion: "42",
      allowWatchBookmarks: "true",
      timeoutSeconds: "7",
    });
  });

  it("turns an in-stream ERROR event into a KubeApiError that asks for a re-list", async () => {
    const { kubeConfig } = await fakeApiserver((_request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      const status = {
        kind: "Status",
        status: "Failure",
        code: 410,
        reason: "Expired",
        message: "too old resource version: 1 (99)",
      };
      response.write(JSON.stringify({ type: "ERROR", object: status }) + "\n"); // the server keeps the stream open
    });
    const lw = createKubeListerWatcher({ kubeConfig, path: "/api/v1/pods", decode: decodeKubeObject });
    const error = await lw
      .watch("1", new AbortController().signal, () => undefined)
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(KubeApiError);
    expect(error).toMatchObject({
      code: "Expired",
      status: 410,
      message: "WATCH /api/v1/pods: too old resource version: 1 (99)",
    });
    expect(isResourceVersionUnavailable(error)).toBe(true);
  });

  it("maps an HTTP error's Status, with Retry-After, into a KubeApiError", async () => {
    const { kubeConfig } = await fakeApiserver((_request, response) => {
      response.writeHead(429, { "content-type": "application/json", "retry-after": "3" });
      response.end(
        JSON.stringify({ kind: "Status", code: 429, reason: "TooManyRequests", message: "slow down" }),
      );
    });
    const lw = createKubeListerWatcher({ kubeConfig, path: "/api/v1/pods", decode: decodeKubeObject });
    await expect(lw.list(new AbortController().signal)).rejects.toMatchObject({
      code: "TooManyRequests",
      status: 429,
      retryAfterSeconds: 3,
      message: "GET /api/v1/pods: slow down",
    });
  });

  it("reports a server that is not there as Unreachable, and an abort with the signal's reason", async () => {
    const { kubeConfig, port } = await fakeApiserver(() => undefined); // never answers
    const lw = createKubeListerWatcher({ kubeConfig, path: "/api/v1/pods", decode: decodeKubeObject });
    const stop = new AbortController();
    const pending = lw.watch("1", stop.signal, () => undefined);
    setTimeout(() => stop.abort(new Error("stopping")), 20);
    await expect(pending).rejects.toThrow("stopping");

    await new Promise((resolve) => servers.splice(0)[0]!.close(resolve));
    const gone = createKubeListerWatcher({ kubeConfig, path: "/api/v1/pods", decode: decodeKubeObject });
    await expect(gone.list(new AbortController().signal)).rejects.toMatchObject({
      code: "Unreachable",
      message: expect.stringContaining(`ECONNREFUSED 127.0.0.1:${port}`),
    });
  });

  it("lets an exception from the event callback end the watch with that exception", async () => {
    const { kubeConfig } = await fakeApiserver((_request, response) => {
      response.writeHead(200);
      response.write(JSON.stringify({ type: "ADDED", object: widget("a", "1") }) + "\n");
    });
    const lw = createKubeListerWatcher({ kubeConfig, path: "/api/v1/pods", decode: decodeKubeObject });
    const bug = new Error("handler bug");
    await expect(
      lw.watch("0", new AbortController().signal, () => {
        throw bug;
      }),
    ).rejects.toBe(bug);
  });

  it("decodes core kinds into client-node models with Date fields, from lists and watches alike", () => {
    const decode = decodeAs<V1Pod>("V1Pod");
    const pod = decode({
      metadata: {
        name: "p",
        namespace: "ns",
        resourceVersion: "1",
        creationTimestamp: "2026-01-02T03:04:05Z",
      },
      spec: { containers: [{ name: "c", image: "i" }] },
    });
    expect(pod.metadata?.creationTimestamp).toEqual(new Date("2026-01-02T03:04:05Z"));
    expect(pod.spec?.containers[0]?.image).toBe("i");
    expect(() => decode({ metadata: { name: "p" } })).toThrow(/malformed at metadata.resourceVersion/);
  });
});
