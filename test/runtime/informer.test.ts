/**
 * The informer against a real kube-apiserver (harness): list + watch, resume after the server
 * ends a watch and after a cut connection (no re-list, no missed change), re-list on 410, survive
 * an apiserver restart, the Pod informer's slim projection, and the typed Pod/Node informers.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createInformer, type Informer, type ListerWatcher } from "../../src/runtime/informer.js";
import {
  createCustomResourceInformer,
  createFullPodInformer,
  createKubeListerWatcher,
  createNodeInformer,
  createPodInformer,
  resourcePath,
} from "../../src/runtime/kube-informers.js";
import { decodeKubeObject, type KubeObject } from "../../src/runtime/kube-object.js";
import { createLogger } from "../../src/runtime/logger.js";
import { createNamespace, useControlPlane, waitFor } from "../harness/testing.js";
import { restartApiserver, type RestartedApiserver } from "./apiserver-restart.js";
import { hostPort, installWidgetCrd, kubeConfigVia, startTcpProxy, WIDGET } from "./support.js";

const plane = useControlPlane();
const logger = createLogger({ level: process.env.TEST_LOG_LEVEL === "debug" ? "debug" : "silent" });
const Written = z.object({ metadata: z.object({ name: z.string(), resourceVersion: z.string() }) });

let kubeConfig: KubeConfig;
let restarted: RestartedApiserver | undefined;

beforeAll(async () => {
  kubeConfig = plane().kubeConfig;
  await installWidgetCrd(kubeConfig);
});

afterAll(async () => {
  await restarted?.stop();
});

/** Writes Widgets with client-node's own API (independent of the code under test). */
function widgets(namespace: string) {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const base = { group: WIDGET.group, version: WIDGET.version, plural: WIDGET.plural, namespace };
  return {
    async create(name: string, spec: Record<string, unknown> = {}, labels?: Record<string, string>) {
      const body = {
        apiVersion: `${WIDGET.group}/${WIDGET.version}`,
        kind: WIDGET.kind,
        metadata: { name, ...(labels && { labels }) },
        spec,
      };
      return Written.parse(await api.createNamespacedCustomObject({ ...base, body })).metadata
        .resourceVersion;
    },
    async update(name: string, spec: Record<string, unknown>) {
      const current = Written.parse(await api.getNamespacedCustomObject({ ...base, name }));
      const body = {
        apiVersion: `${WIDGET.group}/${WIDGET.version}`,
        kind: WIDGET.kind,
        metadata: { name, resourceVersion: current.metadata.resourceVersion },
        spec,
      };
      return Written.parse(await api.replaceNamespacedCustomObject({ ...base, name, body })).metadata
        .resourceVersion;
    },
    async remove(name: string) {
      await api.deleteNamespacedCustomObject({ ...base, name });
    },
    async list() {
      const raw = await api.listNamespacedCustomObject(base);
      return z.object({ items: z.array(Written) }).parse(raw).items;
    },
  };
}

/** Records every event, and counts list and watch calls through a wrapper around the real ones. */
function observe(informer: Informer<KubeObject>) {
  const events: string[] = [];
  const seen = new Map<string, string[]>();
  const record = (type: string, object: KubeObject): void => {
    events.push(`${type} ${object.metadata.name}`);
    const versions = seen.get(object.metadata.name) ?? [];
    versions.push(object.metadata.resourceVersion);
    seen.set(object.metadata.name, versions);
  };
  informer.addEventHandler({
    add: (o) => record("add", o),
    update: (_old, o) => record("update", o),
    delete: (o) => record("delete", o),
  });
  return { events, seen };
}

function counting<T>(inner: ListerWatcher<T>, firstWatchFrom?: string) {
  const calls = { lists: 0, watches: [] as string[] };
  let override = firstWatchFrom;
  const wrapped: ListerWatcher<T> = {
    list: (signal) => {
      calls.lists++;
      return inner.list(signal);
    },
    watch: (resourceVersion, signal, onEvent) => {
      const from = override ?? resourceVersion;
      override = undefined;
      calls.watches.push(from);
      return inner.watch(from, signal, onEvent);
    },
  };
  return { calls, wrapped };
}

function widgetInformer(
  namespace: string,
  options: { kubeConfig?: KubeConfig; watchTimeoutSeconds?: number; firstWatchFrom?: string } = {},
) {
  const inner = createKubeListerWatcher({
    kubeConfig: options.kubeConfig ?? kubeConfig,
    path: resourcePath({ ...WIDGET, namespace }),
    decode: decodeKubeObject,
    pageSize: 2, // exercise pagination
    ...(options.watchTimeoutSeconds !== undefined && {
      watchTimeoutSeconds: () => options.watchTimeoutSeconds!,
    }),
  });
  const { calls, wrapped } = counting(inner, options.firstWatchFrom);
  const informer = createInformer<KubeObject>({
    name: "widgets",
    logger,
    ...wrapped,
    backoff: { initialMs: 100, maxMs: 1_000 },
  });
  const stop = new AbortController();
  const running = informer.start(stop.signal);
  return { informer, calls, stop, running, ...observe(informer) };
}

/** Waits until the informer's store holds exactly what the server has (same resourceVersions). */
async function converged(informer: Informer<KubeObject>, namespace: string): Promise<void> {
  await waitFor("the informer's store to match the server", async () => {
    const server = await widgets(namespace).list();
    const cached = informer.store.list({ namespace });
    const key = (o: { metadata: { name: string; resourceVersion: string } }) =>
      `${o.metadata.name}@${o.metadata.resourceVersion}`;
    return JSON.stringify(server.map(key).sort()) === JSON.stringify(cached.map(key).sort())
      ? true
      : undefined;
  });
}

describe("informer against a real apiserver", () => {
  it("lists existing objects in pages, then delivers add, update and delete events", async () => {
    const namespace = await createNamespace(kubeConfig, "inf-basic");
    const w = widgets(namespace);
    for (const name of ["a", "b", "c"])
      await w.create(name, { size: 1 }, { app: name === "c" ? "other" : "x" });
    const { informer, events, calls, stop, running } = widgetInformer(namespace);
    expect(await informer.waitForSync(stop.signal)).toBe(true);
    expect(informer.store.size).toBe(3);
    expect(events.sort()).toEqual(["add a", "add b", "add c"]);
    expect(informer.store.get(`${namespace}/a`)?.spec).toEqual({ size: 1 });
    expect(informer.store.list({ namespace, labelSelector: { matchLabels: { app: "x" } } })).toHaveLength(2);

    events.length = 0;
    await w.create("d");
    await w.update("a", { size: 2 });
    await w.remove("b");
    await waitFor("three events", async () => (events.length >= 3 ? true : undefined));
    expect(events).toEqual(["add d", "update a", "delete b"]);
    expect(informer.store.get(`${namespace}/a`)?.spec).toEqual({ size: 2 });
    expect(informer.store.get(`${namespace}/b`)).toBeUndefined();
    expect(calls.lists).toBe(1);
    stop.abort();
    await running;
  });

  it("resumes watches the server ends (timeoutSeconds) from the last resourceVersion, missing nothing", async () => {
    const namespace = await createNamespace(kubeConfig, "inf-timeout");
    const w = widgets(namespace);
    const { informer, seen, calls, stop, running } = widgetInformer(namespace, { watchTimeoutSeconds: 1 });
    await informer.waitForSync(stop.signal);
    const written = new Map<string, string[]>();
    const startedAt = Date.now();
    for (let i = 0; Date.now() - startedAt < 4_500; i++) {
      const name = `w${i % 3}`;
      const versions = written.get(name) ?? [];
      versions.push(versions.length === 0 ? await w.create(name, { i }) : await w.update(name, { i }));
      written.set(name, versions);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await converged(informer, namespace);
    expect(calls.watches.length).toBeGreaterThanOrEqual(3); // the server ended several watches
    expect(calls.lists).toBe(1); // …and each was resumed, never re-listed
    expect(Object.fromEntries(seen)).toEqual(Object.fromEntries(written)); // every single change, in order
    stop.abort();
    await running;
  });

  it("resumes after its connection is cut, delivering the changes made meanwhile, without a re-list", async () => {
    const namespace = await createNamespace(kubeConfig, "inf-cut");
    const proxy = await startTcpProxy(hostPort(plane().server));
    try {
      const w = widgets(namespace);
      await w.create("a");
      const viaProxy = kubeConfigVia(kubeConfig, proxy.url);
      const { informer, seen, calls, stop, running } = widgetInformer(namespace, { kubeConfig: viaProxy });
      await informer.waitForSync(stop.signal);
      await waitFor("the watch to be open", async () => (calls.watches.length === 1 ? true : undefined));
      proxy.refuse = true;
      expect(proxy.cutConnections()).toBeGreaterThan(0);
      const during = [await w.update("a", { v: 1 }), await w.update("a", { v: 2 })];
      await w.create("b");
      await new Promise((resolve) => setTimeout(resolve, 500)); // reconnects are refused meanwhile
      proxy.refuse = false;
      await converged(informer, namespace);
      expect(calls.lists).toBe(1);
      expect(calls.watches.length).toBeGreaterThanOrEqual(2);
      expect(seen.get("a")?.slice(1)).toEqual(during);
      stop.abort();
      await running;
    } finally {
      await proxy.close();
    }
  });

  it("re-lists when the watch's resourceVersion is too old (410 Gone)", async () => {
    const namespace = await createNamespace(kubeConfig, "inf-gone");
    const w = widgets(namespace);
    await w.create("a");
    // The first watch starts from resourceVersion 1, long compacted out of the apiserver's watch window.
    const { informer, calls, events, stop, running } = widgetInformer(namespace, { firstWatchFrom: "1" });
    await informer.waitForSync(stop.signal);
    await waitFor("a re-list", async () => (calls.lists >= 2 ? true : undefined));
    expect(calls.watches[0]).toBe("1");
    await w.create("b");
    await converged(informer, namespace);
    expect(events).toEqual(["add a", "add b"]); // the re-list found nothing new: no duplicate events
    stop.abort();
    await running;
  });

  it("keeps working across a restart of the apiserver process", async () => {
    const namespace = await createNamespace(kubeConfig, "inf-restart");
    const w = widgets(namespace);
    await w.create("before");
    const { informer, stop, running, events } = widgetInformer(namespace);
    await informer.waitForSync(stop.signal);
    restarted = await restartApiserver(plane(), { downMs: 1_000 });
    await w.create("after");
    await w.update("before", { changed: true });
    await converged(informer, namespace);
    expect(informer.hasSynced()).toBe(true);
    expect(events).toContain("add after");
    expect(informer.store.get(`${namespace}/before`)?.spec).toEqual({ changed: true });
    stop.abort();
    await running;
  });

  it("the custom-resource factory watches one namespace with bookmarks and the envelope parsed", async () => {
    const namespace = await createNamespace(kubeConfig, "inf-factory");
    await widgets(namespace).create("x", { model: "llama" });
    const informer = createCustomResourceInformer({ kubeConfig, logger, ...WIDGET, namespace });
    const stop = new AbortController();
    const running = informer.start(stop.signal);
    await informer.waitForSync(stop.signal);
    expect(informer.name).toBe(`widgets.${WIDGET.group}`);
    const object = informer.store.get(`${namespace}/x`);
    expect(object).toMatchObject({
      kind: "Widget",
      spec: { model: "llama" },
      metadata: { name: "x", namespace },
    });
    expect(object?.metadata).not.toHaveProperty("managedFields");
    stop.abort();
    await running;
  });

  it("the Pod informer caches the same slim projection from lists and from watches; the full one typed objects", async () => {
    const namespace = await createNamespace(kubeConfig, "inf-pods");
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const pod = (name: string, labels: Record<string, string>) => ({
      metadata: {
        name,
        labels,
        annotations: { "modelpack.dev/model.m": "sha256:abc", "other.example/big": "x".repeat(4096) },
      },
      spec: { containers: [{ name: "c", image: "registry.example/app:1" }] },
    });
    await core.createNamespacedPod({ namespace, body: pod("listed", { app: "llama" }) });
    await core.createNode({ body: { metadata: { name: `node-${namespace}`, labels: { pool: "gpu" } } } });
    const pods = createPodInformer({
      kubeConfig,
      logger,
      namespace,
      labelSelector: "app",
      annotationPrefixes: ["modelpack.dev/"],
    });
    const full = createFullPodInformer({ kubeConfig, logger, namespace });
    const nodes = createNodeInformer({ kubeConfig, logger, labelSelector: "pool=gpu" });
    const stop = new AbortController();
    const running = [pods.start(stop.signal), full.start(stop.signal), nodes.start(stop.signal)];
    await Promise.all([
      pods.waitForSync(stop.signal),
      full.waitForSync(stop.signal),
      nodes.waitForSync(stop.signal),
    ]);
    await core.createNamespacedPod({ namespace, body: pod("watched", { app: "bert" }) });
    await core.createNamespacedPod({ namespace, body: pod("unlabelled", {}) });
    await waitFor("the watched pod", async () => pods.store.get(`${namespace}/watched`));
    await waitFor("the watched pod, whole", async () => full.store.get(`${namespace}/watched`));
    const slim = (name: string, labels: Record<string, string>) => ({
      metadata: {
        name,
        namespace,
        uid: expect.any(String),
        resourceVersion: expect.any(String),
        labels,
        annotations: { "modelpack.dev/model.m": "sha256:abc" },
      },
      status: { phase: "Pending" },
    });
    const listed = pods.store.get(`${namespace}/listed`);
    const watched = pods.store.get(`${namespace}/watched`);
    expect(listed).toStrictEqual(slim("listed", { app: "llama" }));
    expect(watched).toStrictEqual(slim("watched", { app: "bert" }));
    expect(pods.store.get(`${namespace}/unlabelled`)).toBeUndefined(); // server-side label selector
    expect(pods.store.list({ namespace, labelSelector: { matchLabels: { app: "bert" } } })).toEqual([
      watched,
    ]);
    const wholeListed = full.store.get(`${namespace}/listed`);
    const wholeWatched = full.store.get(`${namespace}/watched`);
    expect(wholeListed?.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(wholeWatched?.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(wholeWatched?.spec?.containers[0]?.image).toBe("registry.example/app:1");
    expect(wholeWatched?.metadata?.annotations?.["other.example/big"]).toHaveLength(4096);
    const node = nodes.store.get(`node-${namespace}`);
    expect(node?.metadata?.labels).toEqual({ pool: "gpu" });
    expect(node?.metadata?.creationTimestamp).toBeInstanceOf(Date);
    stop.abort();
    await Promise.all(running);
  });
});
