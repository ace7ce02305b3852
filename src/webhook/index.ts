/**
 * webhook: the mutating admission webhook that mounts models into pods when they are created.
 *
 * Guarantees (each module's header has the details):
 * - Decisions (`admit`, admit.ts) read only the informer's ModelDeployment store — no API call per
 *   request — and each cached ModelDeployment version is parsed and compiled once (candidates.ts).
 * - A pod that no ModelDeployment in its namespace selects is allowed unchanged. A pod selected by
 *   a ModelDeployment that cannot serve it (not Ready for its generation, Stalled, MountSupported
 *   False, invalid) is denied with a message naming the ModelDeployment, the cause and the next
 *   step; never admitted without its model. Otherwise it gets the mount planner's JSONPatch
 *   (src/mount `planMounts`), or the planner's conflict as a denial. dryRun is handled the same.
 * - HTTP (handler.ts, server.ts): POST /mutate-pods and GET /healthz over TLS 1.2+; bodies over
 *   3 MiB get 413, malformed ones 400, requests before the cache synced 503; a log line for each,
 *   never a crash. Failures are mapped to answers in one place (`errorAnswer`). Connections,
 *   timeouts and the body bytes in flight are bounded (DEFAULT_SERVER_LIMITS; 503 when over).
 * - Certificates: self-managed (an in-process CA and serving certificate in a Secret, renewed at
 *   2/3 of their lifetime; x509.ts, rotation.ts, self-managed-certificates.ts), from a folder
 *   (cert-manager; directory-certificates.ts) or static. New certificates reach new connections
 *   without a restart, and a new CA reaches the configuration's caBundle before it is served.
 * - The MutatingWebhookConfiguration (configuration.ts) is server-side applied as
 *   `modelpack-operator`: pods CREATE, sideEffects None, reinvocation IfNeeded, failurePolicy Fail
 *   by default, 5 s timeout, only for namespaces holding ModelDeployments, never for the
 *   operator's namespace, kube-system or a namespace labelled `modelpack.dev/webhook=disabled`.
 *   In cluster the chart or deploy/ owns it and the operator patches only the selector and caBundle.
 * - Metrics (metrics.ts) on an injected registry: requests by result and a latency histogram.
 */
export {
  ADMISSION_API_VERSION,
  ADMISSION_KIND,
  AdmissionPod,
  AdmissionRequest,
  AdmissionReview,
  allowed,
  denied,
  patched,
  resultOf,
  type AdmissionResponse,
  type AdmissionResult,
  type AdmissionReviewResponse,
  type AdmissionStatus,
} from "./admission-review.js";
export { admit, type AdmitContext, type PlanMounts } from "./admit.js";
export { CandidateCache, compileCandidate, verdict, type Candidate, type Verdict } from "./candidates.js";
export {
  CertificateError,
  CertificateFeed,
  checkCertificates,
  splitPem,
  staticCertificateSource,
  type CertificateSource,
  type ServingCertificates,
} from "./certificate-source.js";
export {
  applyWebhookConfiguration,
  DEFAULT_CONFIGURATION_NAME,
  DEFAULT_MAX_SCOPED_NAMESPACES,
  NAMESPACE_NAME_LABEL,
  namespacesOfKeys,
  NO_NAMESPACE,
  OPT_OUT_LABEL,
  OPT_OUT_VALUE,
  servingNames,
  WEBHOOK_NAME,
  webhookConfiguration,
  webhookConfigurationPatch,
  WebhookConfigurationError,
  webhookNamespaceSelector,
  type MutatingWebhookConfiguration,
  type NamespaceSelectorOptions,
  type WebhookConfigurationPatch,
  type WebhookClientConfig,
  type WebhookConfigurationOptions,
} from "./configuration.js";
export {
  createDirectoryCertificates,
  readCertificateDirectory,
  type DirectoryCertificates,
  type DirectoryCertificatesOptions,
} from "./directory-certificates.js";
export { WebhookRequestError, type WebhookErrorCode } from "./errors.js";
export {
  createAdmissionHandler,
  DEFAULT_MAX_BODY_BYTES,
  errorAnswer,
  HEALTHZ_PATH,
  MUTATE_PODS_PATH,
  parseReview,
  type AdmissionHandler,
  type AdmissionHandlerOptions,
  type HttpAnswer,
  type Route,
} from "./handler.js";
export {
  createWebhookMetrics,
  noopWebhookMetrics,
  type AdmissionOutcome,
  type WebhookMetrics,
} from "./metrics.js";
export {
  decideRotation,
  DEFAULT_LIFETIMES,
  renewalPoint,
  rotatedBundle,
  type CertificateLifetimes,
  type RotationDecision,
  type ServingNames,
  type StoredCertificates,
} from "./rotation.js";
export { compileLabelSelector, type LabelMatcher } from "../runtime/label-selector.js";
export {
  createSelfManagedCertificates,
  DEFAULT_CERTIFICATE_SECRET,
  type SelfManagedCertificates,
  type SelfManagedCertificatesOptions,
} from "./self-managed-certificates.js";
export {
  createWebhookServer,
  DEFAULT_SERVER_LIMITS,
  type ServerLimits,
  type WebhookServer,
  type WebhookServerOptions,
} from "./server.js";
export {
  createWebhook,
  withBoundPort,
  WebhookOptionsError,
  type CertificateOptions,
  type ManagedConfigurationOptions,
  type Webhook,
  type WebhookOptions,
} from "./webhook.js";
export {
  CertificateRequestError,
  createCertificateAuthority,
  issueServingCertificate,
  selfSignedServingCertificates,
  type CertificateAndKey,
  type CertificateAuthorityRequest,
  type ServingCertificateRequest,
} from "./x509.js";
