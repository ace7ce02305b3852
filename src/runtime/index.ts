/**
 * The operator runtime: client-go's workqueue, informers and leader election, and
 * controller-runtime's controller loop and manager, translated to TypeScript. Every piece takes
 * its clock, logger and metrics registry as options; nothing here keeps module-level state.
 *
 * Guarantees (each module's header has the details):
 * - Work queues (`queue.ts` → `delaying-queue.ts` → `rate-limiting-queue.ts`) are fair and stingy:
 *   a key is queued once however often it is added, never handed to two workers at once, and a key
 *   added while it is processed is processed again after `done`. Delays and backoff run on the
 *   injected clock; shutdown stops intake and can drain.
 * - Informers (`informer.ts`, `kube-informers.ts`) list then watch with bookmarks, resume from the
 *   last resourceVersion after any dropped or ended watch, re-list on 410/Expired, restart on any
 *   failure with jittered backoff until stopped, detect silent watches, keep a store readable by
 *   key, namespace and label selector, and call handlers that only enqueue keys.
 * - Leader election (`leader-election.ts`) uses a coordination.k8s.io/v1 Lease with optimistic
 *   concurrency, steps down before the lease can expire for others, and releases it on a graceful
 *   stop after the leader work returned.
 * - Controllers (`controller.ts`) follow controller-runtime's reconcile contract: throw → rate-limited
 *   retry, `TerminalError` → no retry (logged, counted), `requeueAfterMs` → forget + timed requeue,
 *   success → forget; with controller-runtime's metric names registered at zero.
 * - The manager (`manager.ts`) starts Runnables (leader ones under the lease), stops them all
 *   through one AbortSignal — controllers first, then the lease, then caches and servers — and
 *   fails with an error naming the runnable that broke.
 * - `health-server.ts` serves /healthz, /readyz and /metrics (from an injected Registry) on 127.0.0.1 by default.
 * - `logger.ts` makes pino JSON-line loggers: constant messages, variable data in camelCase fields.
 */
export { systemClock, FakeClock, type Clock } from "./clock.js";
export {
  bucketRateLimiter,
  defaultControllerRateLimiter,
  exponentialFailureRateLimiter,
  maxOf,
  type RateLimiter,
} from "./rate-limiter.js";
export { createWorkQueue, type WorkQueue, type WorkQueueOptions } from "./queue.js";
export { createDelayingQueue, type DelayingQueue, type DelayingQueueOptions } from "./delaying-queue.js";
export {
  createRateLimitingQueue,
  type RateLimitingQueue,
  type RateLimitingQueueOptions,
} from "./rate-limiting-queue.js";
export {
  createWorkQueueMetrics,
  noopQueueMetrics,
  type QueueMetrics,
  type WorkQueueMetrics,
  type WorkQueueMetricsOptions,
} from "./queue-metrics.js";
export {
  joinObjectKey,
  objectKey,
  splitObjectKey,
  type KubeObjectLike,
  type ObjectMetaLike,
  type ObjectName,
} from "./keys.js";
export {
  isEmptyLabelSelector,
  matchesLabelSelector,
  type LabelSelector,
  type LabelSelectorRequirement,
} from "./label-selector.js";
export { MemoryStore, type Store } from "./store.js";
export {
  createInformer,
  enqueueMappedKeys,
  enqueueObjectKey,
  ShortWatchError,
  WatchIdleError,
  type EventHandler,
  type Informer,
  type InformerBackoff,
  type InformerOptions,
  type ListerWatcher,
  type ListResult,
  type WatchEvent,
} from "./informer.js";
export {
  createCustomResourceInformer,
  createKubeInformer,
  createKubeListerWatcher,
  createFullPodInformer,
  createNodeInformer,
  createPodInformer,
  resourcePath,
  type KubeInformerOptions,
  type KubeListerWatcherOptions,
} from "./kube-informers.js";
export {
  createPodProjection,
  type CachedPod,
  type CachedPodMetadata,
  type PodProjectionOptions,
} from "./cached-pod.js";
export {
  decodeAs,
  decodeKubeObject,
  KubeObject,
  ObjectDecodeError,
  ObjectMeta,
  stripManagedFields,
} from "./kube-object.js";
export {
  kubeRequest,
  kubeStreamLines,
  kubeStreamText,
  type KubeRequestOptions,
  type QueryValue,
} from "./kube-client.js";
export {
  isAlreadyExists,
  isConflict,
  isNotFound,
  isResourceVersionUnavailable,
  KubeApiError,
  kubeApiErrorFromResponse,
  kubeApiErrorFromStatus,
  KubeStatus,
  type KubeApiErrorCode,
} from "./kube-errors.js";
export {
  createLeaderElector,
  createLeaseLock,
  type LeaderCallbacks,
  type LeaderElectionRecord,
  type LeaderElector,
  type LeaderElectorOptions,
  type LeaseLock,
} from "./leader-election.js";
export { whenAborted, type Runnable, type Syncable } from "./runnable.js";
export {
  createController,
  isTerminalError,
  TerminalError,
  type Controller,
  type ControllerOptions,
  type ReconcileContext,
  type ReconcileResult,
  type Reconciler,
} from "./controller.js";
export {
  createControllerMetrics,
  type ControllerMetrics,
  type ControllerSeries,
  type ReconcileOutcome,
} from "./controller-metrics.js";
export {
  createManager,
  ManagerError,
  type Manager,
  type ManagerErrorCode,
  type ManagerOptions,
} from "./manager.js";
export {
  createHealthServer,
  type HealthCheck,
  type HealthServer,
  type HealthServerOptions,
} from "./health-server.js";
export { createLogger, silentLogger, type Logger, type LoggerOptions } from "./logger.js";
