import type { KubeConfig } from "@kubernetes/client-node";
import { isDeepStrictEqual } from "node:util";
import {
  API_VERSION,
  KIND,
  ModelDeployment,
  parseDuration,
  PLURAL,
  GROUP,
  Reason,
  VERSION,
  type ModelDeploymentStatus,
} from "../api/index.js";
import { OperatorError } from "../errors.js";
import { RegistryError } from "../oci/errors.js";
import { parseReference, type ImageReference } from "../oci/reference.js";
import type { CachedPod } from "../runtime/cached-pod.js";
import type { Clock } from "../runtime/clock.js";
import { TerminalError, type ReconcileResult, type Reconciler } from "../runtime/controller.js";
import { serverSideApply } from "../runtime/kube-client.js";
import type { KubeObject } from "../runtime/kube-object.js";
import { splitObjectKey } from "../runtime/keys.js";
import type { Store } from "../runtime/store.js";
import type { ArtifactCache } from "./artifact-cache.js";
import { CA_BUNDLE_CONFIGMAP, type CaBundlePublisher } from "./ca-bundle.js";
import type { CapabilityProbe } from "./capability-probe.js";
import type { EventRecorder } from "./events.js";
import {
  plan,
  resolveFailure,
  verifiedForGeneration,
  type Observation,
  type ResolveFailure,
} from "./plan.js";
import { countPods, stalePods } from "./pods.js";
import { loadPullSecrets } from "./pull-secrets.js";
import type { RegistryGate } from "./registry-gate.js";
import { decideRollout, isReadyToRoll, rolloutAnnotation, rolloutMessage } from "./rollout.js";
import { annotateTemplate, observeOwningWorkloads } from "./workloads.js";

/** How soon a ModelDeployment blocked on something a person must fix is looked at again. */
const BLOCKED_RECHECK_MS = 60_000;
/** How long one reconcile may spend on the registry (resolve, manifest, config) by default. */
const REGISTRY_TIMEOUT_MS = 30_000;

export interface ModelDeploymentReconcilerOptions {
  readonly kubeConfig: KubeConfig;
  readonly store: Store<KubeObject>;
  readonly artifacts: ArtifactCache;
  readonly capabilities: CapabilityProbe;
  readonly events: EventRecorder;
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
  readonly caBundle?: CaBundlePublisher;
  /**
   * Fairness between registries (registry-gate.ts): a reconcile whose registry is busy or asked
   * for a pause is requeued instead of holding a worker. Absent: no limit.
   */
  readonly registryGate?: RegistryGate;
  /** How long one reconcile may spend on the registry before it counts as a Timeout. Default 30 s. */
  readonly registryTimeoutMs?: number;
  /**
   * Whether `updatePolicy: Rollout` may patch the owning workloads (`run --workload-rollout`).
   * False: stale pods are reported in status and events, never patched. Default true.
   */
  readonly workloadRollout?: boolean;
}

/**
 * Reconciles one ModelDeployment: read it from the informer's store, read its pull secrets by
 * name, resolve and inspect the artifact (shared cache), probe the cluster, `plan` the status,
 * counting the selected pods against the digest (`status.pods`), and write it with server-side
 * apply only when it changed. Then, under `updatePolicy: Rollout`, annotate the pod templates of
 * the workloads owning stale pods (`rollout.ts` decides, `workloads.ts` reads and patches), once
 * the cached status already carries the digest. Level-based and idempotent.
 * Transient registry failures are written to status and then thrown, so the work queue backs off;
 * failures a person must fix are written and re-checked every minute (a secret may appear).
 */
export function createModelDeploymentReconciler(
  options: ModelDeploymentReconcilerOptions,
): Reconciler<string> {
  return async (key, signal, { logger }): Promise<ReconcileResult> => {
    const raw = options.store.get(key);
    if (raw === undefined) return {}; // deleted: nothing to do, nothing we own outlives it
    const parsed = ModelDeployment.safeParse(raw);
    if (!parsed.success)
      throw new TerminalError(
        `ModelDeployment ${key} does not match the v1alpha1 schema: ${parsed.error.message}`,
      );
    const md = parsed.data;
    const { namespace, name } = splitObjectKey(key);
    if (namespace === undefined) throw new TerminalError(`ModelDeployment key ${key} has no namespace`);
    const outcome = await observeArtifact(options, md, namespace, signal);
    if ("deferredMs" in outcome) {
      logger.debug({ requeueAfterMs: outcome.deferredMs }, "registry busy with other reconciles; requeued");
      return { requeueAfterMs: outcome.deferredMs };
    }
    const capabilities = await options.capabilities.get();
    const selected =
      options.podsSynced?.() === false
        ? undefined
        : options.pods?.list({ namespace, labelSelector: md.spec.selector });
    const digest = countedDigest(outcome, md);
    const pods = selected === undefined ? undefined : countPods(selected, name, digest);
    const observation = {
      modelDeployment: md,
      outcome,
      capabilities,
      now: new Date(options.clock.now()),
      ...(pods !== undefined && { pods }),
      ...(options.workloadRollout === false && { workloadRollout: false }),
    };
    let next = plan(observation);
    // InitContainer pods mount the operator's CA bundle: publish it before they can be admitted,
    // and say in status (MountSupported False, so not Ready) when that fails.
    let caBundleFailure: string | undefined;
    if (options.caBundle !== undefined && next.status.strategy === "InitContainer") {
      try {
        await options.caBundle.ensure(namespace, signal);
      } catch (err) {
        const cause = err instanceof Error ? err.message : String(err);
        caBundleFailure = `cannot write the registry CA bundle as ConfigMap ${namespace}/${CA_BUNDLE_CONFIGMAP}, which the pull init containers mount: ${cause}; check that the operator may create ConfigMaps and get and patch this one in the namespace (deploy/rbac.yaml)`;
        next = plan({ ...observation, caBundleFailure });
      }
    }
    if (!isDeepStrictEqual(normalise(md.status), normalise(next.status))) {
      await applyStatus(options.kubeConfig, namespace, name, next.status, signal);
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

    // Roll out only once the cached status (what the webhook reads) carries the digest, so new
    // pods get it: right after a status write the cache is behind, and the write's own watch
    // event brings this key back with it.
    const resolved = next.status.resolved?.digest;
    if (
      selected !== undefined &&
      resolved !== undefined &&
      md.spec.updatePolicy === "Rollout" &&
      options.workloadRollout !== false &&
      md.status?.resolved?.digest === resolved
    ) {
      const stale = stalePods(selected, name, resolved);
      if (stale.length > 0) {
        const annotationKey = rolloutAnnotation(name);
        const owning = await observeOwningWorkloads(options.kubeConfig, namespace, stale, signal);
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
          await annotateTemplate(options.kubeConfig, namespace, w, annotationKey, resolved, signal);
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

    if (caBundleFailure !== undefined) throw new OperatorError("CABundleUnavailable", caBundleFailure); // retried with backoff
    const failure: ResolveFailure | undefined = "failure" in outcome ? outcome.failure : undefined;
    // The registry said when to come back: requeue then instead of sleeping in a worker.
    if (failure?.retryAfterMs !== undefined) return { requeueAfterMs: failure.retryAfterMs };
    if (failure?.transient === true)
      throw new RegistryError("Unreachable", failure.message, { retryable: true });
    const recheck = options.blockedRecheckMs ?? BLOCKED_RECHECK_MS;
    if (failure !== undefined) return { requeueAfterMs: Math.min(recheck, next.requeueAfterMs ?? recheck) };
    return next.requeueAfterMs !== undefined ? { requeueAfterMs: next.requeueAfterMs } : {};
  };
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
): Promise<Observation["outcome"] | { readonly deferredMs: number }> {
  let reference: ImageReference;
  try {
    reference = parseReference(md.spec.model.reference);
  } catch (err) {
    return { failure: resolveFailure("InvalidReference", err instanceof Error ? err.message : String(err)) };
  }
  const secrets = await loadPullSecrets(
    options.kubeConfig,
    namespace,
    (md.spec.model.pullSecrets ?? []).map((s) => s.name),
    signal,
  );
  if ("failure" in secrets) return { failure: secrets.failure };
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

/** Status as compared: JSON round trip, so undefined fields and key order do not count. */
function normalise(status: ModelDeploymentStatus | undefined): unknown {
  return status === undefined ? undefined : JSON.parse(JSON.stringify(status));
}

/** Server-side apply of the status subresource. */
export async function applyStatus(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
  status: ModelDeploymentStatus,
  signal?: AbortSignal,
): Promise<void> {
  await serverSideApply(
    kubeConfig,
    `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}/${name}/status`,
    { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status },
    { signal },
  );
}
