/**
 * Label selectors in the `metav1.LabelSelector` shape (what a ModelDeployment's pod selector and
 * client-node's V1LabelSelector look like), matched in memory as the apiserver does.
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

/**
 * Whether `labels` satisfy `selector`. An unknown operator, or In/NotIn without values, matches
 * nothing (the apiserver would have rejected such a selector; we fail closed).
 */
export function matchesLabelSelector(
  selector: LabelSelector,
  labels: Record<string, string> | undefined,
): boolean {
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (have[key] !== value) return false;
  }
  for (const requirement of selector.matchExpressions ?? []) {
    if (!matchesRequirement(requirement, have)) return false;
  }
  return true;
}

function matchesRequirement(requirement: LabelSelectorRequirement, labels: Record<string, string>): boolean {
  const present = Object.hasOwn(labels, requirement.key);
  const values = requirement.values ?? [];
  switch (requirement.operator) {
    case "In":
      return values.length > 0 && present && values.includes(labels[requirement.key]!);
    case "NotIn":
      return values.length > 0 && (!present || !values.includes(labels[requirement.key]!));
    case "Exists":
      return present;
    case "DoesNotExist":
      return !present;
    default:
      return false;
  }
}

/** Whether the selector selects everything (no labels, no expressions). */
export function isEmptyLabelSelector(selector: LabelSelector): boolean {
  return (
    Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0
  );
}
