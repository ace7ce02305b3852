/**
 * Label selectors in the `metav1.LabelSelector` shape (what a ModelDeployment's pod selector and
 * client-node's V1LabelSelector look like), matched in memory as the apiserver does. The one
 * place that decides what a selector selects: `compileLabelSelector` turns a selector into a
 * matcher once (the admission hot path keeps it per ModelDeployment version, without per-call
 * `Object.entries` or array scans), and `matchesLabelSelector` is that matcher applied once.
 */

/** One requirement; `operator` is In, NotIn, Exists or DoesNotExist. */
export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

/** All of `matchLabels` and `matchExpressions` must hold (AND). An empty selector matches everything. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** Whether an object's labels are selected; null and undefined labels are no labels. */
export type LabelMatcher = (labels: Readonly<Record<string, string>> | null | undefined) => boolean;

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});
const NOTHING: LabelMatcher = () => false;

/**
 * Compiles `selector` into a matcher; compile once where the same selector meets many label sets.
 * An empty selector matches everything (metav1 semantics; the ModelDeployment schema forbids it,
 * the caller decides). An unknown operator, or In/NotIn without values, matches nothing: the
 * apiserver would have rejected such a selector, so fail closed. Only own properties of the
 * labels count (`toString` is not a label).
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

/**
 * Whether `labels` satisfy `selector`: `compileLabelSelector(selector)(labels)`. For one label
 * set; compile once instead when matching many.
 */
export function matchesLabelSelector(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>> | null | undefined,
): boolean {
  return compileLabelSelector(selector)(labels);
}

/** Whether the selector selects everything (no labels, no expressions). */
export function isEmptyLabelSelector(selector: LabelSelector): boolean {
  return (
    Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0
  );
}
