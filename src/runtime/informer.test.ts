import { describe, expect, it } from "vitest";
import { FakeClock } from "./clock.js";
import { createInformer, enqueueMappedKeys, enqueueObjectKey, type WatchEvent } from "./informer.js";
import { KubeApiError } from "./kube-errors.js";
import { silentLogger } from "./logger.js";
import { createWorkQueue } from "./queue.js";

/** Lets pending promise callbacks run (a few macrotask turns); not a sleep. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion: string; labels?: Record<string, string> };
  data?: string;
}

interface OpenWatch {
  onEvent: (event: WatchEvent<Obj>) => void;
  end: () => void;
  fail: (err: unknown) => void;
}

/**
 * A model of the apiserver's list/watch semantics: a global revision counter, an event log that
 * can be compacted (then watches from before it fail with 410 Expired), scripted failures.
 */
class FakeApi {
  revision = 0;
  readonly objects = new Map<string, Obj>();
  readonly log: { revision: number; event: WatchEvent<Obj> }[] = [];
  compactedThrough = 0;
  readonly watches = new Set<OpenWatch>();
  listCalls = 0;
  readonly watchCalls: string[] = [];
  readonly listFailures: unknown[] = [];
  readonly watchFailures: unknown[] = [];
  /** When true, a watch ends immediately after replaying (a server closing it at once). */
  endWatchesAtOnce = false;

  put(namespace: string, name: string, extra: { data?: string; labels?: Record<string, string> } = {}): Obj {
    const key = `${namespace}/${name}`;
    const existed = this.objects.has(key);
    const metadata = { name, namespace, resourceVersion: String(++this.revision) };
    const object: Obj = {
      metadata: extra.labels ? { ...metadata, labels: extra.labels } : metadata,
      ...(extra.data !== undefined && { data: extra.data }),
    };
    this.objects.set(key, object);
    this.emit({ type: existed ? "MODIFIED" : "ADDED", object });
    return object;
  }

  remove(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const old = this.objects.get(key);
    if (!old) throw new Error(`no ${key}`);
    this.objects.delete(key);
    const object = { ...old, metadata: { ...old.metadata, resourceVersion: String(++this.revision) } };
    this.emit({ type: "DELETED", object });
  }

  bookmark(): void {
    for (const watch of this.watches)
      watch.onEvent({ type: "BOOKMARK", resourceVersion: String(this.revision) });
  }

  compact(): void {
    this.compactedThrough = this.revision;
  }

  dropWatches(err: unknown = new KubeApiError("Unreachable", "connection reset")): void {
    for (const watch of [...this.watches]) watch.fail(err);
  }

  endWatches(): void {
    for (const watch of [...this.watches]) watch.end();
  }

  private emit(event: WatchEvent<Obj>): void {
    this.log.push({ revision: this.revision, event });
    for (const watch of this.watches) watch.onEvent(event);
  }

  readonly list = async (signal: AbortSignal) => {
    this.listCalls++;
    signal.throwIfAborted();
    const failure = this.listFailures.shift();
    if (failure !== undefined) throw failure;
    return { items: [...this.objects.values()], resourceVersion: String(this.revision) };
  };

  readonly watch = (resourceVersion: string, signal: AbortSignal, onEvent: (e: WatchEvent<Obj>) => void) => {
    this.watchCalls.push(resourceVersion);
    const failure = this.watchFailures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    const from = Number(resourceVersion);
    if (from < this.compactedThrough) {
      return Promise.reject(
        new KubeApiError("Expired", `too old resource version: ${from} (${this.compactedThrough})`, {
          status: 410,
        }),
      );
    }
    for (const entry of this.log) if (entry.revision > from) onEvent(entry.event);
    if (this.endWatchesAtOnce) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const watch: OpenWatch = {
        onEvent,
        end: () => {
          this.watches.delete(watch);
          resolve();
        },
        fail: (err) => {
          this.watches.delete(watch);
          reject(err);
        },
      };
      this.watches.add(watch);
      signal.addEventListener("abort", () => watch.fail(signal.reason), { once: true });
    });
  };
}

function setup(options: { random?: () => number } = {}) {
  const api = new FakeApi();
  const clock = new FakeClock(0);
  const informer = createInformer<Obj>({
    name: "things",
    list: api.list,
    watch: api.watch,
    clock,
    logger: silentLogger(),
    random: options.random ?? (() => 0),
  });
  const events: string[] = [];
  informer.addEventHandler({
    add: (o) => events.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}`),
    update: (a, b) =>
      events.push(`update ${b.metadata.name}@${a.metadata.resourceVersion}->${b.metadata.resourceVersion}`),
    delete: (o) => events.push(`delete ${o.metadata.name}`),
  });
  const stop = new AbortController();
  const start = () => informer.start(stop.signal);
  return { api, clock, informer, events, stop, start };
}

describe("informer", () => {
  it("lists, marks itself synced, then applies watch events to the store and the handlers", async () => {
    const { api, informer, events, stop, start } = setup();
    api.put("ns", "a", { data: "1" });
    api.put("ns", "b");
    expect(informer.hasSynced()).toBe(false);
    const running = start();
    expect(await informer.waitForSync(stop.signal)).toBe(true);
    expect(informer.hasSynced()).toBe(true);
    expect(events).toEqual(["add a@1", "add b@2"]);
    await settle();
    expect(api.watchCalls).toEqual(["2"]);

    api.put("ns", "a", { data: "2" });
    api.put("ns", "c");
    api.remove("ns", "b");
    expect(events.slice(2)).toEqual(["update a@1->3", "add c@4", "delete b"]);
    expect(informer.store.get("ns/a")?.data).toBe("2");
    expect(informer.store.get("ns/b")).toBeUndefined();
    expect(informer.store.keys().sort()).toEqual(["ns/a", "ns/c"]);
    expect(informer.lastSyncResourceVersion()).toBe("5");
    stop.abort();
    await running;
  });

  it("resumes a dropped watch from the last resourceVersion after a backoff, missing nothing", async () => {
    const { api, clock, informer, events, stop, start } = setup();
    api.put("ns", "a");
    const running = start();
    await settle();
    api.put("ns", "b");
    api.dropWatches();
    await settle();
    // Changes while disconnected:
    api.put("ns", "a", { data: "new" });
    api.remove("ns", "b");
    api.put("ns", "c");
    expect(api.watchCalls).toEqual(["1"]);
    clock.advance(799);
    await settle();
    expect(api.watchCalls).toEqual(["1"]);
    clock.advance(1);
    await settle();
    expect(api.watchCalls).toEqual(["1", "2"]);
    expect(api.listCalls).toBe(1);
    expect(events).toEqual(["add a@1", "add b@2", "update a@1->3", "delete b", "add c@5"]);
    expect(informer.store.keys().sort()).toEqual(["ns/a", "ns/c"]);
    stop.abort();
    await running;
  });

  it("resumes a watch the server ended at once, and bookmarks move the resume point", async () => {
    const { api, clock, stop, start } = setup();
    const running = start();
    await settle();
    api.put("other", "x");
    api.put("other", "y");
    api.bookmark();
    clock.advance(5_000);
    api.endWatches();
    await settle();
    expect(api.watchCalls).toEqual(["0", "2"]);
    expect(api.listCalls).toBe(1);
    stop.abort();
    await running;
  });

  it("re-lists at once on 410 Expired and emits only the real differences", async () => {
    const { api, clock, informer, events, stop, start } = setup();
    api.put("ns", "keep");
    api.put("ns", "change");
    api.put("ns", "gone");
    const running = start();
    await settle();
    api.dropWatches();
    await settle();
    api.put("ns", "change", { data: "x" });
    api.remove("ns", "gone");
    api.put("ns", "new");
    api.compact();
    clock.advance(800);
    await settle();
    expect(api.watchCalls).toEqual(["3", "3", "6"]);
    expect(api.listCalls).toBe(2);
    expect(events.slice(3)).toEqual(["delete gone", "update change@2->4", "add new@6"]);
    expect(informer.store.keys().sort()).toEqual(["ns/change", "ns/keep", "ns/new"]);
    expect(informer.lastSyncResourceVersion()).toBe("6");
    stop.abort();
    await running;
  });

  it("re-lists on a too-old-resource-version error sent inside the watch stream", async () => {
    const { api, stop, start } = setup();
    const running = start();
    await settle();
    api.dropWatches(
      new KubeApiError("Expired", "WATCH /api/v1/pods: too old resource version: 1 (50)", { status: 410 }),
    );
    await settle();
    expect(api.listCalls).toBe(2);
    stop.abort();
    await running;
  });

  it("backs off when a re-list for an expired resourceVersion is followed by another expiry", async () => {
    const { api, clock, stop, start } = setup();
    const expired = () => new KubeApiError("Expired", "too old resource version", { status: 410 });
    api.watchFailures.push(expired(), expired(), expired());
    const running = start();
    await settle();
    expect(api.listCalls).toBe(2); // first expiry: re-listed at once
    clock.advance(799);
    await settle();
    expect(api.listCalls).toBe(2);
    clock.advance(1);
    await settle();
    expect(api.listCalls).toBe(3);
    clock.advance(1_600);
    await settle();
    expect(api.listCalls).toBe(4);
    expect(api.watchCalls).toEqual(["0", "0", "0", "0"]);
    stop.abort();
    await running;
  });

  it("backs off exponentially with jitter on repeated failures and never gives up", async () => {
    const { api, clock, stop, start } = setup({ random: () => 0.5 });
    for (let i = 0; i < 8; i++) api.listFailures.push(new KubeApiError("Unreachable", "connection refused"));
    const running = start();
    const delays: number[] = [];
    let last = clock.now();
    while (api.listCalls < 9) {
      await settle();
      const calls = api.listCalls;
      clock.advance(100);
      await settle();
      if (api.listCalls > calls) {
        delays.push(clock.now() - last);
        last = clock.now();
      }
    }
    // 800 ms doubling to 30 s, times 1.5 for jitter 1 × random 0.5 (sampled on a 100 ms grid).
    expect(delays).toEqual([1200, 2400, 4800, 9600, 19200, 38400, 45000, 45000]);
    expect(await Promise.race([running.then(() => "stopped"), settle().then(() => "running")])).toBe(
      "running",
    );
    stop.abort();
    await running;
  });

  it("honours the server's Retry-After when it is longer than the backoff", async () => {
    const { api, clock, stop, start } = setup();
    api.listFailures.push(
      new KubeApiError("TooManyRequests", "slow down", { status: 429, retryAfterSeconds: 7 }),
    );
    const running = start();
    await settle();
    clock.advance(6_999);
    await settle();
    expect(api.listCalls).toBe(1);
    clock.advance(1);
    await settle();
    expect(api.listCalls).toBe(2);
    stop.abort();
    await running;
  });

  it("treats a watch that ends at once without events as a failure", async () => {
    const { api, clock, stop, start } = setup();
    api.endWatchesAtOnce = true;
    const running = start();
    await settle();
    expect(api.watchCalls).toEqual(["0"]);
    clock.advance(800);
    await settle();
    expect(api.watchCalls).toEqual(["0", "0"]);
    clock.advance(1_599);
    await settle();
    expect(api.watchCalls).toHaveLength(2);
    stop.abort();
    await running;
  });

  it("restarts a watch that stayed silent for the idle timeout, without re-listing", async () => {
    const { api, clock, stop, start } = setup();
    const running = start();
    await settle();
    clock.advance(100_000);
    api.bookmark(); // activity resets the watchdog
    await settle();
    clock.advance(149_999);
    await settle();
    expect(api.watchCalls).toEqual(["0"]);
    clock.advance(1);
    await settle();
    expect(api.watchCalls).toEqual(["0", "0"]);
    expect(api.listCalls).toBe(1);
    stop.abort();
    await running;
  });

  it("keeps the store and the other handlers going when a handler throws", async () => {
    const { api, informer, events, stop, start } = setup();
    informer.addEventHandler({
      add: () => {
        throw new Error("handler bug");
      },
    });
    const running = start();
    await settle();
    api.put("ns", "a");
    expect(events).toEqual(["add a@1"]);
    expect(informer.store.get("ns/a")).toBeDefined();
    api.put("ns", "b");
    expect(events).toEqual(["add a@1", "add b@2"]);
    stop.abort();
    await running;
  });

  it("replays existing objects to a handler added late, and stops calling it once removed", async () => {
    const { api, informer, stop, start } = setup();
    api.put("ns", "a");
    const running = start();
    await informer.waitForSync(stop.signal);
    const seen: string[] = [];
    const remove = informer.addEventHandler({ add: (o) => seen.push(o.metadata.name) });
    expect(seen).toEqual(["a"]);
    api.put("ns", "b");
    remove();
    api.put("ns", "c");
    expect(seen).toEqual(["a", "b"]);
    stop.abort();
    await running;
  });

  it("answers store queries by key, namespace and label selector", async () => {
    const { api, informer, stop, start } = setup();
    api.put("ml", "llama", { labels: { app: "chat", tier: "gpu" } });
    api.put("ml", "bert", { labels: { app: "embed" } });
    api.put("other", "llama", { labels: { app: "chat" } });
    const running = start();
    await informer.waitForSync(stop.signal);
    const names = (objects: Obj[]) => objects.map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort();
    expect(informer.store.get("ml/llama")?.metadata.labels).toEqual({ app: "chat", tier: "gpu" });
    expect(names(informer.store.list({ namespace: "ml" }))).toEqual(["ml/bert", "ml/llama"]);
    expect(names(informer.store.list({ labelSelector: { matchLabels: { app: "chat" } } }))).toEqual([
      "ml/llama",
      "other/llama",
    ]);
    expect(
      names(
        informer.store.list({
          namespace: "ml",
          labelSelector: { matchExpressions: [{ key: "tier", operator: "Exists" }] },
        }),
      ),
    ).toEqual(["ml/llama"]);
    expect(informer.store.list({ namespace: "none" })).toEqual([]);
    expect(informer.store.size).toBe(3);
    stop.abort();
    await running;
  });

  it("stops when the signal aborts: start resolves and pending waitForSync calls get false", async () => {
    const { api, informer, stop, start } = setup();
    api.listFailures.push(new Error("down"));
    const running = start();
    const waiting = informer.waitForSync(new AbortController().signal);
    await settle();
    stop.abort();
    await running;
    expect(await waiting).toBe(false);
    expect(await informer.waitForSync(new AbortController().signal)).toBe(false);
    await expect(informer.start(stop.signal)).rejects.toThrow(/already started/);
  });

  it("does not start a watch when it was stopped during a list that ignored the abort", async () => {
    const api = new FakeApi();
    let finishList!: () => void;
    const informer = createInformer<Obj>({
      name: "things",
      logger: silentLogger(),
      clock: new FakeClock(),
      list: async () => {
        await new Promise<void>((resolve) => (finishList = resolve));
        return { items: [], resourceVersion: "7" };
      },
      watch: api.watch,
    });
    const stop = new AbortController();
    const running = informer.start(stop.signal);
    await settle();
    stop.abort();
    finishList();
    await running;
    expect(api.watchCalls).toEqual([]);
  });

  it("enqueue handlers turn events into keys only", async () => {
    const { api, informer, stop, start } = setup();
    const queue = createWorkQueue();
    informer.addEventHandler(enqueueObjectKey(queue));
    const mapped = createWorkQueue();
    informer.addEventHandler(
      enqueueMappedKeys<Obj>(mapped, (o) => [`owner/${o.metadata.labels?.owner ?? "none"}`]),
    );
    const running = start();
    await informer.waitForSync(stop.signal);
    api.put("ns", "a", { labels: { owner: "x" } });
    api.put("ns", "a", { labels: { owner: "y" } });
    api.remove("ns", "a");
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe("ns/a");
    expect([await mapped.get(), await mapped.get()]).toEqual(["owner/x", "owner/y"]);
    stop.abort();
    await running;
  });
});
