/** Bounded in-memory caches of the registry client. */

/**
 * Verified bytes by key (scope, registry, repository and digest: never by digest alone, so one
 * registry's answer can never stand in for another's), least recently used first out, within a
 * byte budget.
 */
export class ContentCache {
  readonly #entries = new Map<string, Uint8Array>();
  #bytes = 0;
  constructor(readonly capacity: number) {}

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  get(key: string): Uint8Array | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: Uint8Array): void {
    if (value.byteLength > this.capacity || this.#entries.has(key)) return;
    this.#entries.set(key, value);
    this.#bytes += value.byteLength;
    for (const [key, old] of this.#entries) {
      if (this.#bytes <= this.capacity) break;
      this.#entries.delete(key);
      this.#bytes -= old.byteLength;
    }
  }
}

/** Sets `key` in a map kept to `max` entries, the oldest inserted or refreshed going first. */
export function setBounded<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  for (const old of map.keys()) {
    if (map.size <= max) break;
    map.delete(old);
  }
}
