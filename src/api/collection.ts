import type { z } from "zod";

/**
 * Kubernetes list semantics, said once: each helper marks the list for the CRD
 * (`x-kubernetes-list-type`, which also tells server-side apply how to merge it) and gives zod the
 * uniqueness check the apiserver applies for that list type. Call before `.optional()` and
 * `.describe()`.
 */

/** A list of unique scalars (`x-kubernetes-list-type: set`). */
export function listSet<S extends z.ZodType<readonly (string | number)[]>>(schema: S): S {
  return schema
    .superRefine((items, ctx) => {
      items.forEach((item, index) => {
        const first = items.indexOf(item);
        if (first === index) return;
        ctx.addIssue({
          code: "custom",
          message: `duplicate value ${JSON.stringify(item)} (also at index ${first}); list each value once`,
          params: { rule: "list-set" },
          path: [index],
          input: item,
        });
      });
    })
    .meta({ "x-kubernetes-list-type": "set" });
}

/**
 * A list of objects keyed by `key` (`x-kubernetes-list-type: map`, `x-kubernetes-list-map-keys`):
 * at most one item per key, and server-side apply merges items by key instead of replacing the list.
 */
export function listMap<K extends string, S extends z.ZodType<readonly Readonly<Record<K, string>>[]>>(
  schema: S,
  key: K,
): S {
  return schema
    .superRefine((items, ctx) => {
      const seen = new Map<string, number>();
      items.forEach((item, index) => {
        const value = item[key];
        const first = seen.get(value);
        if (first === undefined) {
          seen.set(value, index);
          return;
        }
        ctx.addIssue({
          code: "custom",
          message: `duplicate ${key} ${JSON.stringify(value)} (also at index ${first}); each ${key} may appear once`,
          params: { rule: "list-map" },
          path: [index, key],
          input: value,
        });
      });
    })
    .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key] });
}

/**
 * A map (`z.record`) with at most `max` keys (`maxProperties`). zod records have no size limit of
 * their own, and the apiserver needs one to bound the cost of CEL rules over the map.
 */
export function maxProperties<S extends z.ZodType<Readonly<Record<string, unknown>>>>(
  schema: S,
  max: number,
): S {
  return schema
    .superRefine((map, ctx) => {
      const size = Object.keys(map).length;
      if (size <= max) return;
      ctx.addIssue({
        code: "custom",
        message: `has ${size} entries; at most ${max} are allowed`,
        params: { rule: "max-properties" },
        input: map,
      });
    })
    .meta({ maxProperties: max });
}
