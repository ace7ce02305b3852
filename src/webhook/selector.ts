/**
 * Label selectors compiled once into a matcher, for the admission hot path: the same semantics
 * as `matchesLabelSelector` (src/runtime/label-selector.ts; the tests check both agree), without
 * its per-call `Object.entries` and array scans.
 */
import type { LabelSelector } from "../runtime/label-selector.js";

/** Whether a pod's labels are selected. */
export type LabelMatcher = (labels: Readonly<Record<string, string>> | null | undefined) => boolean;

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});
const NOTHING: LabelMatcher = () => false;

/**
 * Compiles `selector`. An empty selector matches every pod (metav1 semantics; the ModelDeployment
 * schema forbids it, the caller decides). An unknown operator, or In/NotIn without values,
 * matches nothing: the apiserver would have rejected such a selector, so fail closed.
 */
export function compileLabelSelector(selector: LabelSelector): LabelMatcher {
  const equal: [string, string][] = Object.entries(selector.matchLabels ?? {});
  const checks: ((labels: Readonly<Record<string, string>>) => boolean)[] = [];
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const set = new Set(values);
    switch (operator) {
      case "In":
        if (set.size === 0) return NOTHING;
        checks.push((labels) => Object.hasOwn(labels, key) && set.has(labels[key]!));
        break;
      case "NotIn":
        if (set.size === 0) return NOTHING;
        checks.push((labels) => !Object.hasOwn(labels, key) || !set.has(labels[key]!));
        break;
      case "Exists":
        checks.push((labels) => Object.hasOwn(labels, key));
        break;
      case "DoesNotExist":
        checks.push((labels) => !Object.hasOwn(labels, key));
        break;
      default:
        return NOTHING;
    }
  }
  return (given) => {
    const labels = given ?? EMPTY;
    for (let i = 0; i < equal.length; i++) {
      const [key, value] = equal[i]!;
      if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
    }
    for (let i = 0; i < checks.length; i++) if (!checks[i]!(labels)) return false;
    return true;
  };
}
