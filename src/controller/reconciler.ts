import type { KubeConfig } from "@kubernetes/client-node";
import { isDeepStrictEqual } from "node:util";
import { API_VERSION, KIND, ModelDeployment, parseDuration, PLURAL, GROUP, VERSION, type ModelDeploymentStatus } from "../api/index.js";
import { RegistryError } from "../oci/errors.js";
import { parseReference, type ImageReference } from "../oci/reference.js";
import type { Clock } from "../runtime/clock.js";
import { TerminalError, type ReconcileResult, type Reconciler } from "../runtime/controller.js";
import { kubeRequest } from "../runtime/kube-client.js";
import type { KubeObject } from "../runtime/kube-object.js";
import { splitObjectKey } from "../runtime/keys.js";
import type { Store } from "../runtime/store.js";
import type { ArtifactCache } from "./artifact-cache.js";
import type { CapabilityProbe } from "./capability-probe.js";
import type { EventRecorder } from "./events.js";
import { plan, resolveFailure, type Observation, type ResolveFailure } from "./plan.js";
import { loadPullSecrets } from "./pull-secrets.js";

/** The field manager of every status write: stable, so server-side apply owns exactly our fields. */
export const FIELD_MANAGER = "modelpack-operator";
/** How soon a ModelDeployment blocked on something a person must fix is looked at again. */
const BLOCKED_RECHECK_MS = 60_000;

export interface ModelDeploymentReconcilerOptions {
  readonly kubeConfig: KubeConfig;
  readonly store: Store<KubeObject>;
  readonly artifacts: ArtifactCache;
  readonly capabilities: CapabilityProbe;
  readonly events: EventRecorder;
  readonly clock: Clock;
  /** How soon a ModelDeployment blocked on something a person must fix is checked again. Default 60 s. */
  readonly blockedRecheckMs?: number;
}

/**
 * Reconciles one ModelDeployment: read it from the informer's store, read its pull secrets by
 * name, resolve and inspect the artifact (shared cache), probe the cluster, `plan` the status,
 * and write it with server-side apply only when it changed. Level-based and idempotent.
 * Transient registry failures are written to status and then thrown, so the work queue backs off;
 * failures a person must fix are written and re-checked every minute (a secret may appear).
 */
export function createModelDeploymentReconciler(options: ModelDeploymentReconcilerOptions): Reconciler<string> {
  return async (key, signal, { logger }): Promise<ReconcileResult> => {
    const raw = options.store.get(key);
    if (raw === undefined) return {}; // deleted: nothing to do, nothing we own outlives it
    const parsed = ModelDeployment.safeParse(raw);
    if (!parsed.success) throw new TerminalError(`ModelDeployment ${key} does not match the v1alpha1 schema: ${parsed.error.message}`);
    const md = parsed.data;
    const { namespace, name } = splitObjectKey(key);
    if (namespace === undefined) throw new TerminalError(`ModelDeployment key ${key} has no namespace`);
    const outcome = await observeArtifact(options, md, namespace, signal);
    const capabilities = await options.capabilities.get();
    const next = plan({ modelDeployment: md, outcome, capabilities, now: new Date(options.clock.now()) });

    if (!isDeepStrictEqual(normalise(md.status), normalise(next.status))) {
      await applyStatus(options.kubeConfig, namespace, name, next.status, signal);
      logger.info({ reference: md.spec.model.reference, digest: next.status.resolved?.digest, strategy: next.status.strategy }, "status updated");
    }
    const subject = { apiVersion: API_VERSION, kind: KIND, namespace, name, ...(md.metadata.uid !== undefined && { uid: md.metadata.uid }) };
    await Promise.all(next.events.map((e) => options.events.record(subject, e.type, e.reason, e.message)));

    const failure: ResolveFailure | undefined = "failure" in outcome ? outcome.failure : undefined;
    if (failure?.transient === true) throw new RegistryError("Unreachable", failure.message, { retryable: true });
    const recheck = options.blockedRecheckMs ?? BLOCKED_RECHECK_MS;
    if (failure !== undefined) return { requeueAfterMs: Math.min(recheck, next.requeueAfterMs ?? recheck) };
    return next.requeueAfterMs !== undefined ? { requeueAfterMs: next.requeueAfterMs } : {};
  };
}

/** Parses the reference, reads the pull secrets and inspects the artifact (shared cache). */
async function observeArtifact(
  options: ModelDeploymentReconcilerOptions,
  md: ModelDeployment,
  namespace: string,
  signal: AbortSignal,
): Promise<Observation["outcome"]> {
  let reference: ImageReference;
  try {
    reference = parseReference(md.spec.model.reference);
  } catch (err) {
    return { failure: resolveFailure("InvalidReference", err instanceof Error ? err.message : String(err)) };
  }
  const secrets = await loadPullSecrets(options.kubeConfig, namespace, (md.spec.model.pullSecrets ?? []).map((s) => s.name), signal);
  if ("failure" in secrets) return { failure: secrets.failure };
  const refreshMs = parseDuration(md.spec.model.refreshInterval) ?? 0;
  try {
    // A tag is trusted for its refresh interval (0: resolved once); a digest never changes.
    return { inspection: await options.artifacts.inspect(reference, secrets.credentials, refreshMs === 0 ? Infinity : refreshMs, signal) };
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    return { failure: resolveFailure(err.code, err.message) };
  }
}

/** Status as compared: JSON round trip, so undefined fields and key order do not count. */
function normalise(status: ModelDeploymentStatus | undefined): unknown {
  return status === undefined ? undefined : JSON.parse(JSON.stringify(status));
}

/** Server-side apply of the status subresource under FIELD_MANAGER. */
export async function applyStatus(kubeConfig: KubeConfig, namespace: string, name: string, status: ModelDeploymentStatus, signal?: AbortSignal): Promise<void> {
  await kubeRequest(kubeConfig, {
    method: "PATCH",
    path: `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}/${name}/status`,
    query: { fieldManager: FIELD_MANAGER, force: true },
    contentType: "application/apply-patch+yaml",
    body: { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status },
    ...(signal !== undefined && { signal }),
  });
}
