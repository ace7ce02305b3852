/**
 * Memoisation for the admission hot path. The webhook hands the planner the same MountTarget
 * object for every pod of one ModelDeployment version (its candidate cache builds one per
 * version), so whatever depends only on the target and the settings — checking it, its names,
 * its volumes, mounts and init container — is worked out once per version, and each pod only
 * costs planning against the pod itself. Keys are the objects themselves (WeakMap), so nothing
 * is kept alive and a changed target or settings object is simply a new key.
 */

/** `compute(key, settings)`, remembered per (key object, settings object). */
export function memoPerObject<K extends object, S extends object, V>(
  compute: (key: K, settings: S) => V,
): (key: K, settings: S) => V {
  const cache = new WeakMap<K, { readonly settings: S; readonly value: V }>();
  return (key, settings) => {
    const hit = cache.get(key);
    if (hit !== undefined && hit.settings === settings) return hit.value;
    const value = deepFreeze(compute(key, settings));
    cache.set(key, { settings, value });
    return value;
  };
}

/**
 * `compute(text)`, remembered for the most recent distinct inputs (at most `limit`; the cache
 * starts over when full, which keeps it bounded whatever names a cluster uses).
 */
export function memoPerString<V>(compute: (text: string) => V, limit = 4096): (text: string) => V {
  const cache = new Map<string, V>();
  return (text) => {
    let value = cache.get(text);
    if (value === undefined) {
      value = compute(text);
      if (cache.size >= limit) cache.clear();
      cache.set(text, value);
    }
    return value;
  };
}

/**
 * Freezes a memoised value and everything inside it: the same objects end up in many pods'
 * patches, so a caller that modified one would change other pods' plans.
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}
