/**
 * Whether something already in the pod is what the planner would add. The apiserver defaults
 * fields of whatever a webhook adds (an init container gains `terminationMessagePath`, …) and
 * may reorder nothing else, so "the same" means: every field the planner sets has the same
 * value in the pod; fields only the pod has are ignored. Arrays must have the same length and
 * match item by item.
 */
export function matches(wanted: unknown, actual: unknown): boolean {
  if (wanted === undefined) return true;
  if (wanted === null || typeof wanted !== "object") return Object.is(wanted, actual);
  if (actual === null || typeof actual !== "object") return false;
  if (Array.isArray(wanted)) {
    return (
      Array.isArray(actual) &&
      wanted.length === actual.length &&
      wanted.every((w, i) => matches(w, actual[i]))
    );
  }
  if (Array.isArray(actual)) return false;
  return Object.entries(wanted).every(([key, value]) => matches(value, Reflect.get(actual, key)));
}
