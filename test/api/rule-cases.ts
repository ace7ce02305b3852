/**
 * Every validation rule with values it must accept and reject, and where to put a value in a
 * ModelDeployment. The unit test (src/api/validation-rules.test.ts) runs each rule's TypeScript
 * check on the values; the CRD test (test/api/crd.test.ts) sends each value to a real apiserver
 * and expects its CEL to agree.
 */
import type { ModelDeploymentSpecInput } from "../../src/api/index.js";
import type { Rule } from "../../src/api/rule.js";
import {
  containerNameRule,
  identitySubjectOneOfRule,
  keySourceOneOfRule,
  verifyNotEmptyRule,
  expressionValuesForbiddenRule,
  expressionValuesRequiredRule,
  labelKeyRule,
  labelKeysRule,
  labelValueRule,
  mountPathAbsoluteRule,
  mountPathNoDotDotRule,
  mountPathNotRootRule,
  referenceRegistryRule,
  referenceSyntaxRule,
  refreshIntervalFormatRule,
  refreshIntervalMinimumRule,
  secretNameRule,
  selectorNotEmptyRule,
  subPathNoDotDotRule,
  subPathRelativeRule,
} from "../../src/api/validation-rules.js";

/** A spec that passes every rule; examples change one field of it. */
export const VALID_SPEC = {
  model: { reference: "registry.example.com/models/llama3-8b:v1" },
  selector: { matchLabels: { app: "llama-server" } },
  mount: { path: "/models/llama3" },
} satisfies ModelDeploymentSpecInput;

/** A spec with one value in place, and the field path where the apiserver reports a failure. */
interface Placement {
  readonly spec: ModelDeploymentSpecInput;
  readonly field: string;
}

export interface RuleExample {
  readonly value: unknown;
  readonly valid: boolean;
  readonly spec: ModelDeploymentSpecInput;
  readonly field: string;
}

/**
 * One rule, its placement and its examples. The verdicts are computed here, where the rule's
 * value type is known, so that one table can hold rules of different types.
 */
function ruleCase<T>(
  rule: Rule<NoInfer<T>>,
  place: (value: T) => Placement,
  valid: readonly T[],
  invalid: readonly T[],
) {
  return {
    id: rule.id,
    message: rule.message,
    title: `${rule.id} accepts ${JSON.stringify(valid)} and rejects ${JSON.stringify(invalid)}`,
    wronglyRejected: () => valid.filter((v) => !rule.check(v)),
    wronglyAccepted: () => invalid.filter((v) => rule.check(v)),
    examples: [
      ...valid.map((value): RuleExample => ({ value, valid: true, ...place(value) })),
      ...invalid.map((value): RuleExample => ({ value, valid: false, ...place(value) })),
    ],
  };
}

const long = (n: number) => "a".repeat(n);

const model = (m: Partial<ModelDeploymentSpecInput["model"]>): ModelDeploymentSpecInput => ({
  ...VALID_SPEC,
  model: { ...VALID_SPEC.model, ...m },
});
const mount = (m: Partial<ModelDeploymentSpecInput["mount"]>): ModelDeploymentSpecInput => ({
  ...VALID_SPEC,
  mount: { ...VALID_SPEC.mount, ...m },
});
const selector = (s: ModelDeploymentSpecInput["selector"]): ModelDeploymentSpecInput => ({
  ...VALID_SPEC,
  selector: s,
});
type Operator = "In" | "NotIn" | "Exists" | "DoesNotExist";
interface Expression {
  operator: Operator;
  values?: string[];
}

export const RULE_CASES = [
  ruleCase(
    referenceRegistryRule,
    (reference) => ({ spec: model({ reference }), field: "spec.model.reference" }),
    ["r.io/m", "localhost/m", "[::1]:5000/m"],
    ["m", "org/m", "myhost/m", ""],
  ),
  ruleCase(
    referenceSyntaxRule,
    (reference) => ({ spec: model({ reference }), field: "spec.model.reference" }),
    ["r.io/m:v1", "ubuntu" /* left to the registry rule */],
    ["r.io/M", "r.io/m:", "r.io/m@sha256:abc"],
  ),
  ruleCase(
    refreshIntervalFormatRule,
    (refreshInterval) => ({ spec: model({ refreshInterval }), field: "spec.model.refreshInterval" }),
    ["0", "30s", "10m", "1h", "1h30m", "1h0m0s"],
    ["", "10", "1d", "1m1h", "-1m", "1.5h", "100000h", "10 m"],
  ),
  ruleCase(
    refreshIntervalMinimumRule,
    (refreshInterval) => ({ spec: model({ refreshInterval }), field: "spec.model.refreshInterval" }),
    ["0", "30s", "1m", "1h", "1d" /* left to the format rule */],
    ["0s", "29s", "0m29s", "0h"],
  ),
  ruleCase(
    secretNameRule,
    (name) => ({ spec: model({ pullSecrets: [{ name }] }), field: "spec.model.pullSecrets[0].name" }),
    ["regcred", "reg.cred-1", long(253)],
    ["Regcred", "reg_cred", "-a", "a.", ""],
  ),
  ruleCase(
    selectorNotEmptyRule,
    (s: ModelDeploymentSpecInput["selector"]) => ({ spec: selector(s), field: "spec.selector" }),
    [{ matchLabels: { a: "b" } }, { matchExpressions: [{ key: "a", operator: "Exists" }] }],
    [{}, { matchLabels: {} }, { matchExpressions: [] }, { matchLabels: {}, matchExpressions: [] }],
  ),
  ruleCase(
    labelKeysRule,
    (matchLabels: Record<string, string>) => ({
      spec: selector({ matchLabels }),
      field: "spec.selector.matchLabels",
    }),
    [{ app: "x", "app.kubernetes.io/name": "y", [`${long(253)}/${long(63)}`]: "z" }],
    [{ "-app": "x" }, { [long(64)]: "x" }, { [`${long(254)}/a`]: "x" }, { "a/b/c": "x" }, { "": "x" }],
  ),
  ruleCase(
    labelKeyRule,
    (key) => ({
      spec: selector({ matchExpressions: [{ key, operator: "Exists" }] }),
      field: "spec.selector.matchExpressions[0].key",
    }),
    ["app", "example.com/gpu", "A_b.C-9"],
    ["app-", "/app", "Example.com/gpu", long(64)],
  ),
  ruleCase(
    labelValueRule,
    (value) => ({
      spec: selector({ matchExpressions: [{ key: "app", operator: "In", values: [value] }] }),
      field: "spec.selector.matchExpressions[0].values[0]",
    }),
    ["", "v1", "A_b.C-9", long(63)],
    ["-v", "v-", "a b", "a/b"],
  ),
  ruleCase(
    expressionValuesRequiredRule,
    (e: Expression) => ({
      spec: selector({ matchExpressions: [{ key: "app", ...e }] }),
      field: "spec.selector.matchExpressions[0].values",
    }),
    [{ operator: "In", values: ["a"] }, { operator: "Exists" }],
    [{ operator: "In" }, { operator: "NotIn", values: [] }],
  ),
  ruleCase(
    expressionValuesForbiddenRule,
    (e: Expression) => ({
      spec: selector({ matchExpressions: [{ key: "app", ...e }] }),
      field: "spec.selector.matchExpressions[0].values",
    }),
    [{ operator: "Exists" }, { operator: "DoesNotExist", values: [] }, { operator: "In", values: ["a"] }],
    [
      { operator: "Exists", values: ["a"] },
      { operator: "DoesNotExist", values: ["a", "b"] },
    ],
  ),
  ruleCase(
    mountPathAbsoluteRule,
    (path) => ({ spec: mount({ path }), field: "spec.mount.path" }),
    ["/models", "/"],
    ["models", "./models", ""],
  ),
  ruleCase(
    mountPathNotRootRule,
    (path) => ({ spec: mount({ path }), field: "spec.mount.path" }),
    ["/models", "/m/"],
    ["/", "//", "///", ""],
  ),
  ruleCase(
    mountPathNoDotDotRule,
    (path) => ({ spec: mount({ path }), field: "spec.mount.path" }),
    ["/models", "/a..b", "/..a/b.."],
    ["/..", "/a/../b", "/a/..", "../a"],
  ),
  ruleCase(
    subPathRelativeRule,
    (subPath) => ({ spec: mount({ subPath }), field: "spec.mount.subPath" }),
    ["", "weights", "a/b.json"],
    ["/weights", "/"],
  ),
  ruleCase(
    subPathNoDotDotRule,
    (subPath) => ({ spec: mount({ subPath }), field: "spec.mount.subPath" }),
    ["", "a..b", "..a"],
    ["..", "../x", "a/../../x"],
  ),
  ruleCase(
    containerNameRule,
    (name) => ({ spec: mount({ containers: [name] }), field: "spec.mount.containers[0]" }),
    ["vllm", "a-1", long(63)],
    ["Vllm", "a_b", "-a", "a-"],
  ),
  ruleCase(
    keySourceOneOfRule,
    (key: {
      configMapKeyRef?: { name: string; key: string };
      secretKeyRef?: { name: string; key: string };
    }) => ({
      spec: model({ verify: { publicKeys: [key] } }),
      field: "spec.model.verify.publicKeys[0]",
    }),
    [{ configMapKeyRef: { name: "keys", key: "cosign.pub" } }, { secretKeyRef: { name: "keys", key: "k" } }],
    [{}, { configMapKeyRef: { name: "a", key: "k" }, secretKeyRef: { name: "b", key: "k" } }],
  ),
  ruleCase(
    identitySubjectOneOfRule,
    (who: { subject?: string; subjectRegExp?: string }) => ({
      spec: model({ verify: { identities: [{ issuer: "https://issuer.example.com", ...who }] } }),
      field: "spec.model.verify.identities[0]",
    }),
    [{ subject: "ci@example.com" }, { subjectRegExp: "^https://ci/" }],
    [{}, { subject: "a", subjectRegExp: "b" }],
  ),
  ruleCase(
    verifyNotEmptyRule,
    (verify: {
      publicKeys?: { configMapKeyRef: { name: string; key: string } }[];
      identities?: never[];
    }) => ({
      spec: model({ verify }),
      field: "spec.model.verify",
    }),
    [{ publicKeys: [{ configMapKeyRef: { name: "keys", key: "cosign.pub" } }] }],
    [{}, { publicKeys: [], identities: [] }],
  ),
];
