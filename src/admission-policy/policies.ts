/**
 * The admission policies that inject models without the operator in the request path
 * (`run --injection admission-policy`, Kubernetes ≥ 1.36 where admissionregistration.k8s.io/v1
 * serves MutatingAdmissionPolicy): pure builders of the objects the operator applies.
 *
 * Shape (measured on a real 1.37 apiserver: ../shared/reference/admission-policies.md):
 * - Two cluster-wide policies whose `paramKind` is ModelDeployment: a MutatingAdmissionPolicy
 *   that adds what the ModelDeployment's `status.injection` lists (written by the operator from
 *   the same mount planner pieces as the webhook's patch: one source of truth), and a
 *   ValidatingAdmissionPolicy that refuses a selected pod when its ModelDeployment cannot serve it,
 *   when its `status.injection` asks for more than a model (not written by the operator), or when
 *   the pod does not carry the model after mutation (a clash with the pod's own volume or mounts).
 * - Per ModelDeployment one binding of each, matching its namespace (`kubernetes.io/metadata.name`)
 *   and its pod selector (`objectSelector`), with `paramRef` naming it. The apiserver filters by
 *   the selectors before any CEL runs, so pods no ModelDeployment selects pay nothing.
 * - `parameterNotFoundAction: Allow`: a binding left behind by a deleted ModelDeployment (the
 *   operator was down when it went) admits pods unchanged, because no model is expected any more;
 *   the operator deletes such bindings when it next runs.
 * - JSONPatch, not ApplyConfiguration: a JSONPatch only adds what is missing, so a pod volume of
 *   the same name as ours is left alone and the validating policy refuses the pod with our
 *   message (an apply configuration would merge the two into an invalid volume).
 * - `reinvocationPolicy: IfNeeded`: containers another mutating policy or webhook adds later
 *   still get the mount (the order among mutating policies is not stable).
 * - `failurePolicy: Fail`: an error evaluating a policy refuses the pod rather than starting it
 *   without its model; only pods a ModelDeployment selects are ever evaluated.
 */
import { API_VERSION, KIND } from "../api/index.js";
import type { LabelSelector } from "../runtime/label-selector.js";
import { RETRY_HINT } from "../webhook/candidates.js";

/** admissionregistration.k8s.io/v1, where both policy kinds are GA (1.36+). */
export const ADMISSION_API_VERSION = "admissionregistration.k8s.io/v1";
/** The MutatingAdmissionPolicy's name. */
export const MUTATING_POLICY_NAME = "models.modelpack.dev";
/** The ValidatingAdmissionPolicy's name. */
export const VALIDATING_POLICY_NAME = "models.modelpack.dev";
/** Label on every binding: which ModelDeployment it is for (`<namespace>.<name>` is too long for a value). */
export const BINDING_NAMESPACE_LABEL = "modelpack.dev/modeldeployment-namespace";
export const BINDING_NAME_LABEL = "modelpack.dev/modeldeployment-name";
/** Label on every object the operator writes for policy injection. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY_VALUE = "modelpack-operator";

const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** A cluster-scoped object that owns what the operator writes, so deleting it deletes them (GC). */
export interface Owner {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
}

/** `ModelDeployment ns/name`, in CEL. */
const SUBJECT = "'ModelDeployment ' + params.metadata.namespace + '/' + params.metadata.name";

/**
 * Whether the param says pods may get the model now, in CEL: an injection decided for the
 * current generation that allows them.
 */
const CURRENT =
  "has(params.status) && has(params.status.injection) && " +
  "params.status.injection.observedGeneration == params.metadata.generation";
const ALLOWED = `${CURRENT} && params.status.injection.allowed`;

/** The mutating policy's variables: plain values only (Object types cannot appear in variables). */
const MUTATION_VARIABLES = [
  { name: "inj", expression: "params.status.injection" },
  {
    name: "volumeNames",
    expression: "has(object.spec.volumes) ? object.spec.volumes.map(v, v.name) : []",
  },
  {
    name: "initNames",
    expression: "has(object.spec.initContainers) ? object.spec.initContainers.map(c, c.name) : []",
  },
  {
    name: "secretNames",
    expression:
      "has(object.spec.imagePullSecrets) ? object.spec.imagePullSecrets.filter(s, has(s.name)).map(s, s.name) : []",
  },
  // Everything is added only while the pod lacks the model volume: a pod that has one (ours,
  // from an earlier pass, or its own of that name) is left alone, and validation decides.
  { name: "fresh", expression: "!(variables.inj.volumes[0].name in variables.volumeNames)" },
  {
    name: "newVolumes",
    expression: "variables.inj.volumes.filter(v, !(v.name in variables.volumeNames))",
  },
  {
    name: "newInit",
    expression:
      "has(variables.inj.initContainers) ? variables.inj.initContainers.filter(c, !(c.name in variables.initNames)) : []",
  },
  {
    name: "newSecrets",
    expression:
      "has(variables.inj.imagePullSecrets) ? variables.inj.imagePullSecrets.filter(s, !(s in variables.secretNames)) : []",
  },
  {
    // Indexes of the containers that get the mount: the listed ones, or all; one that mounts
    // something else at that path is skipped, and validation refuses the pod with our message.
    name: "selected",
    expression:
      "object.spec.containers.filter(c, (!has(variables.inj.containers) || size(variables.inj.containers) == 0 || " +
      "c.name in variables.inj.containers) && !(has(c.volumeMounts) && " +
      "c.volumeMounts.exists(m, m.mountPath == variables.inj.mount.mountPath))).map(c, object.spec.containers.indexOf(c))",
  },
];

/** The JSONPatch the mutating policy applies (evaluated against the pod as it came in). */
const MUTATION = [
  "!variables.fresh ? [] :",
  "(size(variables.newVolumes) == 0 ? [] : has(object.spec.volumes)",
  "  ? variables.newVolumes.map(v, JSONPatch{op: 'add', path: '/spec/volumes/-', value: v})",
  "  : [JSONPatch{op: 'add', path: '/spec/volumes', value: variables.newVolumes}]) +",
  "(size(variables.newInit) == 0 ? [] : has(object.spec.initContainers)",
  "  ? variables.newInit.map(c, JSONPatch{op: 'add', path: '/spec/initContainers/-', value: c})",
  "  : [JSONPatch{op: 'add', path: '/spec/initContainers', value: variables.newInit}]) +",
  "variables.selected.map(i, has(object.spec.containers[i].volumeMounts)",
  "  ? JSONPatch{op: 'add', path: '/spec/containers/' + string(i) + '/volumeMounts/-', value: variables.inj.mount}",
  "  : JSONPatch{op: 'add', path: '/spec/containers/' + string(i) + '/volumeMounts', value: [variables.inj.mount]}) +",
  "(size(variables.newSecrets) == 0 ? [] : has(object.spec.imagePullSecrets)",
  "  ? variables.newSecrets.map(s, JSONPatch{op: 'add', path: '/spec/imagePullSecrets/-', value: {'name': s}})",
  "  : [JSONPatch{op: 'add', path: '/spec/imagePullSecrets', value: variables.newSecrets.map(s, {'name': s})}]) +",
  "(!has(object.metadata.annotations)",
  "  ? [JSONPatch{op: 'add', path: '/metadata/annotations', value: variables.inj.annotations}]",
  "  : variables.inj.annotations.map(k, JSONPatch{op: 'add', path: '/metadata/annotations/' + jsonpatch.escapeKey(k), value: variables.inj.annotations[k]}))",
].join("\n");

/** The mutating policy: adds the model to a selected pod of a ModelDeployment that allows it. */
export function mutatingPolicy(owner?: Owner): Record<string, unknown> {
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: "MutatingAdmissionPolicy",
    metadata: metadataFor(MUTATING_POLICY_NAME, owner),
    spec: {
      paramKind: { apiVersion: API_VERSION, kind: KIND },
      matchConstraints: podCreates(),
      matchConditions: [{ name: "model-allowed", expression: ALLOWED }],
      failurePolicy: "Fail",
      reinvocationPolicy: "IfNeeded",
      variables: MUTATION_VARIABLES,
      mutations: [{ patchType: "JSONPatch", jsonPatch: { expression: MUTATION } }],
    },
  };
}

/**
 * The validating policy's rules, in order; each refuses with a message naming the
 * ModelDeployment, the cause and the fix. Every rule holds vacuously when an earlier one fails,
 * so a pod gets the first reason only.
 */
const VALIDATION_VARIABLES = [
  { name: "current", expression: CURRENT },
  { name: "allowed", expression: `variables.current && params.status.injection.allowed` },
  { name: "inj", expression: "params.status.injection" },
  // The spec's repository (`host[:port]/path`, tag and digest cut off; Docker Hub's alias folded
  // as the registry client folds it): every reference the injection fetches must be in it.
  {
    name: "refBase",
    expression: "params.spec.model.reference.split('@')[0].replace('index.docker.io/', 'docker.io/')",
  },
  {
    name: "repository",
    expression:
      "variables.refBase.lastIndexOf(':') > variables.refBase.lastIndexOf('/') ? " +
      "variables.refBase.substring(0, variables.refBase.lastIndexOf(':')) : variables.refBase",
  },
  {
    name: "fetched",
    expression:
      "!variables.allowed ? [] : (has(variables.inj.initContainers) ? " +
      "variables.inj.initContainers.map(c, has(c.args) && size(c.args) > 1 ? string(c.args[1]) : '') : []) + " +
      "variables.inj.volumes.filter(v, has(v.image)).map(v, string(v.image.reference))",
  },
  {
    name: "untrusted",
    expression:
      "variables.fetched.filter(r, !r.replace('index.docker.io/', 'docker.io/').startsWith(variables.repository + '@'))",
  },
  {
    name: "model",
    expression: "variables.allowed ? variables.inj.volumes[0] : {}",
  },
  {
    name: "podVolume",
    expression:
      "variables.allowed && has(object.spec.volumes) ? object.spec.volumes.filter(v, v.name == variables.model.name) : []",
  },
  {
    // The annotation that records this ModelDeployment's digest (the other one, for hashed names, holds its name).
    name: "digestKeys",
    expression:
      "variables.allowed ? variables.inj.annotations.filter(k, variables.inj.annotations[k] == variables.inj.digest) : []",
  },
  {
    // The digest the pod's annotation records for this ModelDeployment ("" when none).
    name: "recorded",
    expression:
      "has(object.metadata.annotations) && variables.digestKeys.exists(k, k in object.metadata.annotations) ? " +
      "object.metadata.annotations[variables.digestKeys[0]] : ''",
  },
  {
    // A pod copied from one that got an earlier digest keeps it (volumes are immutable): the
    // webhook leaves such a pod as it is, and so does this policy.
    name: "stale",
    expression:
      "variables.recorded != '' && variables.recorded != variables.inj.digest && size(variables.podVolume) > 0",
  },
  {
    name: "sameVolume",
    expression:
      "size(variables.podVolume) > 0 && (has(variables.model.image) " +
      "? has(variables.podVolume[0].image) && variables.podVolume[0].image.reference == variables.model.image.reference " +
      ": has(variables.podVolume[0].emptyDir) && has(object.spec.initContainers) && " +
      "object.spec.initContainers.exists(c, c.name == variables.inj.initContainers[0].name && " +
      "c.image == variables.inj.initContainers[0].image && has(c.args) && c.args == variables.inj.initContainers[0].args))",
  },
  {
    name: "missingContainers",
    expression:
      "variables.allowed && has(variables.inj.containers) ? variables.inj.containers.filter(n, !object.spec.containers.exists(c, c.name == n)) : []",
  },
  {
    // Selected containers with a mount inside the model's path: a read-only model cannot hold one.
    name: "nested",
    expression:
      "variables.allowed ? object.spec.containers.filter(c, (!has(variables.inj.containers) || size(variables.inj.containers) == 0 || " +
      "c.name in variables.inj.containers) && has(c.volumeMounts) && c.volumeMounts.exists(m, " +
      "m.mountPath.startsWith(variables.inj.mount.mountPath + '/'))).map(c, c.name) : []",
  },
  {
    name: "unmounted",
    expression:
      "variables.allowed ? object.spec.containers.filter(c, (!has(variables.inj.containers) || size(variables.inj.containers) == 0 || " +
      "c.name in variables.inj.containers) && !(has(c.volumeMounts) && c.volumeMounts.exists(m, m.name == variables.model.name && " +
      "m.mountPath == variables.inj.mount.mountPath))).map(c, c.name) : []",
  },
];

/** A CEL string literal (JSON's double-quoted form is valid CEL). */
const lit = (text: string): string => JSON.stringify(text);

/**
 * A CEL literal of a JSON value. Map values are wrapped in `dyn()`: CEL types a map literal by its
 * values, and the objects compared here mix booleans, numbers, lists and maps.
 */
export function celLiteral(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(celLiteral).join(", ")}]`;
  if (typeof value === "object" && value !== null)
    return `{${Object.entries(value)
      .map(([k, v]) => `${lit(k)}: dyn(${celLiteral(v)})`)
      .join(", ")}}`;
  return JSON.stringify(value);
}

/**
 * The check of `status.injection` itself: only the operator writes the status subresource, but
 * whoever may write it must not be able to inject more than a model — so the volumes are of the
 * kinds the planner makes, the init container is the operator's pull exactly as configured, and
 * every reference fetched is in the repository the spec names.
 */
function trustValidation(trust: PolicyTrust | undefined): Record<string, string> {
  const kinds =
    "variables.inj.volumes.all(v, has(v.emptyDir) || has(v.image) || has(v.secret) || has(v.configMap))";
  const init =
    trust === undefined
      ? ""
      : ` && (!has(variables.inj.initContainers) || variables.inj.initContainers.all(c, ` +
        `c.image == ${lit(trust.initImage)} && has(c.securityContext) && c.securityContext == ${celLiteral(trust.securityContext)}))`;
  return {
    expression: `!variables.allowed || (size(variables.untrusted) == 0 && ${kinds}${init})`,
    messageExpression: [
      SUBJECT,
      lit(" selects this pod, but its status.injection fetches "),
      "(size(variables.untrusted) > 0 ? variables.untrusted[0] : 'more than its model')",
      lit(", which is not "),
      "variables.repository",
      lit(
        "@<digest> with the operator's own pull, so it was not written by the operator. Only the operator should write the " +
          "status subresource: check who may (RBAC on modeldeployments/status); the operator rewrites it on its next reconcile",
      ),
    ].join(" + "),
    reason: "Forbidden",
  };
}

const VALIDATIONS = [
  {
    expression: "variables.current",
    messageExpression: [
      SUBJECT,
      lit(" selects this pod, but the operator has not decided for its current spec (generation "),
      "string(params.metadata.generation)",
      lit(`) yet: check that the operator runs — ${RETRY_HINT}`),
    ].join(" + "),
    reason: "Forbidden",
  },
  {
    expression: "!variables.current || variables.allowed",
    messageExpression: "string(params.status.injection.message)",
    reason: "Forbidden",
  },
  {
    expression: "!variables.allowed || size(variables.missingContainers) == 0",
    messageExpression: [
      SUBJECT,
      lit(' mounts into container "'),
      "string(variables.missingContainers[0])",
      lit(`", which the pod does not have; fix spec.mount.containers or the ModelDeployment's selector`),
    ].join(" + "),
    reason: "Forbidden",
  },
  {
    expression: "!variables.allowed || variables.stale || variables.sameVolume",
    messageExpression:
      `size(variables.podVolume) == 0 ? ` +
      [
        SUBJECT,
        lit(' selects this pod, but it did not get the model volume "'),
        "string(variables.model.name)",
        lit(`" (another admission step removed it?); ${RETRY_HINT}`),
      ].join(" + ") +
      " : " +
      [
        lit('the pod already has a volume named "'),
        "string(variables.model.name)",
        lit('", which '),
        SUBJECT,
        lit(" needs for its model; rename the pod's volume"),
      ].join(" + "),
    reason: "Forbidden",
  },
  {
    expression: "!variables.allowed || variables.stale || size(variables.unmounted) == 0",
    messageExpression: [
      SUBJECT,
      lit(" mounts its model at "),
      "string(variables.inj.mount.mountPath)",
      lit(' in container "'),
      "variables.unmounted[0]",
      lit('", which already mounts something else there; change spec.mount.path or the pod'),
    ].join(" + "),
    reason: "Forbidden",
  },
  {
    expression: "!variables.allowed || variables.stale || size(variables.nested) == 0",
    messageExpression: [
      SUBJECT,
      lit(" mounts its model at "),
      "string(variables.inj.mount.mountPath)",
      lit(' in container "'),
      "variables.nested[0]",
      lit(
        '", which has another mount inside that path (a read-only model cannot hold another mount); change spec.mount.path or the pod',
      ),
    ].join(" + "),
    reason: "Forbidden",
  },
];

/** What the operator knows that a status writer must not change: how it runs its pull. */
export interface PolicyTrust {
  /** `--init-image`. */
  readonly initImage: string;
  /** The pull's security context (src/mount `pullSecurityContext`). */
  readonly securityContext: Readonly<Record<string, unknown>>;
}

/**
 * The validating policy: refuses a selected pod that cannot or did not get its model, or whose
 * ModelDeployment's `status.injection` asks for more than a model (with `trust`: than the
 * operator's own pull).
 */
export function validatingPolicy(owner?: Owner, trust?: PolicyTrust): Record<string, unknown> {
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: "ValidatingAdmissionPolicy",
    metadata: metadataFor(VALIDATING_POLICY_NAME, owner),
    spec: {
      paramKind: { apiVersion: API_VERSION, kind: KIND },
      matchConstraints: podCreates(),
      failurePolicy: "Fail",
      variables: VALIDATION_VARIABLES,
      // The trust check comes right after the verdict: nothing else is looked at for a status
      // the operator did not write.
      validations: [...VALIDATIONS.slice(0, 2), trustValidation(trust), ...VALIDATIONS.slice(2)],
    },
  };
}

/** What a ModelDeployment's bindings need to know about it. */
export interface BindingTarget {
  readonly namespace: string;
  readonly name: string;
  readonly selector: LabelSelector;
}

/**
 * The binding name for a ModelDeployment: `<namespace>.<name>` fits (a namespace is at most 63
 * characters and a ModelDeployment name at most 253, a binding name at most 253) except for very
 * long names, which get a hash suffix.
 */
export function bindingName(namespace: string, name: string, hash: (text: string) => string): string {
  const plain = `${namespace}.${name}`;
  if (plain.length <= 253) return plain;
  return `${plain.slice(0, 242)}.${hash(plain)}`;
}

/** The two bindings for one ModelDeployment, owned by their policies. */
export function bindingsFor(
  target: BindingTarget,
  name: string,
  owners: { readonly mutating?: Owner; readonly validating?: Owner },
): { mutating: Record<string, unknown>; validating: Record<string, unknown> } {
  const labels = {
    [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
    [BINDING_NAMESPACE_LABEL]: target.namespace,
    // Label values are at most 63 characters; the name label is then left out (the paramRef says it).
    ...(target.name.length <= 63 && { [BINDING_NAME_LABEL]: target.name }),
  };
  const matchResources = {
    namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: target.namespace } },
    objectSelector: target.selector,
  };
  const paramRef = { name: target.name, namespace: target.namespace, parameterNotFoundAction: "Allow" };
  return {
    mutating: {
      apiVersion: ADMISSION_API_VERSION,
      kind: "MutatingAdmissionPolicyBinding",
      metadata: { ...metadataFor(name, owners.mutating), labels },
      spec: { policyName: MUTATING_POLICY_NAME, paramRef, matchResources },
    },
    validating: {
      apiVersion: ADMISSION_API_VERSION,
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { ...metadataFor(name, owners.validating), labels },
      spec: { policyName: VALIDATING_POLICY_NAME, paramRef, matchResources, validationActions: ["Deny"] },
    },
  };
}

function podCreates(): Record<string, unknown> {
  return {
    resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }],
    matchPolicy: "Equivalent",
  };
}

function metadataFor(name: string, owner: Owner | undefined): Record<string, unknown> {
  return {
    name,
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    ...(owner !== undefined && {
      ownerReferences: [{ ...owner, blockOwnerDeletion: false, controller: false }],
    }),
  };
}
