/**
 * The informer's in-memory cache, after client-go's thread-safe store with a namespace index.
 * Readers (reconcilers, the admission webhook) get objects without API calls.
 *
 * Guarantees:
 * - `get`, `list` and `size` see every event the informer has applied, synchronously.
 * - Objects are the informer's own copies: callers must not mutate them (copy first).
 * - Listing by namespace costs O(objects in that namespace), not O(all objects).
 */
import { compileLabelSelector, type LabelSelector } from "./label-selector.js";
import { splitObjectKey, type KubeObjectLike } from "./keys.js";

/** Read access to a cache. */
export interface Store<T> {
  /** The object with this key (`namespace/name`, or `name` for cluster-scoped objects). */
  get(key: string): T | undefined;
  /** Objects in `namespace` (all namespaces if absent) whose labels match `labelSelector` (all if absent). */
  list(options?: { namespace?: string; labelSelector?: LabelSelector }): T[];
  /** Keys of all objects. */
  keys(): string[];
  readonly size: number;
}

/** The writable store the informer owns. */
export class MemoryStore<T extends KubeObjectLike> implements Store<T> {
  /** Invariant: every key is `objectKey(object)` of its object. */
  #objects = new Map<string, T>();
  /** Invariant: namespace → exactly the keys in `#objects` with that namespace ("" for none). */
  #byNamespace = new Map<string, Set<string>>();

  get size(): number {
    return this.#objects.size;
  }

  get(key: string): T | undefined {
    return this.#objects.get(key);
  }

  keys(): string[] {
    return [...this.#objects.keys()];
  }

  list(options: { namespace?: string; labelSelector?: LabelSelector } = {}): T[] {
    const { namespace, labelSelector } = options;
    const result: T[] = [];
    const matches = labelSelector === undefined ? undefined : compileLabelSelector(labelSelector);
    const push = (object: T): void => {
      if (!matches || matches(object.metadata?.labels)) result.push(object);
    };
    if (namespace === undefined) {
      for (const object of this.#objects.values()) push(object);
    } else {
      for (const key of this.#byNamespace.get(namespace) ?? []) push(this.#objects.get(key)!);
    }
    return result;
  }

  /** Inserts or replaces; returns the previous object. */
  set(key: string, object: T): T | undefined {
    const previous = this.#objects.get(key);
    this.#objects.set(key, object);
    if (!previous) {
      const namespace = splitObjectKey(key).namespace ?? "";
      let keys = this.#byNamespace.get(namespace);
      if (!keys) this.#byNamespace.set(namespace, (keys = new Set()));
      keys.add(key);
    }
    return previous;
  }

  /** Removes; returns the removed object. */
  delete(key: string): T | undefined {
    const previous = this.#objects.get(key);
    if (!previous) return undefined;
    this.#objects.delete(key);
    const namespace = splitObjectKey(key).namespace ?? "";
    const keys = this.#byNamespace.get(namespace);
    keys?.delete(key);
    if (keys?.size === 0) this.#byNamespace.delete(namespace);
    return previous;
  }

  entries(): IterableIterator<[string, T]> {
    return this.#objects.entries();
  }
}
