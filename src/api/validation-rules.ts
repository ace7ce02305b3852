/**
 * Every rule of the ModelDeployment API that OpenAPI alone cannot say, each defined once: the CEL
 * the apiserver runs, the TypeScript check zod runs, and the message both report. The schema in
 * v1alpha1.ts attaches them with `withRules`; the CRD carries them as `x-kubernetes-validations`.
 */
import { parseReference } from "../oci/reference.js";
import { DURATION_PATTERN, parseDuration } from "./duration.js";
import { celRaw, patternRule, type Rule } from "./rule.js";

// ---------------------------------------------------------------------------------------------
// spec.model.reference

/**
 * A reference whose first path segment is a registry host by parseReference's own test (it holds
 * a "." or a ":", or is `localhost`) and is followed by a repository. Unlike parseReference we do
 * not treat a single uppercase label (`MyHost/m`) as a host: models must name their registry in a
 * way nobody can read as a Docker Hub namespace.
 */
export const QUALIFIED_REFERENCE_PATTERN = "^(?:localhost|[^/]*[.:][^/]*)/";

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOST = `(?:${DOMAIN_COMPONENT}(?:[.]${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const TAG = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
const DIGEST = "[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+";

/**
 * parseReference's grammar (src/oci/reference.ts) as one RE2/ECMAScript expression, for a
 * reference that names its host: host[:port]/path(/path)*[:tag][@algorithm:encoded]. The digest
 * lengths of sha256/sha512 and the 255-character name limit are separate terms of the CEL below.
 */
export const REFERENCE_PATTERN = `^${HOST}/${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`;

/** On a string REFERENCE_PATTERN accepts, finds exactly `host[:port]/repository`. */
const NAME_PREFIX_PATTERN = "^(?:\\[[a-fA-F0-9:]+\\]|[^/:@\\[]+)(?::[0-9]+)?/[^:@]+";
const MAX_NAME_LENGTH = 255;

/** The largest reference the schema admits (OpenAPI maxLength); it also bounds the CEL cost. */
export const MAX_REFERENCE_LENGTH = 1024;

export const referenceRegistryRule: Rule<string> = patternRule({
  id: "reference-registry",
  pattern: QUALIFIED_REFERENCE_PATTERN,
  message:
    "must start with the registry host, e.g. registry.example.com/models/llama3:v1 or " +
    "localhost:5000/llama3:v1; short names are not expanded to docker.io (write docker.io/org/model)",
});

/**
 * Mirrors parseReference for references that pass referenceRegistryRule (it stays silent on the
 * others so a short name gets one message, not two). Known difference: parseReference limits the
 * name after Docker Hub normalisation (`docker.io/x` → `docker.io/library/x`), the CEL before it,
 * so a Docker Hub name of 247–255 characters passes the apiserver and fails the controller.
 */
export const referenceSyntaxRule: Rule<string> = {
  id: "reference-syntax",
  cel:
    `!self.matches(${celRaw(QUALIFIED_REFERENCE_PATTERN)}) || (` +
    `self.matches(${celRaw(REFERENCE_PATTERN)})` +
    ` && (!self.contains('@sha256:') || self.matches(${celRaw("@sha256:[a-f0-9]{64}$")}))` +
    ` && (!self.contains('@sha512:') || self.matches(${celRaw("@sha512:[a-f0-9]{128}$")}))` +
    ` && size(self.find(${celRaw(NAME_PREFIX_PATTERN)})) <= ${MAX_NAME_LENGTH})`,
  check: (value) => !new RegExp(QUALIFIED_REFERENCE_PATTERN).test(value) || parsesAsReference(value),
  message:
    "must be host[:port]/repository[:tag][@digest]: repository path components are lowercase letters " +
    "and digits joined by single '.', '_', '__' or '-'; a tag is 1-128 letters, digits, '_', '.' or '-' " +
    "not starting with '.' or '-'; a digest is algorithm:hex, for sha256 64 lowercase hex digits; " +
    `host/repository is at most ${MAX_NAME_LENGTH} characters`,
};

function parsesAsReference(value: string): boolean {
  try {
    parseReference(value);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// spec.model.refreshInterval

/** The shortest refresh interval other than 0 (never). */
export const MIN_REFRESH_INTERVAL_MS = 30_000;

export const refreshIntervalFormatRule: Rule<string> = patternRule({
  id: "refresh-interval-format",
  pattern: DURATION_PATTERN.source,
  message:
    "must be a duration such as 30s, 10m, 1h or 1h30m (hours, minutes, seconds in that order), " +
    "or 0 to never re-resolve the tag",
});

export const refreshIntervalMinimumRule: Rule<string> = {
  id: "refresh-interval-minimum",
  // Guarded by the format so that duration() never sees a string it cannot parse.
  cel: `!self.matches(${celRaw(DURATION_PATTERN.source)}) || self == '0' || duration(self) >= duration('30s')`,
  check: (value) => {
    const ms = parseDuration(value);
    return ms === undefined || value === "0" || ms >= MIN_REFRESH_INTERVAL_MS;
  },
  message: "must be at least 30s so the registry is not polled too often, or 0 to resolve the tag only once",
};

// ---------------------------------------------------------------------------------------------
// spec.mount

const DOT_DOT_SEGMENT = "(?:^|/)[.][.](?:/|$)";
/** Bounds the paths (and with them the CEL cost); far above any real mount path. */
export const MAX_PATH_LENGTH = 1024;

export const mountPathAbsoluteRule: Rule<string> = patternRule({
  id: "mount-path-absolute",
  pattern: "^/",
  message: "must be an absolute path such as /models/llama3",
});

export const mountPathNotRootRule: Rule<string> = patternRule({
  id: "mount-path-not-root",
  pattern: "[^/]",
  message:
    "must not be / (the mount would hide the container's own files); use a folder such as /models/llama3",
});

export const mountPathNoDotDotRule: Rule<string> = patternRule({
  id: "mount-path-no-dot-dot",
  pattern: DOT_DOT_SEGMENT,
  forbid: true,
  message: "must not contain '..' segments; write the folder they lead to instead",
});

export const subPathRelativeRule: Rule<string> = patternRule({
  id: "sub-path-relative",
  pattern: "^/",
  forbid: true,
  message:
    "must be relative to the model's root, e.g. weights or config.json; leave it empty to mount the whole model",
});

export const subPathNoDotDotRule: Rule<string> = patternRule({
  id: "sub-path-no-dot-dot",
  pattern: DOT_DOT_SEGMENT,
  forbid: true,
  message: "must not contain '..' segments: the sub-path has to stay inside the model",
});

const DNS_LABEL = "[a-z0-9](?:[-a-z0-9]*[a-z0-9])?";

export const containerNameRule: Rule<string> = patternRule({
  id: "container-name",
  pattern: `^${DNS_LABEL}$`,
  message:
    "must be a container name: lowercase letters, digits and '-', starting and ending with a letter or digit",
});

// ---------------------------------------------------------------------------------------------
// spec.model.pullSecrets

export const secretNameRule: Rule<string> = patternRule({
  id: "secret-name",
  pattern: `^${DNS_LABEL}(?:[.]${DNS_LABEL})*$`,
  message:
    "must be the name of a Secret in this namespace: lowercase letters, digits, '-' and '.', " +
    "starting and ending with a letter or digit",
});

// ---------------------------------------------------------------------------------------------
// spec.selector (the rules metav1.LabelSelector validation applies to built-in kinds)

/** Label key: optional DNS subdomain prefix and "/", then a name of at most 63 characters. */
const LABEL_KEY_PATTERN = `^(?:${DNS_LABEL}(?:[.]${DNS_LABEL})*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`;
/** A label key's prefix is at most 253 characters: the "/" sits at index 253 or earlier. */
const MAX_LABEL_PREFIX_LENGTH = 253;
const LABEL_KEY_SYNTAX =
  "an optional DNS subdomain prefix of at most 253 characters and '/', then a name of at most 63 " +
  "letters, digits, '-', '_' or '.' that starts and ends with a letter or digit, e.g. app or " +
  "app.kubernetes.io/name";
const LABEL_VALUE_PATTERN = "^(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";

function isLabelKey(key: string): boolean {
  return new RegExp(LABEL_KEY_PATTERN).test(key) && key.indexOf("/") <= MAX_LABEL_PREFIX_LENGTH;
}
const celLabelKey = (v: string) =>
  `${v}.matches(${celRaw(LABEL_KEY_PATTERN)}) && ${v}.indexOf('/') <= ${MAX_LABEL_PREFIX_LENGTH}`;

export const labelKeyRule: Rule<string> = {
  id: "label-key",
  cel: celLabelKey("self"),
  check: isLabelKey,
  message: `must be a label key: ${LABEL_KEY_SYNTAX}`,
};

export const labelKeysRule: Rule<Record<string, string>> = {
  id: "label-keys",
  cel: `self.all(k, ${celLabelKey("k")})`,
  check: (labels) => Object.keys(labels).every(isLabelKey),
  message: `every key must be a label key: ${LABEL_KEY_SYNTAX}`,
};

export const labelValueRule: Rule<string> = patternRule({
  id: "label-value",
  pattern: LABEL_VALUE_PATTERN,
  message:
    "must be a label value: letters, digits, '-', '_' and '.', starting and ending with a letter " +
    "or digit, or empty",
});

/** The parts of a selector the rules read; see v1alpha1.ts for the schema. */
interface SelectorShape {
  readonly matchLabels?: Readonly<Record<string, string>> | undefined;
  readonly matchExpressions?: readonly unknown[] | undefined;
}

export const selectorNotEmptyRule: Rule<SelectorShape> = {
  id: "selector-not-empty",
  cel:
    "(has(self.matchLabels) && size(self.matchLabels) > 0) || " +
    "(has(self.matchExpressions) && size(self.matchExpressions) > 0)",
  check: (selector) =>
    Object.keys(selector.matchLabels ?? {}).length > 0 || (selector.matchExpressions ?? []).length > 0,
  message:
    "set matchLabels or matchExpressions to choose the pods that mount the model; " +
    "an empty selector would select every pod in the namespace",
  reason: "FieldValueRequired",
};

interface ExpressionShape {
  readonly operator: string;
  readonly values?: readonly string[] | undefined;
}

export const expressionValuesRequiredRule: Rule<ExpressionShape> = {
  id: "expression-values-required",
  cel: "!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)",
  check: (e) => !(e.operator === "In" || e.operator === "NotIn") || (e.values ?? []).length > 0,
  message: "must list at least one value when the operator is In or NotIn",
  fieldPath: ".values",
  reason: "FieldValueRequired",
};

export const expressionValuesForbiddenRule: Rule<ExpressionShape> = {
  id: "expression-values-forbidden",
  cel: "!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || size(self.values) == 0",
  check: (e) => !(e.operator === "Exists" || e.operator === "DoesNotExist") || (e.values ?? []).length === 0,
  message: "must be empty when the operator is Exists or DoesNotExist",
  fieldPath: ".values",
  reason: "FieldValueForbidden",
};

interface KeySourceShape {
  readonly configMapKeyRef?: unknown;
  readonly secretKeyRef?: unknown;
}

export const keySourceOneOfRule: Rule<KeySourceShape> = {
  id: "key-source-one-of",
  cel: "has(self.configMapKeyRef) != has(self.secretKeyRef)",
  check: (k) => (k.configMapKeyRef !== undefined) !== (k.secretKeyRef !== undefined),
  message: "set exactly one of configMapKeyRef and secretKeyRef",
};

interface IdentityShape {
  readonly subject?: string;
  readonly subjectRegExp?: string;
}

export const identitySubjectOneOfRule: Rule<IdentityShape> = {
  id: "identity-subject-one-of",
  cel: "has(self.subject) != has(self.subjectRegExp)",
  check: (i) => (i.subject !== undefined) !== (i.subjectRegExp !== undefined),
  message: "set exactly one of subject (the exact identity) and subjectRegExp",
};

interface VerifyShape {
  readonly publicKeys?: readonly unknown[];
  readonly identities?: readonly unknown[];
}

export const verifyNotEmptyRule: Rule<VerifyShape> = {
  id: "verify-not-empty",
  cel:
    "(has(self.publicKeys) && size(self.publicKeys) > 0) || " +
    "(has(self.identities) && size(self.identities) > 0)",
  check: (v) => (v.publicKeys ?? []).length + (v.identities ?? []).length > 0,
  message: "set publicKeys or identities: who must have signed the model",
  reason: "FieldValueRequired",
};

/** Every rule, for tests that must cover them all. */
export const RULES: readonly Rule<never>[] = [
  referenceRegistryRule,
  referenceSyntaxRule,
  refreshIntervalFormatRule,
  refreshIntervalMinimumRule,
  secretNameRule,
  selectorNotEmptyRule,
  labelKeysRule,
  labelKeyRule,
  labelValueRule,
  expressionValuesRequiredRule,
  expressionValuesForbiddenRule,
  mountPathAbsoluteRule,
  mountPathNotRootRule,
  mountPathNoDotDotRule,
  subPathRelativeRule,
  subPathNoDotDotRule,
  containerNameRule,
  keySourceOneOfRule,
  identitySubjectOneOfRule,
  verifyNotEmptyRule,
];
