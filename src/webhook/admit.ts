/**
 * The admission decision for one AdmissionReview: which ModelDeployments select the pod, whether
 * each can serve it, and the mount patch. Pure apart from reading the informer's store (memory
 * only: no API call per request); the HTTP layer (handler.ts) parses the body and maps errors.
 */
import type { V1Pod } from "@kubernetes/client-node";
import { planMounts } from "../mount/index.js";
import type { InitContainerSettings, MountPlan, MountTarget } from "../mount/types.js";
import type { KubeObject } from "../runtime/kube-object.js";
import type { Store } from "../runtime/store.js";
import {
  AdmissionPod,
  allowed,
  checkedAs,
  denied,
  patched,
  type AdmissionReview,
  type AdmissionReviewResponse,
} from "./admission-review.js";
import { CandidateCache, type Candidate } from "./candidates.js";
import { WebhookRequestError } from "./errors.js";

/** The mount planner's signature (src/mount `planMounts`). */
export type PlanMounts = (
  pod: V1Pod,
  targets: readonly MountTarget[],
  settings: InitContainerSettings,
) => MountPlan;

/** What `admit` reads. */
export interface AdmitContext {
  /** The informer's ModelDeployments (`operator.store`). */
  readonly store: Store<KubeObject>;
  /** How InitContainer pods run the operator's image. */
  readonly settings: InitContainerSettings;
  /** Default: src/mount `planMounts`. */
  readonly planMounts?: PlanMounts;
  /**
   * Compiled ModelDeployments; share one across requests so each object version is parsed once.
   * Default: a fresh cache per call (correct, but parses every candidate every time).
   */
  readonly candidates?: CandidateCache;
}

/**
 * Decides one review. The pod is JSON the apiserver decoded into its typed Pod before sending, so
 * it is Pod-shaped; the fields read here are checked, the planner reads the rest. Pods matching no ModelDeployment in their namespace are allowed unchanged;
 * if any matching ModelDeployment cannot serve the pod (not Ready for its generation, Stalled,
 * MountSupported False, schema-invalid), the pod is denied with every such ModelDeployment's
 * message; otherwise the planner's patch is returned, or its refusal (a conflict) as a denial.
 * Requests that are not a core/v1 Pod CREATE are allowed unchanged (the webhook is registered
 * for pod CREATE only). dryRun requests are decided the same way: there are no side effects.
 * Throws WebhookRequestError `MalformedReview` when the pod does not parse (the server answers 400).
 */
export function admit(review: AdmissionReview, context: AdmitContext): AdmissionReviewResponse {
  const request = review.request;
  const { uid } = request;
  if (request.operation !== "CREATE" || request.kind.kind !== "Pod" || request.kind.group !== "")
    return allowed(uid);
  const parsed = checkedAs(AdmissionPod, request.object);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new WebhookRequestError(
      "MalformedReview",
      `request.object is not a pod${issue === undefined ? "" : ` (at ${issue.path.join(".") || "(root)"}: ${issue.message})`}`,
    );
  }
  const pod = parsed.data;
  const namespace = request.namespace || pod.metadata?.namespace;
  if (!namespace)
    throw new WebhookRequestError("MalformedReview", "the pod CREATE request names no namespace");

  const labels = pod.metadata?.labels;
  const candidates = context.candidates ?? new CandidateCache();
  let matched: Candidate[] | undefined;
  for (const raw of context.store.list({ namespace })) {
    const candidate = candidates.get(raw);
    if (candidate !== undefined && candidate.matches(labels)) (matched ??= []).push(candidate);
  }
  if (matched === undefined) return allowed(uid);
  if (matched.length > 1) matched.sort(byName);

  let refusals: string[] | undefined;
  const targets: MountTarget[] = [];
  for (const candidate of matched) {
    if (candidate.verdict.admit) targets.push(candidate.verdict.target);
    else (refusals ??= []).push(candidate.verdict.message);
  }
  if (refusals !== undefined) return denied(uid, refusals.join("; "));
  const plan = (context.planMounts ?? planMounts)(pod, targets, context.settings);
  return plan.allowed ? patched(uid, plan.patch, plan.warnings) : denied(uid, plan.message);
}

function byName(a: Candidate, b: Candidate): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
