/**
 * `run --injection admission-policy`: keeps the API server's admission policies (policies.ts) in
 * line with the ModelDeployments, so pods get their models while the operator is down.
 *
 * What it does, as the leader:
 * 1. Applies the two policies (server-side apply), owned by `owner` when given: in a cluster the
 *    installer's MutatingWebhookConfiguration, so `helm uninstall` (or deleting deploy/) removes the
 *    policies and, through their ownership, every binding.
 * 2. Once the ModelDeployment cache is synced, deletes bindings whose ModelDeployment is gone
 *    (deleted while the operator was down; until then they admit pods unchanged).
 * 3. Per ModelDeployment (level-based, on every informer event): writes `status.injection`
 *    (injection.ts: the webhook's verdict and the planner's pieces) as its own field manager, so
 *    the status the reconciler applies never removes it, then applies its two bindings; deletes
 *    them when the ModelDeployment goes.
 *
 * Every write is idempotent; what was applied is remembered (bounded by the number of
 * ModelDeployments) so an unchanged object costs no request. Failures are retried by the
 * controller's rate-limited queue; nothing here sleeps inside a reconcile.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { createHash } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { z } from "zod";
import { API_VERSION, GROUP, KIND, ModelDeployment, PLURAL, VERSION } from "../api/index.js";
import { viaJson } from "../api/json.js";
import { pullSecurityContext } from "../mount/index.js";
import type { InitContainerSettings } from "../mount/types.js";
import type { Clock } from "../runtime/clock.js";
import { createController, type Controller } from "../runtime/controller.js";
import type { ControllerMetrics } from "../runtime/controller-metrics.js";
import { enqueueObjectKey, type Informer } from "../runtime/informer.js";
import { kubeRequest, serverSideApply } from "../runtime/kube-client.js";
import { isForbidden, isNotFound } from "../runtime/kube-errors.js";
import type { KubeObject } from "../runtime/kube-object.js";
import type { Logger } from "../runtime/logger.js";
import { createRateLimitingQueue } from "../runtime/rate-limiting-queue.js";
import { Backoff } from "../runtime/rate-limiter.js";
import { whenAborted, type Runnable } from "../runtime/runnable.js";
import type { Store } from "../runtime/store.js";
import type { AdmissionPolicy } from "../webhook/candidates.js";
import { podInjection } from "./injection.js";
import {
  ADMISSION_API_VERSION,
  BINDING_NAMESPACE_LABEL,
  bindingName,
  bindingsFor,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  MUTATING_POLICY_NAME,
  mutatingPolicy,
  VALIDATING_POLICY_NAME,
  validatingPolicy,
  type Owner,
} from "./policies.js";

/** The field manager of `status.injection`: the reconciler's status applies leave it alone. */
export const INJECTION_FIELD_MANAGER = "modelpack-operator-injection";

const API = `/apis/${ADMISSION_API_VERSION}`;
const PATHS = {
  mutatingPolicy: `${API}/mutatingadmissionpolicies`,
  validatingPolicy: `${API}/validatingadmissionpolicies`,
  mutatingBinding: `${API}/mutatingadmissionpolicybindings`,
  validatingBinding: `${API}/validatingadmissionpolicybindings`,
} as const;
const REQUEST_TIMEOUT_MS = 15_000;
/** The longest wait between attempts to apply the policies at start. */
const MAX_POLICY_RETRY_MS = 30_000;

export interface PolicyInjectionOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The ModelDeployment informers (their events enqueue keys) and their union store. */
  readonly informers: readonly Informer<KubeObject>[];
  readonly store: Store<KubeObject>;
  readonly settings: InitContainerSettings;
  readonly policy?: AdmissionPolicy;
  /**
   * The MutatingWebhookConfiguration the installer owns (in cluster): the policies are owned by it
   * and are not applied while it is missing (an uninstall in progress). Undefined: no owner.
   */
  readonly ownerConfiguration?: string;
  readonly metrics?: ControllerMetrics;
  readonly workers?: number;
}

/** Whether the API server serves v1 MutatingAdmissionPolicy (discovery, not the version: the gate can be off). */
export async function servesAdmissionPolicies(
  kubeConfig: KubeConfig,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    const list = z
      .object({ resources: z.array(z.object({ name: z.string() })) })
      .parse(await kubeRequest(kubeConfig, { path: API, signal, timeoutMs: REQUEST_TIMEOUT_MS }));
    const names = new Set(list.resources.map((r) => r.name));
    return names.has("mutatingadmissionpolicies") && names.has("mutatingadmissionpolicybindings");
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** The runnable (leader only) that applies the policies, sweeps, then runs the per-object controller. */
export function createPolicyInjection(options: PolicyInjectionOptions): Runnable {
  const { kubeConfig, logger, clock, store } = options;
  const log = logger.child({ component: "admission-policy" });
  const queue = createRateLimitingQueue<string>({ clock });
  for (const informer of options.informers) informer.addEventHandler(enqueueObjectKey(queue));
  /** Binding name → fingerprint of what was applied, so an unchanged object costs nothing. */
  const applied = new Map<string, string>();
  let owners: { mutating?: Owner; validating?: Owner } = {};

  const controller: Controller = createController({
    name: "admission-policy",
    queue,
    logger,
    clock,
    workers: options.workers ?? 2,
    waitForSync: options.informers,
    ...(options.metrics !== undefined && { metrics: options.metrics }),
    async reconcile(key, signal) {
      const [namespace = "", name = ""] = key.split("/");
      const binding = bindingName(namespace, name, shortHash);
      const raw = store.get(key);
      if (raw === undefined) {
        await deleteBindings(kubeConfig, binding, signal);
        applied.delete(binding);
        return;
      }
      const parsed = ModelDeployment.safeParse(raw);
      if (!parsed.success) {
        // Its status cannot be written either; the webhook's refusal needs the candidate cache.
        log.warn(
          { namespace, name, issue: parsed.error.issues[0]?.message },
          "ModelDeployment does not match the schema: its pods get no model from the policies until it is fixed",
        );
        return;
      }
      const md = parsed.data;
      const injection = podInjection(md, options.settings, options.policy);
      if (!isDeepStrictEqual(viaJson(md.status?.injection), viaJson(injection))) {
        await serverSideApply(
          kubeConfig,
          `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}/${encodeURIComponent(name)}/status`,
          { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status: { injection } },
          { signal, timeoutMs: REQUEST_TIMEOUT_MS, fieldManager: INJECTION_FIELD_MANAGER },
        );
      }
      const bindings = bindingsFor({ namespace, name, selector: md.spec.selector }, binding, owners);
      const fingerprint = JSON.stringify(bindings);
      if (applied.get(binding) === fingerprint) return;
      await apply(kubeConfig, `${PATHS.mutatingBinding}/${binding}`, bindings.mutating, signal);
      await apply(kubeConfig, `${PATHS.validatingBinding}/${binding}`, bindings.validating, signal);
      applied.set(binding, fingerprint);
    },
  });

  return {
    name: "admission-policy",
    needLeaderElection: () => true,
    async start(signal) {
      owners = await applyPoliciesUntilDone(options, log, signal);
      if (signal.aborted) return;
      const synced = await Promise.all(options.informers.map((i) => i.waitForSync(signal)));
      if (!synced.every(Boolean)) return;
      await sweepOrphans(kubeConfig, store, log, signal).catch((err: unknown) => {
        // Orphans admit pods unchanged (parameterNotFoundAction Allow); the next start retries.
        log.warn({ err }, "could not delete bindings of deleted ModelDeployments");
      });
      await controller.start(signal);
    },
  };
}

/** Applies both policies, retrying with backoff until done or `signal` aborts; returns the bindings' owners. */
async function applyPoliciesUntilDone(
  options: PolicyInjectionOptions,
  log: Logger,
  signal: AbortSignal,
): Promise<{ mutating?: Owner; validating?: Owner }> {
  const owners = await untilDone(
    options.clock,
    signal,
    (s) => applyPolicies(options.kubeConfig, options.ownerConfiguration, options.settings, s),
    (err, retryInMs) =>
      log.error(
        { err, retryInMs },
        `cannot apply the admission policies ${MUTATING_POLICY_NAME}: ${err instanceof Error ? err.message : String(err)}; ` +
          "pods of ModelDeployments get no model until they are in place (check the operator's RBAC on admissionregistration.k8s.io)",
      ),
  );
  return owners ?? {};
}

/**
 * Calls `work` until it succeeds (its result) or `signal` aborts (undefined), waiting between
 * failures with backoff from 500 ms up to MAX_POLICY_RETRY_MS; `failed` logs each failure.
 */
async function untilDone<T>(
  clock: Clock,
  signal: AbortSignal,
  work: (signal: AbortSignal) => Promise<T>,
  failed: (err: unknown, retryInMs: number) => void,
): Promise<T | undefined> {
  const backoff = new Backoff(500, MAX_POLICY_RETRY_MS);
  while (!signal.aborted) {
    try {
      return await work(signal);
    } catch (err) {
      if (signal.aborted) break;
      const retryInMs = backoff.fail();
      failed(err, retryInMs);
      await clock.sleep(retryInMs, signal).catch(() => undefined);
    }
  }
  return undefined;
}

/** Applies both policies once; their uids own the bindings. */
export async function applyPolicies(
  kubeConfig: KubeConfig,
  ownerConfiguration: string | undefined,
  settings: InitContainerSettings,
  signal?: AbortSignal,
): Promise<{ mutating: Owner; validating: Owner }> {
  let owner: Owner | undefined;
  if (ownerConfiguration !== undefined) {
    const found = Identified.parse(
      await kubeRequest(kubeConfig, {
        path: `${API}/mutatingwebhookconfigurations/${encodeURIComponent(ownerConfiguration)}`,
        signal,
        timeoutMs: REQUEST_TIMEOUT_MS,
      }),
    );
    owner = {
      apiVersion: ADMISSION_API_VERSION,
      kind: "MutatingWebhookConfiguration",
      name: ownerConfiguration,
      uid: found.metadata.uid,
    };
  }
  const mutating = Identified.parse(
    await apply(kubeConfig, `${PATHS.mutatingPolicy}/${MUTATING_POLICY_NAME}`, mutatingPolicy(owner), signal),
  );
  const validating = Identified.parse(
    await apply(
      kubeConfig,
      `${PATHS.validatingPolicy}/${VALIDATING_POLICY_NAME}`,
      validatingPolicy(owner, {
        initImage: settings.image,
        securityContext: viaJson(pullSecurityContext(settings.user)),
      }),
      signal,
    ),
  );
  return {
    mutating: {
      apiVersion: ADMISSION_API_VERSION,
      kind: "MutatingAdmissionPolicy",
      name: MUTATING_POLICY_NAME,
      uid: mutating.metadata.uid,
    },
    validating: {
      apiVersion: ADMISSION_API_VERSION,
      kind: "ValidatingAdmissionPolicy",
      name: VALIDATING_POLICY_NAME,
      uid: validating.metadata.uid,
    },
  };
}

/**
 * Removes everything policy injection wrote: both policies and every binding labelled as ours
 * (when the operator runs with the webhook again). Absent objects are fine.
 */
export async function removePolicyInjection(kubeConfig: KubeConfig, signal?: AbortSignal): Promise<void> {
  for (const path of [PATHS.mutatingBinding, PATHS.validatingBinding]) {
    for (const name of await managedBindings(kubeConfig, path, signal)) {
      await remove(kubeConfig, `${path}/${name.name}`, signal);
    }
  }
  await remove(kubeConfig, `${PATHS.mutatingPolicy}/${MUTATING_POLICY_NAME}`, signal);
  await remove(kubeConfig, `${PATHS.validatingPolicy}/${VALIDATING_POLICY_NAME}`, signal);
}

const Identified = z.object({ metadata: z.object({ uid: z.string(), name: z.string().optional() }) });
const BindingList = z.object({
  items: z.array(
    z.object({
      metadata: z.object({ name: z.string() }),
      spec: z.object({ paramRef: z.object({ name: z.string(), namespace: z.string() }).optional() }),
    }),
  ),
});

async function managedBindings(
  kubeConfig: KubeConfig,
  path: string,
  signal?: AbortSignal,
): Promise<{ name: string; param?: string }[]> {
  const list = BindingList.parse(
    await kubeRequest(kubeConfig, {
      path,
      query: { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${BINDING_NAMESPACE_LABEL}` },
      signal,
      timeoutMs: REQUEST_TIMEOUT_MS,
    }),
  );
  return list.items.map((b) => ({
    name: b.metadata.name,
    ...(b.spec.paramRef !== undefined && { param: `${b.spec.paramRef.namespace}/${b.spec.paramRef.name}` }),
  }));
}

async function sweepOrphans(
  kubeConfig: KubeConfig,
  store: Store<KubeObject>,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  for (const path of [PATHS.mutatingBinding, PATHS.validatingBinding]) {
    for (const binding of await managedBindings(kubeConfig, path, signal)) {
      if (binding.param !== undefined && store.get(binding.param) !== undefined) continue;
      log.info(
        { binding: binding.name, modelDeployment: binding.param },
        "deleting the binding of a deleted ModelDeployment",
      );
      await remove(kubeConfig, `${path}/${binding.name}`, signal);
    }
  }
}

async function deleteBindings(kubeConfig: KubeConfig, name: string, signal: AbortSignal): Promise<void> {
  await remove(kubeConfig, `${PATHS.mutatingBinding}/${name}`, signal);
  await remove(kubeConfig, `${PATHS.validatingBinding}/${name}`, signal);
}

async function apply(
  kubeConfig: KubeConfig,
  path: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<unknown> {
  return await serverSideApply(kubeConfig, path, body, { signal, timeoutMs: REQUEST_TIMEOUT_MS });
}

async function remove(kubeConfig: KubeConfig, path: string, signal?: AbortSignal): Promise<void> {
  try {
    await kubeRequest(kubeConfig, { method: "DELETE", path, signal, timeoutMs: REQUEST_TIMEOUT_MS });
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
}

/** 10 hex digits of SHA-256: a binding-name suffix for very long names. */
function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 10);
}

/**
 * A leader runnable that removes the operator's webhook entry from the MutatingWebhookConfiguration
 * `name` (server-side apply of an empty list as the operator's field manager releases exactly the
 * entry it applied), so the operator is out of the admission path; retried with backoff until done.
 */
export function releaseWebhookEntry(
  kubeConfig: KubeConfig,
  name: string,
  logger: Logger,
  clock: Clock,
): Runnable {
  return onceAsLeader("release-webhook-entry", logger, clock, async (signal) => {
    try {
      await serverSideApply(
        kubeConfig,
        `${API}/mutatingwebhookconfigurations/${encodeURIComponent(name)}`,
        {
          apiVersion: ADMISSION_API_VERSION,
          kind: "MutatingWebhookConfiguration",
          metadata: { name },
          webhooks: [],
        },
        { signal, timeoutMs: REQUEST_TIMEOUT_MS },
      );
    } catch (err) {
      // Not there: nothing to release (in cluster the operator cannot create it).
      if (isNotFound(err) || isForbidden(err)) return;
      throw err;
    }
  });
}

/**
 * A leader runnable for webhook mode: removes what an earlier run in admission-policy mode left
 * (both policies, every binding of ours), once, so the two paths never inject side by side. Where
 * the API is not served, or the operator may not delete (403), there is nothing to do.
 */
export function removePolicyInjectionOnce(kubeConfig: KubeConfig, logger: Logger, clock: Clock): Runnable {
  return onceAsLeader("remove-admission-policies", logger, clock, async (signal) => {
    if (!(await servesAdmissionPolicies(kubeConfig, signal))) return;
    try {
      await removePolicyInjection(kubeConfig, signal);
    } catch (err) {
      if (isForbidden(err)) return;
      throw err;
    }
  });
}

/** Runs `work` once as the leader, retrying failures with backoff (logged) until it succeeds or stops. */
function onceAsLeader(
  name: string,
  logger: Logger,
  clock: Clock,
  work: (signal: AbortSignal) => Promise<void>,
): Runnable {
  return {
    name,
    needLeaderElection: () => true,
    async start(signal) {
      await untilDone(clock, signal, work, (err, retryInMs) =>
        logger.warn({ err, retryInMs }, `${name} failed; retrying`),
      );
      await whenAborted(signal);
    },
  };
}
