/**
 * The MutatingWebhookConfiguration: built by pure functions from options, the CA bundle and the
 * namespaces that hold ModelDeployments, and written with server-side apply under the field
 * manager `modelpack-operator`, so re-applying the same configuration is a no-op and fields others
 * own are left alone.
 *
 * Two ways to own it:
 * - `webhookConfiguration` (out of cluster, `run --webhook-url`, tests): the operator writes the
 *   whole object.
 * - `webhookConfigurationPatch` (in cluster): the Helm chart or deploy/ renders the object without
 *   webhooks and owns it, so uninstalling removes it (and everything in it); the operator applies
 *   only its webhook entry (`webhooks` is a list keyed by name, so Helm's three-way merge and
 *   `kubectl apply`, client- or server-side, never own, conflict with or remove it). Until the
 *   operator runs, the object holds no webhook: nothing is in the admission path. The operator
 *   applies only when the object exists (`configurationExists`) and in cluster has no `create`
 *   right, so it never re-creates a configuration an uninstall deleted.
 *
 * Guarantees of the built object:
 * - One webhook `pods.modelpack.dev` for pods CREATE (core/v1), `sideEffects: None` (dryRun
 *   requests are answered the same way), `admissionReviewVersions: [v1]`,
 *   `reinvocationPolicy: IfNeeded` (the planner is idempotent), `matchPolicy: Equivalent`.
 * - `failurePolicy` Fail by default; `timeoutSeconds` 5 by default (1–30).
 * - Blast radius (`webhookNamespaceSelector`): called only for namespaces that hold at least one
 *   ModelDeployment (`kubernetes.io/metadata.name In [...]`; with none, In the one value
 *   NO_NAMESPACE that no namespace can be named), never for the operator's own namespace,
 *   kube-system, the excluded namespaces or a namespace labelled `modelpack.dev/webhook=disabled`;
 *   ANDed with the user's namespaceSelector and, when the operator watches only some namespaces,
 *   with those. Above `maxNamespaces` namespaces the In list is dropped (every namespace but the
 *   exclusions is intercepted) so the object stays small.
 * - `clientConfig` is a URL (out of cluster, tests) or a Service reference (in cluster), with the
 *   caBundle when one is given; without one the field is not applied, so cert-manager's CA
 *   injector may own it.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { FIELD_MANAGER, kubeRequest, serverSideApply } from "../runtime/kube-client.js";
import { KubeApiError } from "../runtime/kube-errors.js";
import type { LabelSelector, LabelSelectorRequirement } from "../runtime/label-selector.js";
import { MUTATE_PODS_PATH } from "./handler.js";
import { OperatorError } from "../errors.js";

/** Default `metadata.name` of the MutatingWebhookConfiguration. */
export const DEFAULT_CONFIGURATION_NAME = "modelpack-operator";
/** The webhook's name, as `kubectl` and the apiserver's denial messages show it. */
export const WEBHOOK_NAME = "pods.modelpack.dev";
/** The label every namespace carries with its own name (Kubernetes ≥ 1.21). */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";
/** A namespace labelled `modelpack.dev/webhook=disabled` is never sent to the webhook. */
export const OPT_OUT_LABEL = "modelpack.dev/webhook";
export const OPT_OUT_VALUE = "disabled";
/**
 * The value of `kubernetes.io/metadata.name In [...]` while no namespace holds a ModelDeployment
 * (`In` needs at least one value): a valid label value that no namespace can be named (namespace
 * names are DNS labels, without dots).
 */
export const NO_NAMESPACE = "no-namespace.modelpack.dev";
/** Above this many namespaces with ModelDeployments the webhook intercepts every namespace. */
export const DEFAULT_MAX_SCOPED_NAMESPACES = 1000;

/** How the apiserver reaches the webhook. */
export type WebhookClientConfig =
  | { readonly url: string }
  | {
      readonly service: {
        readonly namespace: string;
        readonly name: string;
        readonly port?: number;
        readonly path?: string;
      };
    };

/** What the configuration says; `webhookConfiguration` fills in the defaults. */
export interface WebhookConfigurationOptions {
  /** Default DEFAULT_CONFIGURATION_NAME. */
  readonly name?: string;
  readonly clientConfig: WebhookClientConfig;
  /** PEM bundle the apiserver verifies the serving certificate with. Absent: not applied. */
  readonly caPem?: string;
  /** Default Fail: a pod that should get a model is never created without it. */
  readonly failurePolicy?: "Fail" | "Ignore";
  /** 1–30. Default 5. */
  readonly timeoutSeconds?: number;
  /** The operator's own namespace: never sent to the webhook. */
  readonly operatorNamespace: string;
  /** More namespaces never sent to the webhook (kube-system always is excluded). */
  readonly excludedNamespaces?: readonly string[];
  /** When non-empty, only these namespaces are sent (the operator serves only them). */
  readonly watchNamespaces?: readonly string[];
  /** ANDed with the built-in exclusions. */
  readonly namespaceSelector?: LabelSelector;
  readonly objectSelector?: LabelSelector;
  /**
   * The namespaces that hold ModelDeployments: only these are sent to the webhook. Absent or
   * empty: none. "all": every namespace but the exclusions (more than `maxNamespaces`).
   */
  readonly inUseNamespaces?: readonly string[] | "all";
  /** Default DEFAULT_MAX_SCOPED_NAMESPACES. */
  readonly maxNamespaces?: number;
}

/** What `webhookNamespaceSelector` needs. */
export type NamespaceSelectorOptions = Pick<
  WebhookConfigurationOptions,
  | "operatorNamespace"
  | "excludedNamespaces"
  | "watchNamespaces"
  | "namespaceSelector"
  | "inUseNamespaces"
  | "maxNamespaces"
>;

/** The object `webhookConfiguration` builds (plain JSON). */
export interface MutatingWebhookConfiguration {
  readonly apiVersion: "admissionregistration.k8s.io/v1";
  readonly kind: "MutatingWebhookConfiguration";
  readonly metadata: { readonly name: string; readonly labels: Readonly<Record<string, string>> };
  readonly webhooks: readonly Readonly<Record<string, unknown>>[];
}

/** Thrown for options that would make an invalid or unsafe configuration. */
export class WebhookConfigurationError extends OperatorError<"InvalidWebhookConfiguration"> {
  constructor(message: string) {
    super("InvalidWebhookConfiguration", message);
  }
}

/**
 * The MutatingWebhookConfiguration as a plain object (pure). Throws WebhookConfigurationError for
 * a timeout outside 1–30 s or a URL that is not https without query or fragment (the apiserver's
 * own rules), or a watched namespace that is also excluded.
 */
export function webhookConfiguration(options: WebhookConfigurationOptions): MutatingWebhookConfiguration {
  const timeoutSeconds = options.timeoutSeconds ?? 5;
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 30) {
    throw new WebhookConfigurationError(`the webhook timeout must be 1 to 30 seconds, not ${timeoutSeconds}`);
  }
  const namespaceSelector = webhookNamespaceSelector(options);
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: {
      name: options.name ?? DEFAULT_CONFIGURATION_NAME,
      labels: {
        "app.kubernetes.io/name": "modelpack-operator",
        "app.kubernetes.io/managed-by": FIELD_MANAGER,
      },
    },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        admissionReviewVersions: ["v1"],
        sideEffects: "None",
        failurePolicy: options.failurePolicy ?? "Fail",
        matchPolicy: "Equivalent",
        reinvocationPolicy: "IfNeeded",
        timeoutSeconds,
        rules: [
          {
            operations: ["CREATE"],
            apiGroups: [""],
            apiVersions: ["v1"],
            resources: ["pods"],
            scope: "Namespaced",
          },
        ],
        namespaceSelector,
        ...(options.objectSelector !== undefined && { objectSelector: options.objectSelector }),
        clientConfig: clientConfig(options.clientConfig, options.caPem),
      },
    ],
  };
}

/**
 * The webhook's namespaceSelector (pure; see the header for its meaning). Throws
 * WebhookConfigurationError for a watched namespace that is also excluded.
 */
export function webhookNamespaceSelector(options: NamespaceSelectorOptions): LabelSelector {
  const excluded = [
    ...new Set([options.operatorNamespace, "kube-system", ...(options.excludedNamespaces ?? [])]),
  ];
  const watched = options.watchNamespaces ?? [];
  const clash = watched.find((ns) => excluded.includes(ns));
  if (clash !== undefined) {
    throw new WebhookConfigurationError(
      `namespace ${clash} is watched but excluded from the webhook (the operator's own namespace and kube-system always are)`,
    );
  }
  const max = options.maxNamespaces ?? DEFAULT_MAX_SCOPED_NAMESPACES;
  const given = options.inUseNamespaces ?? [];
  let inUse: string[] | "all" = "all";
  if (given !== "all") {
    const listed = [...new Set(given)]
      .filter((ns) => !excluded.includes(ns) && (watched.length === 0 || watched.includes(ns)))
      .sort();
    if (listed.length <= max) inUse = listed;
  }
  const scope: LabelSelectorRequirement[] =
    inUse === "all"
      ? watched.length > 0
        ? [{ key: NAMESPACE_NAME_LABEL, operator: "In", values: [...watched] }]
        : []
      : [{ key: NAMESPACE_NAME_LABEL, operator: "In", values: inUse.length > 0 ? inUse : [NO_NAMESPACE] }];
  return {
    ...(options.namespaceSelector?.matchLabels !== undefined && {
      matchLabels: options.namespaceSelector.matchLabels,
    }),
    matchExpressions: [
      ...(options.namespaceSelector?.matchExpressions ?? []),
      { key: NAMESPACE_NAME_LABEL, operator: "NotIn", values: excluded },
      { key: OPT_OUT_LABEL, operator: "NotIn", values: [OPT_OUT_VALUE] },
      ...scope,
    ],
  };
}

/**
 * The namespaces of ModelDeployment keys (`namespace/name`), or "all" when there are more than
 * `max` of them (pure).
 */
export function namespacesOfKeys(
  keys: Iterable<string>,
  max = DEFAULT_MAX_SCOPED_NAMESPACES,
): string[] | "all" {
  const namespaces = new Set<string>();
  for (const key of keys) {
    const slash = key.indexOf("/");
    if (slash <= 0) continue;
    namespaces.add(key.slice(0, slash));
    if (namespaces.size > max) return "all";
  }
  return [...namespaces].sort();
}

/** What the operator applies to an installer-owned configuration: its webhook entry only. */
export interface WebhookConfigurationPatch {
  readonly apiVersion: "admissionregistration.k8s.io/v1";
  readonly kind: "MutatingWebhookConfiguration";
  readonly metadata: { readonly name: string };
  readonly webhooks: readonly Readonly<Record<string, unknown>>[];
}

/**
 * The operator's part of a configuration the chart or deploy/ owns (pure): the webhook entry of
 * `webhookConfiguration` and the object's name, nothing else (no labels: the installer owns the
 * metadata). The caBundle is in the entry when `caPem` is given; cert-manager's CA injector may
 * set the same value.
 */
export function webhookConfigurationPatch(options: WebhookConfigurationOptions): WebhookConfigurationPatch {
  const whole = webhookConfiguration(options);
  return {
    apiVersion: whole.apiVersion,
    kind: whole.kind,
    metadata: { name: whole.metadata.name },
    webhooks: whole.webhooks,
  };
}

/** Whether the MutatingWebhookConfiguration `name` exists (needs `get` on it). */
export async function configurationExists(
  kubeConfig: KubeConfig,
  name: string,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    await kubeRequest(kubeConfig, {
      path: `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(name)}`,
      signal,
      timeoutMs: 15_000,
    });
    return true;
  } catch (err) {
    if (err instanceof KubeApiError && err.code === "NotFound") return false;
    throw err;
  }
}

function clientConfig(config: WebhookClientConfig, caPem: string | undefined): Record<string, unknown> {
  const caBundle = caPem === undefined ? {} : { caBundle: Buffer.from(caPem).toString("base64") };
  if ("url" in config) {
    let url: URL;
    try {
      url = new URL(config.url);
    } catch {
      throw new WebhookConfigurationError(`the webhook URL ${config.url} does not parse`);
    }
    if (
      url.protocol !== "https:" ||
      url.search !== "" ||
      url.hash !== "" ||
      url.username !== "" ||
      url.password !== ""
    ) {
      throw new WebhookConfigurationError(
        `the webhook URL must be https:// without user, query or fragment, not ${config.url}`,
      );
    }
    return { url: config.url, ...caBundle };
  }
  const { namespace, name, port = 443, path = MUTATE_PODS_PATH } = config.service;
  return { service: { namespace, name, port, path }, ...caBundle };
}

/**
 * Server-side applies `configuration` (from `webhookConfiguration` or `webhookConfigurationPatch`)
 * with force, as FIELD_MANAGER. Rejects with a KubeApiError; the operator needs `patch` on
 * mutatingwebhookconfigurations for it (and `create` for a configuration not there yet).
 */
export async function applyWebhookConfiguration(
  kubeConfig: KubeConfig,
  configuration: MutatingWebhookConfiguration | WebhookConfigurationPatch,
  signal?: AbortSignal,
): Promise<void> {
  const { name } = configuration.metadata;
  await serverSideApply(
    kubeConfig,
    `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(name)}`,
    configuration,
    { timeoutMs: 15_000, signal },
  );
}

/** The SANs a serving certificate needs for a client config: the URL's host, or the Service's names. */
export function servingNames(config: WebhookClientConfig): { dnsNames: string[]; ipAddresses: string[] } {
  if ("url" in config) {
    const host = new URL(config.url).hostname.replace(/^\[(.*)\]$/, "$1");
    return /^[\d.]+$/.test(host) || host.includes(":")
      ? { dnsNames: [], ipAddresses: [host] }
      : { dnsNames: [host], ipAddresses: [] };
  }
  const { name, namespace } = config.service;
  return {
    dnsNames: [`${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`],
    ipAddresses: [],
  };
}
