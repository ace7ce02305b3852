/**
 * The names under which the ModelDeployment API is served. Everything that spells the group,
 * version, kind or resource (the CRD generator, clients, printer columns, tests) reads them here.
 */

/** API group of every kind this operator serves. */
export const GROUP = "modelpack.dev";
/** The one served and stored version. */
export const VERSION = "v1alpha1";
/** `apiVersion` of a ModelDeployment document. */
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = "ModelDeployment";
export const LIST_KIND = "ModelDeploymentList";
/** The REST resource: `/apis/modelpack.dev/v1alpha1/namespaces/<ns>/modeldeployments`. */
export const PLURAL = "modeldeployments";
export const SINGULAR = "modeldeployment";
/** The CRD's `metadata.name`. */
export const CRD_NAME = `${PLURAL}.${GROUP}`;

/**
 * `kubectl get md` / `kubectl get mdeploy`. No built-in kind uses either (the CRD test checks
 * `kubectl api-resources`). Cluster API's MachineDeployment also claims `md`; where both are
 * installed, `mdeploy` is the unambiguous one.
 */
export const SHORT_NAMES = ["md", "mdeploy"] as const;

/**
 * `kubectl get modelpack` lists every kind of this operator. Deliberately not `all`: `kubectl get
 * all` is for workload objects, and `kubectl delete all --all` would also delete ModelDeployments,
 * which stops models reaching new pods — too easy to do by accident.
 */
export const CATEGORIES = ["modelpack"] as const;
