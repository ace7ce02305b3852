/**
 * Derives the summary conditions — Ready, Reconciling, Stalled — from the step conditions, the
 * kstatus way (kubernetes-sigs/cli-utils pkg/kstatus): a tool that knows nothing about
 * ModelDeployments (kstatus, Flux, Argo CD with a generic health check, `kubectl wait`) reads
 * Ready for "done", Reconciling for "in progress" and Stalled for "blocked until someone acts".
 */
import {
  ConditionType,
  isTerminalReason,
  Reason,
  removeCondition,
  setCondition,
  STEP_CONDITION_TYPES,
  type ConditionUpdate,
} from "./conditions.js";
import type { Condition, PodCounts, UpdatePolicy } from "./v1alpha1.js";

export interface SummaryInput {
  /** The metadata.generation this reconcile observed. */
  readonly generation: number;
  /** The conditions after this reconcile set the step conditions (Resolved, Validated, MountSupported). */
  readonly conditions: readonly Condition[] | undefined;
  /** The selected pods, when the operator has counted them. */
  readonly pods?: PodCounts | undefined;
  readonly updatePolicy: UpdatePolicy;
  /**
   * The digest in status.resolved was verified for this generation and stays in service although
   * the last refresh failed: a False Resolved (or Verified, for a new digest) condition then does
   * not hold back Ready.
   */
  readonly servingVerifiedDigest?: boolean;
  /**
   * Whether signatures are required (spec.model.verify or the operator's verification policy):
   * then Verified is a step Ready waits for. Default false.
   */
  readonly verificationRequired?: boolean;
  /**
   * Whether the operator may restart the owners of stale pods (`run --workload-rollout`). False:
   * under updatePolicy Rollout stale pods do not hold back Ready (nothing would replace them);
   * the Ready message says who must. Default true.
   */
  readonly workloadRollout?: boolean;
}

/** The summary conditions; an absent Reconciling or Stalled means the condition is removed. */
export interface Summary {
  readonly ready: ConditionUpdate;
  readonly reconciling?: ConditionUpdate;
  readonly stalled?: ConditionUpdate;
}

/** A step that is not done: blocked until someone acts, or waiting for the operator or time. */
interface Unfinished {
  readonly state: "blocked" | "waiting";
  readonly reason: string;
  readonly message: string;
}
/** What one step condition means for the summary. */
type Step = { readonly state: "done" } | Unfinished;

/**
 * Decides the summary. In order of precedence:
 * 0. with `servingVerifiedDigest`, Resolved and Verified count as done whatever they say (a failed
 *    refresh of a digest verified for this generation, or a moved tag whose new digest failed
 *    verification; the conditions themselves still show the failure); with
 *    `verificationRequired`, Verified is a step after Resolved;
 * 1. a step is False with a terminal reason → Stalled True and Ready False, both with that reason
 *    (the first such step in Resolved, Validated, MountSupported order); no Reconciling, because
 *    kstatus reads Reconciling before Stalled;
 * 2. a step is missing, Unknown, False with a transient reason, or observed for an older
 *    generation → Reconciling True and Ready False with that step's reason (Progressing for a
 *    missing or stale one);
 * 3. updatePolicy Rollout and some selected pods mount an earlier digest → Reconciling True and
 *    Ready False, reason RollingOut;
 * 4. otherwise Ready True, reason Ready.
 * Every condition it returns carries `generation` as observedGeneration.
 */
export function deriveSummary(input: SummaryInput): Summary {
  const { generation } = input;
  const at = (update: Omit<ConditionUpdate, "observedGeneration">): ConditionUpdate => ({
    ...update,
    observedGeneration: generation,
  });
  const types: readonly string[] =
    input.verificationRequired === true
      ? [ConditionType.Resolved, ConditionType.Verified, ...STEP_CONDITION_TYPES.slice(1)]
      : STEP_CONDITION_TYPES;
  const steps = types.map((type) =>
    (type === ConditionType.Resolved || type === ConditionType.Verified) &&
    input.servingVerifiedDigest === true
      ? { state: "done" as const }
      : classify(input.conditions, type, generation),
  );

  const blocked = steps.find((s): s is Unfinished => s.state === "blocked");
  if (blocked !== undefined) {
    const cause = { reason: blocked.reason, message: blocked.message };
    return {
      ready: at({ type: ConditionType.Ready, status: "False", ...cause }),
      stalled: at({ type: ConditionType.Stalled, status: "True", ...cause }),
    };
  }
  const waiting = steps.find((s): s is Unfinished => s.state === "waiting");
  if (waiting !== undefined) {
    const cause = { reason: waiting.reason, message: waiting.message };
    return {
      ready: at({ type: ConditionType.Ready, status: "False", ...cause }),
      reconciling: at({ type: ConditionType.Reconciling, status: "True", ...cause }),
    };
  }
  const { pods } = input;
  const rollsOut = input.updatePolicy === "Rollout" && input.workloadRollout !== false;
  if (rollsOut && pods !== undefined && pods.stale > 0) {
    const cause = {
      reason: Reason.RollingOut,
      message:
        `${pods.stale} of ${pods.matched} selected pods still mount an earlier digest or none; ` +
        "their owners are being rolled out",
    };
    return {
      ready: at({ type: ConditionType.Ready, status: "False", ...cause }),
      reconciling: at({ type: ConditionType.Reconciling, status: "True", ...cause }),
    };
  }
  return {
    ready: at({
      type: ConditionType.Ready,
      status: "True",
      reason: Reason.Ready,
      message: readyMessage(
        pods,
        input.servingVerifiedDigest === true ? input.conditions : undefined,
        input.updatePolicy === "Rollout" && !rollsOut,
      ),
    }),
  };
}

/**
 * Applies deriveSummary to the conditions: sets Ready, sets or removes Reconciling and Stalled
 * (setCondition's rules for lastTransitionTime apply), and leaves every other condition as it was.
 */
export function summarize(input: SummaryInput, now: Date): Condition[] {
  const summary = deriveSummary(input);
  let conditions = setCondition(input.conditions, summary.ready, now);
  for (const [type, update] of [
    [ConditionType.Reconciling, summary.reconciling],
    [ConditionType.Stalled, summary.stalled],
  ] as const) {
    conditions =
      update === undefined ? removeCondition(conditions, type) : setCondition(conditions, update, now);
  }
  return conditions;
}

function classify(conditions: readonly Condition[] | undefined, type: string, generation: number): Step {
  const condition = conditions?.find((c) => c.type === type);
  if (condition === undefined) {
    return { state: "waiting", reason: Reason.Progressing, message: `${type}: not checked yet` };
  }
  if (condition.observedGeneration !== undefined && condition.observedGeneration < generation) {
    return {
      state: "waiting",
      reason: Reason.Progressing,
      message: `${type}: last checked for generation ${condition.observedGeneration}, not yet for ${generation}`,
    };
  }
  const cause = { reason: condition.reason, message: `${type}: ${condition.message}` };
  if (condition.status === "True") return { state: "done" };
  if (condition.status === "False" && isTerminalReason(condition.reason))
    return { state: "blocked", ...cause };
  return { state: "waiting", ...cause };
}

function readyMessage(
  pods: PodCounts | undefined,
  failedRefresh: readonly Condition[] | undefined,
  rolloutDisabled: boolean,
): string {
  const failed = failedRefresh?.find(
    (c) => (c.type === ConditionType.Resolved || c.type === ConditionType.Verified) && c.status !== "True",
  );
  const base =
    failed === undefined
      ? "the model is resolved, valid and mountable"
      : `the verified model stays in service although its last refresh failed (${failed.type}: ${failed.reason})`;
  if (pods === undefined) return base;
  const kept =
    pods.stale === 0
      ? ""
      : rolloutDisabled
        ? `; ${pods.stale} keep an earlier digest or none: updatePolicy Rollout needs the operator's permission to patch workloads, which this installation did not grant (run --workload-rollout, chart value rollout.enabled); restart their workloads to update them`
        : `; ${pods.stale} keep an earlier digest (updatePolicy Pinned)`;
  return `${base}; ${pods.current} of ${pods.matched} selected pods mount it${kept}`;
}
