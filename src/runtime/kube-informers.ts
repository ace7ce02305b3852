/**
 * Informers for Kubernetes resources: the list/watch calls of the informer in `informer.ts`,
 * made with raw requests (`kube-client.ts`) on a path, and factories for a namespaced custom
 * resource, Pods (slim projections, or whole objects) and Nodes.
 *
 * What the calls do, after client-go's reflector:
 * - list in pages (`limit`, default 500, following `continue`), consistent at one resourceVersion,
 *   each page split into items as it streams in and each item decoded alone (`list-splitter.ts`),
 *   so no page is ever one parse tree;
 * - watch with `allowWatchBookmarks=true` from the list's resourceVersion, with a server-side
 *   `timeoutSeconds` drawn from 5–10 minutes so watches end (and resume) at spread-out times;
 * - turn an in-stream `ERROR` event into a KubeApiError from its Status (410 Expired → re-list);
 * - drop `metadata.managedFields` and decode each object (zod envelope, or client-node's model).
 */
import type { KubeConfig, V1Node, V1Pod } from "@kubernetes/client-node";
import { z } from "zod";
import { createPodProjection, type CachedPod, type PodProjectionOptions } from "./cached-pod.js";
import type { Clock } from "./clock.js";
import {
  createInformer,
  type Informer,
  type InformerBackoff,
  type ListerWatcher,
  type WatchEvent,
} from "./informer.js";
import { kubeRequest, kubeStreamLines, kubeStreamText, type KubeRequestOptions } from "./kube-client.js";
import { KubeApiError, kubeApiErrorFromStatus, KubeStatus } from "./kube-errors.js";
import { decodeAs, decodeKubeObject, stripManagedFields, type KubeObject } from "./kube-object.js";
import type { KubeObjectLike } from "./keys.js";
import { ListSplitError, ListSplitter } from "./list-splitter.js";
import type { Logger } from "./logger.js";

/** Options of `createKubeListerWatcher`. */
export interface KubeListerWatcherOptions<T> {
  kubeConfig: KubeConfig;
  /** The collection path, e.g. `/api/v1/pods` or `/apis/g/v1/namespaces/ns/things` (see `resourcePath`). */
  path: string;
  /** Parses one object; throws if it is malformed. */
  decode: (raw: unknown) => T;
  /** e.g. `app=llama,tier!=cpu`. */
  labelSelector?: string;
  /** e.g. `spec.nodeName=node-1`. */
  fieldSelector?: string;
  /** Objects per list page. Default 500. */
  pageSize?: number;
  /** The server-side timeout of each watch. Default: a random 300–599 s. */
  watchTimeoutSeconds?: () => number;
  /** Limit for list responses (headers, and each gap between body chunks). Default 60 s. */
  requestTimeoutMs?: number;
  /**
   * Parse each list page whole, then decode its items (the behaviour before item streaming: a
   * page's parse tree outlives young-generation collections). Only the memory benchmark's
   * baseline (`createFullPodInformer`) sets it. Default false.
   */
  parseWholePages?: boolean;
}

const ListPage = z.object({
  metadata: z.looseObject({ resourceVersion: z.string(), continue: z.string().optional() }),
  items: z.array(z.unknown()).nullable(),
});

const WatchLine = z.object({
  type: z.enum(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]),
  object: z.unknown(),
});

const Bookmark = z.object({ metadata: z.looseObject({ resourceVersion: z.string().min(1) }) });

function invalid(what: string, detail: string, cause?: unknown): KubeApiError {
  return new KubeApiError("InvalidResponse", `${what}: ${detail}`, { cause });
}

type ListMeta = z.infer<typeof ListPage>["metadata"];

/**
 * One list page, streamed: each item is parsed and handed to `add` alone, as soon as it has
 * arrived (see list-splitter.ts); returns the page's metadata.
 */
async function listStreamedPage(
  kubeConfig: KubeConfig,
  request: KubeRequestOptions,
  add: (raw: unknown) => void,
): Promise<ListMeta> {
  const what = `LIST ${request.path}`;
  const splitter = new ListSplitter((json) => {
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch (err) {
      throw invalid(what, "a list item is not JSON", err);
    }
    add(raw);
  });
  let envelope: unknown;
  try {
    await kubeStreamText(kubeConfig, request, (text) => splitter.write(text));
    envelope = JSON.parse(splitter.envelope());
  } catch (err) {
    if (err instanceof ListSplitError || err instanceof SyntaxError)
      throw invalid(what, "the response is not a list", err);
    throw err;
  }
  const page = ListPage.safeParse(envelope);
  if (!page.success) throw invalid(what, "the response is not a list");
  return page.data.metadata;
}

/** One list page, parsed whole, then each item handed to `add` (see `parseWholePages`). */
async function listWholePage(
  kubeConfig: KubeConfig,
  request: KubeRequestOptions,
  add: (raw: unknown) => void,
): Promise<ListMeta> {
  const page = ListPage.safeParse(await kubeRequest(kubeConfig, request));
  if (!page.success) throw invalid(`LIST ${request.path}`, "the response is not a list");
  for (const item of page.data.items ?? []) add(item);
  return page.data.metadata;
}

/** The list and watch calls for one collection path. */
export function createKubeListerWatcher<T>(options: KubeListerWatcherOptions<T>): ListerWatcher<T> {
  const { kubeConfig, path, labelSelector, fieldSelector } = options;
  const pageSize = options.pageSize ?? 500;
  const watchTimeoutSeconds = options.watchTimeoutSeconds ?? (() => 300 + Math.floor(Math.random() * 300));
  const decode = (raw: unknown): T => options.decode(stripManagedFields(raw));
  return {
    async list(signal) {
      const items: T[] = [];
      let continueToken: string | undefined;
      let resourceVersion: string;
      do {
        const request: KubeRequestOptions = {
          path,
          query: { limit: pageSize, continue: continueToken, labelSelector, fieldSelector },
          signal,
          ...(options.requestTimeoutMs !== undefined && { timeoutMs: options.requestTimeoutMs }),
        };
        const add = (raw: unknown): void => void items.push(decode(raw));
        const page = options.parseWholePages
          ? await listWholePage(kubeConfig, request, add)
          : await listStreamedPage(kubeConfig, request, add);
        resourceVersion = page.resourceVersion;
        continueToken = page.continue || undefined;
      } while (continueToken);
      return { items, resourceVersion };
    },

    watch(resourceVersion, signal, onEvent) {
      const what = `WATCH ${path}`;
      return kubeStreamLines(
        kubeConfig,
        {
          path,
          query: {
            watch: true,
            resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: watchTimeoutSeconds(),
            labelSelector,
            fieldSelector,
          },
          signal,
        },
        (line) => {
          let json: unknown;
          try {
            json = JSON.parse(line);
          } catch (err) {
            throw invalid(what, "a watch line is not JSON", err);
          }
          const event = WatchLine.safeParse(json);
          if (!event.success) throw invalid(what, "a watch line is not a watch event");
          const { type, object } = event.data;
          if (type === "ERROR") {
            const status = KubeStatus.safeParse(object);
            throw status.success
              ? kubeApiErrorFromStatus(what, status.data)
              : invalid(what, "malformed ERROR event");
          }
          if (type === "BOOKMARK") {
            const bookmark = Bookmark.safeParse(object);
            if (!bookmark.success) throw invalid(what, "malformed BOOKMARK event");
            onEvent({
              type,
              resourceVersion: bookmark.data.metadata.resourceVersion,
            } satisfies WatchEvent<T>);
            return;
          }
          onEvent({ type, object: decode(object) });
        },
      );
    },
  };
}

/** The collection path of a resource: core (`group` "" or absent) or a named group; namespaced if `namespace` is given. */
export function resourcePath(resource: {
  group?: string;
  version: string;
  plural: string;
  namespace?: string;
}): string {
  const base = resource.group ? `/apis/${resource.group}/${resource.version}` : `/api/${resource.version}`;
  const namespace = resource.namespace ? `/namespaces/${encodeURIComponent(resource.namespace)}` : "";
  return `${base}${namespace}/${resource.plural}`;
}

/** Options shared by the factories below. */
export interface KubeInformerOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Default: the system clock. */
  clock?: Clock;
  labelSelector?: string;
  fieldSelector?: string;
  pageSize?: number;
  watchTimeoutSeconds?: () => number;
  backoff?: InformerBackoff;
  watchIdleTimeoutMs?: number;
}

/** An informer for any collection path with any decoder. */
export function createKubeInformer<T extends KubeObjectLike>(
  options: KubeInformerOptions & {
    name: string;
    path: string;
    decode: (raw: unknown) => T;
    parseWholePages?: boolean;
  },
): Informer<T> {
  const listerWatcher = createKubeListerWatcher<T>({
    kubeConfig: options.kubeConfig,
    path: options.path,
    decode: options.decode,
    ...(options.labelSelector !== undefined && { labelSelector: options.labelSelector }),
    ...(options.fieldSelector !== undefined && { fieldSelector: options.fieldSelector }),
    ...(options.pageSize !== undefined && { pageSize: options.pageSize }),
    ...(options.watchTimeoutSeconds !== undefined && { watchTimeoutSeconds: options.watchTimeoutSeconds }),
    ...(options.parseWholePages !== undefined && { parseWholePages: options.parseWholePages }),
  });
  return createInformer<T>({
    name: options.name,
    logger: options.logger,
    list: listerWatcher.list,
    watch: listerWatcher.watch,
    ...(options.clock && { clock: options.clock }),
    ...(options.backoff && { backoff: options.backoff }),
    ...(options.watchIdleTimeoutMs !== undefined && { watchIdleTimeoutMs: options.watchIdleTimeoutMs }),
  });
}

/**
 * An informer for a namespaced custom resource, in one namespace or (namespace absent) all of
 * them. Objects keep their body unchecked: parse `spec` with the API's schema in the reconciler.
 */
export function createCustomResourceInformer(
  options: KubeInformerOptions & { group: string; version: string; plural: string; namespace?: string },
): Informer<KubeObject> {
  const namespaced = options.namespace ? { namespace: options.namespace } : {};
  return createKubeInformer({
    ...options,
    name: `${options.plural}.${options.group}`,
    path: resourcePath({
      group: options.group,
      version: options.version,
      plural: options.plural,
      ...namespaced,
    }),
    decode: decodeKubeObject,
  });
}

/**
 * An informer for Pods, in one namespace or all, that caches each pod as a slim `CachedPod`
 * (metadata the controller reads, the annotations under `annotationPrefixes`, status.phase; see
 * `cached-pod.ts`): about 1 KiB a pod instead of tens. Lists in pages, so a list of all pods is
 * never one response in memory. Narrow it with label and field selectors.
 */
export function createPodInformer(
  options: KubeInformerOptions & { namespace?: string } & PodProjectionOptions,
): Informer<CachedPod> {
  const namespaced = options.namespace ? { namespace: options.namespace } : {};
  return createKubeInformer({
    ...options,
    name: "pods",
    path: resourcePath({ version: "v1", plural: "pods", ...namespaced }),
    decode: createPodProjection(
      options.annotationPrefixes !== undefined ? { annotationPrefixes: options.annotationPrefixes } : {},
    ),
  });
}

/**
 * An informer for Pods as it was before projections: whole typed `V1Pod` objects (spec and status
 * included; only managedFields dropped), list pages parsed whole. About 10 KiB of heap a pod, and
 * the page parses make the RSS peak far higher: prefer `createPodInformer`. Kept as the memory
 * benchmark's baseline (MODELPACK_POD_CACHE=full).
 */
export function createFullPodInformer(
  options: KubeInformerOptions & { namespace?: string },
): Informer<V1Pod> {
  const namespaced = options.namespace ? { namespace: options.namespace } : {};
  return createKubeInformer({
    ...options,
    name: "pods",
    path: resourcePath({ version: "v1", plural: "pods", ...namespaced }),
    decode: decodeAs<V1Pod>("V1Pod"),
    parseWholePages: true,
  });
}

/** An informer for Nodes (cluster-scoped; keyed by name). */
export function createNodeInformer(options: KubeInformerOptions): Informer<V1Node> {
  return createKubeInformer({
    ...options,
    name: "nodes",
    path: resourcePath({ version: "v1", plural: "nodes" }),
    decode: decodeAs<V1Node>("V1Node"),
  });
}
