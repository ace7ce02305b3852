import { isDeepStrictEqual } from "node:util";
import { API_VERSION, KIND, ModelDeployment, parseDuration, Reason } from "../api/index.js";
import { viaJson } from "../api/json.js";
import { OperatorError } from "../errors.js";
import { RegistryError } from "../oci/errors.js";
import { parseReference, type ImageReference } from "../oci/reference.js";
import type { CachedPod } from "../runtime/cached-pod.js";
import type { Clock } from "../runtime/clock.js";
import { TerminalError, type ReconcileResult, type Reconciler } from "../runtime/controller.js";
import type { KubeObject } from "../runtime/kube-object.js";
import type { Logger } from "../runtime/logger.js";
import { splitObjectKey } from "../runtime/keys.js";
import type { Store } from "../runtime/store.js";
import type { ArtifactCache, LookupCredentials } from "./artifact-cache.js";
import { CA_BUNDLE_CONFIGMAP, type CaBundlePublisher } from "./ca-bundle.js";
import type { CapabilityProbe } from "./capability-probe.js";
import type { EventRecorder, EventSubject } from "./events.js";
import type { VariantFinder, VariantObservation } from "./image-variant.js";
import type { ControllerKubeApi } from "./kube-api.js";
import {
  plan,
  resolveFailure,
  verifiedForGeneration,
  type Observation,
  type Plan,
  type ResolveFailure,
} from "./plan.js";
import { variantRecheck, wantsImageVariant } from "./plan-image-variant.js";
import { countPods, stalePods } from "./pods.js";
import { loadPullSecrets } from "./pull-secrets.js";
import type { RegistryGate } from "./registry-gate.js";
import { decideRollout, isReadyToRoll, rolloutAnnotation, rolloutMessage } from "./rollout.js";
import type { ModelVerifier, VerificationObservation } from "./verification.js";
import { annotateTemplate, observeOwningWorkloads } from "./workloads.js";

/** How soon a ModelDeployment blocked on something a person must fix is looked at again. */
const BLOCKED_RECHECK_MS = 60_000;
/** How long one reconcile may spend on the registry (resolve, manifest, config) by default. */
const REGISTRY_TIMEOUT_MS = 30_000;

export interface ModelDeploymentReconcilerOptions {
  /** Secrets, status, workloads (controllerKubeApi over a KubeConfig; tests pass a fake). */
  readonly kube: ControllerKubeApi;
  readonly store: Store<KubeObject>;
  readonly artifacts: Pick<ArtifactCache, "cached" | "inspect">;
  readonly capabilities: Pick<CapabilityProbe, "get">;
  readonly events: Pick<EventRecorder, "record">;
  readonly clock: Clock;
  /** How soon a ModelDeployment blocked on something a person must fix is checked again. Default 60 s. */
  readonly blockedRecheckMs?: number;
  /**
   * The pod informer's cache (the watched namespaces). With it, `status.pods` is counted and
   * `updatePolicy: Rollout` restarts the owners of stale pods; without it, both are left alone.
   */
  readonly pods?: Store<CachedPod>;
  /**
   * Whether `pods` holds its initial list. Until then reconciles leave `status.pods` as it was
   * and start no rollout, instead of counting a half-listed cache. Default: always.
   */
  readonly podsSynced?: () => boolean;
  /**
   * The operator's registry CA bundle, published into the namespace of every ModelDeployment
   * that pulls with an init container (which mounts it) before its status can say Ready.
   */
  readonly caBundle?: Pick<CaBundlePublisher, "ensure">;
  /**
   * Fairness between registries (registry-gate.ts): a reconcile whose registry is busy or asked
   * for a pause is requeued instead of holding a worker. Absent: no limit.
   */
  readonly registryGate?: Pick<RegistryGate, "enter" | "throttle">;
  /** How long one reconcile may spend on the registry before it counts as a Timeout. Default 30 s. */
  readonly registryTimeoutMs?: number;
  /**
   * Whether `updatePolicy: Rollout` may patch the owning workloads (`run --workload-rollout`).
   * False: stale pods are reported in status and events, never patched. Default true.
   */
  readonly workloadRollout?: boolean;
  /**
   * The signature step (verification.ts): where spec.model.verify or the operator's verification
   * policy applies, a digest is verified before status can say Ready (and pods get it).
   * Absent: signatures are never checked.
   */
  readonly verification?: ModelVerifier;
  /**
   * The image-variant step (image-variant.ts): where some node cannot mount the artifact, its
   * image variant (publish-image) is looked for and, when it matches, mounted instead. Absent:
   * variants are never looked for.
   */
  readonly imageVariants?: Pick<VariantFinder, "find">;
}

/** What `observe` read for one ModelDeployment: the plan's input and what acting needs. */
export interface Observed {
  readonly modelDeployment: ModelDeployment;
  readonly namespace: string;
  readonly name: string;
  readonly observation: Observation;
  /** The selected pods; undefined when pods are not watched or not listed yet. */
  readonly selected: readonly CachedPod[] | undefined;
}

/**
 * Reconciles one ModelDeployment as observe → plan → act, then `nextStep` decides what the work
 * queue does with the key:
 * - `observe` reads it from the informer's store, reads its pull secrets by name, resolves and
 *   inspects the artifact (shared cache), probes the cluster and counts the selected pods
 *   against the digest (`status.pods`);
 * - `plan` (plan.ts, pure) computes the status and events;
 * - `act` publishes the CA bundle an InitContainer pull mounts, writes the status with
 *   server-side apply only when it changed, records the events and, under `updatePolicy:
 *   Rollout`, annotates the pod templates of the workloads owning stale pods (`rollout.ts`
 *   decides, `workloads.ts` reads and patches), once the cached status already carries the digest.
 * Level-based and idempotent. Transient registry failures are written to status and then thrown,
 * so the work queue backs off; failures a person must fix are written and re-checked every minute
 * (a secret may appear).
 */
export function createModelDeploymentReconciler(
  options: ModelDeploymentReconcilerOptions,
): Reconciler<string> {
  return async (key, signal, { logger }): Promise<ReconcileResult> => {
    const observed = await observe(options, key, signal);
    if (observed === undefined) return {}; // deleted: nothing to do, nothing we own outlives it
    if ("deferredMs" in observed) {
      logger.debug({ requeueAfterMs: observed.deferredMs }, "registry busy with other reconciles; requeued");
      return { requeueAfterMs: observed.deferredMs };
    }
    const acted = await act(options, observed, plan(observed.observation), signal, logger);
    const next = nextStep({
      outcome: observed.observation.outcome,
      ...(observed.observation.verification !== undefined && {
        verification: observed.observation.verification,
      }),
      plan: acted.plan,
      ...(acted.caBundleFailure !== undefined && { caBundleFailure: acted.caBundleFailure }),
      blockedRecheckMs: options.blockedRecheckMs ?? BLOCKED_RECHECK_MS,
    });
    if (next instanceof Error) throw next;
    return variantRecheck(next, acted.plan.status.imageVariant);
  };
}

/**
 * Every read of one reconcile: the ModelDeployment (undefined: deleted), its artifact (or why
 * not), the cluster's capabilities and the selected pods. `deferredMs`: the registry is busy with
 * other reconciles, come back then. Throws TerminalError for an object that cannot be served.
 */
export async function observe(
  options: ModelDeploymentReconcilerOptions,
  key: string,
  signal: AbortSignal,
): Promise<Observed | { readonly deferredMs: number } | undefined> {
  const raw = options.store.get(key);
  if (raw === undefined) return undefined;
  const parsed = ModelDeployment.safeParse(raw);
  if (!parsed.success)
    throw new TerminalError(
      `ModelDeployment ${key} does not match the v1alpha1 schema: ${parsed.error.message}`,
    );
  const md = parsed.data;
  const { namespace, name } = splitObjectKey(key);
  if (namespace === undefined) throw new TerminalError(`ModelDeployment key ${key} has no namespace`);
  const seen: ArtifactContext = {};
  const outcome = await observeArtifact(options, md, namespace, signal, seen);
  if ("deferredMs" in outcome) return outcome;
  const verification = await observeVerification(options, md, namespace, outcome, seen, signal);
  const capabilities = await options.capabilities.get();
  const imageVariant = await observeImageVariant(
    options,
    md,
    namespace,
    outcome,
    capabilities,
    verification,
    seen,
    signal,
  );
  const selected =
    options.podsSynced?.() === false
      ? undefined
      : options.pods?.list({ namespace, labelSelector: md.spec.selector });
  const digest = countedDigest(outcome, md);
  const pods = selected === undefined ? undefined : countPods(selected, name, digest);
  return {
    modelDeployment: md,
    namespace,
    name,
    selected,
    observation: {
      modelDeployment: md,
      outcome,
      capabilities,
      now: new Date(options.clock.now()),
      ...(pods !== undefined && { pods }),
      ...(options.workloadRollout === false && { workloadRollout: false }),
      ...(verification !== undefined && { verification }),
      ...(imageVariant !== undefined && { imageVariant }),
    },
  };
}

/**
 * The image-variant step: undefined when no finder is configured or a variant could not change
 * the decision; else what the look-up found and, where signatures are required, the verdict on
 * the variant's own digest (a variant is used only where the policy is satisfied for it too).
 */
async function observeImageVariant(
  options: ModelDeploymentReconcilerOptions,
  md: ModelDeployment,
  namespace: string,
  outcome: Observation["outcome"],
  capabilities: Observation["capabilities"],
  verification: VerificationObservation | undefined,
  seen: ArtifactContext,
  signal: AbortSignal,
): Promise<VariantObservation | undefined> {
  const { reference, credentials } = seen;
  if (options.imageVariants === undefined || reference === undefined || credentials === undefined)
    return undefined;
  if (!("inspection" in outcome)) return undefined;
  const inspection = outcome.inspection;
  const manifest = inspection.manifest;
  if (manifest === undefined || !wantsImageVariant(md, capabilities, inspection)) return undefined;
  const deadline = AbortSignal.any([
    signal,
    AbortSignal.timeout(options.registryTimeoutMs ?? REGISTRY_TIMEOUT_MS),
  ]);
  const found = await options.imageVariants.find(
    reference,
    { digest: inspection.digest, manifest },
    credentials,
    deadline,
  );
  if (
    verification === undefined ||
    options.verification === undefined ||
    !("found" in found) ||
    found.found.problems.length > 0
  )
    return { outcome: found };
  const pinned = {
    registry: reference.registry,
    repository: reference.repository,
    digest: found.found.digest,
  };
  const verdict = await options.verification.observe(md, namespace, reference, pinned, credentials, deadline);
  const signed = verdict !== undefined && "verified" in verdict.outcome;
  const message =
    verdict !== undefined && "failure" in verdict.outcome ? verdict.outcome.failure.message : "not verified";
  return { outcome: found, signature: signed ? { verified: true } : { verified: false, message } };
}

/** What observeArtifact learnt on the way that the signature step needs. */
interface ArtifactContext {
  reference?: ImageReference;
  credentials?: LookupCredentials;
}

/**
 * The signature step: undefined when no verifier is configured, the reference did not parse or
 * its secrets could not be read, or nothing requires signatures. Signatures are read within the
 * registry deadline.
 */
async function observeVerification(
  options: ModelDeploymentReconcilerOptions,
  md: ModelDeployment,
  namespace: string,
  outcome: Observation["outcome"],
  seen: ArtifactContext,
  signal: AbortSignal,
): Promise<VerificationObservation | undefined> {
  const { reference, credentials } = seen;
  if (options.verification === undefined || reference === undefined || credentials === undefined)
    return undefined;
  const pinned =
    "inspection" in outcome
      ? { registry: reference.registry, repository: reference.repository, digest: outcome.inspection.digest }
      : undefined;
  const deadline = AbortSignal.timeout(options.registryTimeoutMs ?? REGISTRY_TIMEOUT_MS);
  return options.verification.observe(
    md,
    namespace,
    reference,
    pinned,
    credentials,
    AbortSignal.any([signal, deadline]),
  );
}

/**
 * Every write of one reconcile, in order: the CA bundle (InitContainer pods mount it: published
 * before they can be admitted; on failure the plan is made again with `caBundleFailure`, so status
 * says MountSupported False, not Ready), the status when it changed, the plan's events, and the
 * rollout. Returns the plan as finally written and the CA bundle failure, if any.
 */
export async function act(
  options: ModelDeploymentReconcilerOptions,
  observed: Observed,
  planned: Plan,
  signal: AbortSignal,
  logger: Logger,
): Promise<{ readonly plan: Plan; readonly caBundleFailure?: string }> {
  const { modelDeployment: md, namespace, name } = observed;
  let next = planned;
  let caBundleFailure: string | undefined;
  if (options.caBundle !== undefined && next.status.strategy === "InitContainer") {
    try {
      await options.caBundle.ensure(namespace, signal);
    } catch (err) {
      const cause = err instanceof Error ? err.message : String(err);
      caBundleFailure = `cannot write the registry CA bundle as ConfigMap ${namespace}/${CA_BUNDLE_CONFIGMAP}, which the pull init containers mount: ${cause}; check that the operator may create ConfigMaps and get and patch this one in the namespace (deploy/rbac.yaml)`;
      next = plan({ ...observed.observation, caBundleFailure });
    }
  }
  // compared as JSON: undefined fields do not count
  if (!isDeepStrictEqual(viaJson(md.status), viaJson(next.status))) {
    await options.kube.applyStatus(namespace, name, next.status, signal);
    logger.info(
      {
        reference: md.spec.model.reference,
        digest: next.status.resolved?.digest,
        strategy: next.status.strategy,
      },
      "status updated",
    );
  }
  const subject = {
    apiVersion: API_VERSION,
    kind: KIND,
    namespace,
    name,
    ...(md.metadata.uid !== undefined && { uid: md.metadata.uid }),
  };
  await Promise.all(next.events.map((e) => options.events.record(subject, e.type, e.reason, e.message)));

  const resolved = rolloutDigest({
    modelDeployment: md,
    plan: next,
    podsKnown: observed.selected !== undefined,
    workloadRollout: options.workloadRollout !== false,
  });
  if (observed.selected !== undefined && resolved !== undefined)
    await rollOut(options, observed, observed.selected, next, resolved, subject, signal, logger);
  return { plan: next, ...(caBundleFailure !== undefined && { caBundleFailure }) };
}

/**
 * Restarts the workloads owning pods that mount another digest than `resolved` (read by name and
 * trusted only when they match the pods: workloads.ts), as `decideRollout` says, and records it.
 */
async function rollOut(
  options: ModelDeploymentReconcilerOptions,
  observed: Observed,
  selected: readonly CachedPod[],
  next: Plan,
  resolved: string,
  subject: EventSubject,
  signal: AbortSignal,
  logger: Logger,
): Promise<void> {
  const { modelDeployment: md, namespace, name } = observed;
  const stale = stalePods(selected, name, resolved);
  if (stale.length > 0) {
    const annotationKey = rolloutAnnotation(name);
    const owning = await observeOwningWorkloads(options.kube, namespace, stale, signal);
    if (owning.refused.length > 0)
      logger.warn(
        { refused: owning.refused },
        "pods name owners that are not theirs; those are not restarted",
      );
    const decision = decideRollout({
      updatePolicy: md.spec.updatePolicy,
      // Both what the webhook sees now and what this reconcile decided must admit pods.
      readyToRoll:
        isReadyToRoll(md.status?.conditions, md.metadata.generation ?? 0) &&
        isReadyToRoll(next.status.conditions, md.metadata.generation ?? 0),
      annotationKey,
      digest: resolved,
      workloads: owning.workloads,
    });
    for (const w of decision.restart)
      await annotateTemplate(options.kube, namespace, w, annotationKey, resolved, signal);
    if (decision.restart.length > 0) {
      logger.info(
        { digest: resolved, workloads: decision.restart.map((w) => `${w.kind}/${w.name}`) },
        "rollout started",
      );
      await options.events.record(
        subject,
        "Normal",
        Reason.RollingOut,
        rolloutMessage(decision.restart, resolved),
      );
    }
  }
}

/**
 * The digest to roll stale pods to, or undefined when no rollout is considered (pure): pods are
 * known, a digest was resolved, `updatePolicy: Rollout` may patch workloads, and the cached
 * status (what the webhook reads) already carries the digest, so new pods get it. Right after a
 * status write the cache is behind, and the write's own watch event brings the key back with it.
 */
export function rolloutDigest(input: {
  readonly modelDeployment: ModelDeployment;
  readonly plan: Plan;
  readonly podsKnown: boolean;
  readonly workloadRollout: boolean;
}): string | undefined {
  const md = input.modelDeployment;
  const resolved = input.plan.status.resolved?.digest;
  if (!input.podsKnown || resolved === undefined) return undefined;
  if (md.spec.updatePolicy !== "Rollout" || !input.workloadRollout) return undefined;
  return md.status?.resolved?.digest === resolved ? resolved : undefined;
}

/**
 * What the work queue does with the key after acting (pure): an error to throw (retried with
 * backoff) or a result. A CA bundle that could not be written is retried; a registry that said
 * when to come back (Retry-After) is asked then; a transient registry failure is retried with
 * backoff; a failure a person must fix is re-checked within `blockedRecheckMs`; otherwise the
 * plan's refresh interval applies.
 */
export function nextStep(input: {
  readonly outcome: Observation["outcome"];
  readonly verification?: VerificationObservation;
  readonly plan: Pick<Plan, "requeueAfterMs">;
  readonly caBundleFailure?: string;
  readonly blockedRecheckMs: number;
}): ReconcileResult | Error {
  if (input.caBundleFailure !== undefined)
    return new OperatorError("CABundleUnavailable", input.caBundleFailure);
  const failure: ResolveFailure | undefined = "failure" in input.outcome ? input.outcome.failure : undefined;
  if (failure?.retryAfterMs !== undefined) return { requeueAfterMs: failure.retryAfterMs };
  if (failure?.transient === true)
    return new RegistryError("Unreachable", failure.message, { retryable: true });
  const recheck = input.blockedRecheckMs;
  if (failure !== undefined)
    return { requeueAfterMs: Math.min(recheck, input.plan.requeueAfterMs ?? recheck) };
  // A signature that is missing or wrong may be pushed or fixed: looked at again like a blocked step.
  const unverified =
    input.verification !== undefined && "failure" in input.verification.outcome
      ? input.verification.outcome.failure
      : undefined;
  if (unverified?.transient === true)
    return new RegistryError("Unreachable", unverified.message, { retryable: true });
  if (unverified !== undefined)
    return { requeueAfterMs: Math.min(recheck, input.plan.requeueAfterMs ?? recheck) };
  return input.plan.requeueAfterMs !== undefined ? { requeueAfterMs: input.plan.requeueAfterMs } : {};
}

/**
 * Parses the reference, reads the pull secrets and inspects the artifact (shared cache), within
 * the registry deadline and the registry gate. `deferredMs`: the registry is busy with other
 * reconciles; nothing was observed, come back then.
 */
async function observeArtifact(
  options: ModelDeploymentReconcilerOptions,
  md: ModelDeployment,
  namespace: string,
  signal: AbortSignal,
  seen: ArtifactContext,
): Promise<Observation["outcome"] | { readonly deferredMs: number }> {
  let reference: ImageReference;
  try {
    reference = parseReference(md.spec.model.reference);
  } catch (err) {
    return { failure: resolveFailure("InvalidReference", err instanceof Error ? err.message : String(err)) };
  }
  const secrets = await loadPullSecrets(
    options.kube,
    namespace,
    (md.spec.model.pullSecrets ?? []).map((s) => s.name),
    signal,
  );
  if ("failure" in secrets) return { failure: secrets.failure };
  seen.reference = reference;
  seen.credentials = secrets.credentials;
  const refreshMs = parseDuration(md.spec.model.refreshInterval) ?? 0;
  // A tag is trusted for its refresh interval (0: resolved once); a digest never changes.
  const maxAgeMs = refreshMs === 0 ? Infinity : refreshMs;
  // What the cache holds needs no registry, whatever the registry's state.
  const cached = options.artifacts.cached(reference, secrets.credentials, maxAgeMs);
  if (cached !== undefined) return { inspection: cached };
  const gate = options.registryGate?.enter(reference.registry);
  if (gate?.enter === false) {
    if (gate.reason === "busy") return { deferredMs: gate.retryAfterMs };
    const until = new Date(gate.until).toISOString().replace(/\.\d{3}Z$/, "Z");
    return {
      failure: resolveFailure(
        "RateLimited",
        `registry ${reference.registry} asked for a pause (429/503 with Retry-After) until ${until}; it is not asked again before then`,
        gate.retryAfterMs / 1000,
      ),
    };
  }
  const timeoutMs = options.registryTimeoutMs ?? REGISTRY_TIMEOUT_MS;
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    return {
      inspection: await options.artifacts.inspect(
        reference,
        secrets.credentials,
        maxAgeMs,
        AbortSignal.any([signal, deadline]),
      ),
    };
  } catch (err) {
    if (deadline.aborted && !signal.aborted) {
      return {
        failure: resolveFailure(
          "Timeout",
          `registry ${reference.registry} did not finish resolving ${md.spec.model.reference} within ${timeoutMs / 1000} s; retrying with backoff`,
        ),
      };
    }
    if (!(err instanceof RegistryError)) throw err;
    if (err.retryAfterSeconds !== undefined)
      options.registryGate?.throttle(reference.registry, err.retryAfterSeconds * 1000);
    return { failure: resolveFailure(err.code, err.message, err.retryAfterSeconds) };
  } finally {
    if (gate?.enter === true) gate.release();
  }
}

/**
 * The digest pods are counted against: the one just resolved; the last good one while the
 * registry is unreachable (status keeps it); none after a failure a person must fix.
 */
function countedDigest(outcome: Observation["outcome"], md: ModelDeployment): string | undefined {
  if ("inspection" in outcome) return outcome.inspection.digest;
  const previous = md.status?.resolved?.digest;
  if (verifiedForGeneration(md.status, md.metadata.generation ?? 0)) return previous;
  return outcome.failure.transient ? previous : undefined;
}
