/**
 * The flags of `run` that need the API schemas, in a module of their own: `main` loads it only
 * for `run`, so `pull`, `inspect` and `validate` start without zod's schemas for the CRD.
 */
import { LabelSelector } from "../api/index.js";
import { UsageError } from "./usage-error.js";

/** The webhook settings `run` takes from its flags; UsageError for a bad one. */
export function webhookFlags(values: {
  "init-image"?: string;
  "init-image-pull-policy"?: string;
  "init-user"?: string;
  "init-resources"?: string;
  "webhook-bind-address": string;
  "webhook-url"?: string;
  "webhook-service": string;
  "webhook-cert-dir"?: string;
  "webhook-cert-secret"?: string;
  "webhook-failure-policy": string;
  "webhook-timeout-seconds": string;
  "webhook-configuration-name"?: string;
  "webhook-namespace-selector"?: string;
  "webhook-object-selector"?: string;
  injection: string;
}) {
  const injection = oneOf(values.injection, ["auto", "webhook", "admission-policy"] as const, "--injection");
  const initImage = values["init-image"];
  if (initImage === undefined || initImage === "") {
    throw new UsageError(
      "run needs --init-image IMAGE (the operator's own image, for the InitContainer strategy) or --disable-webhook",
    );
  }
  const failurePolicy = oneOf(
    values["webhook-failure-policy"],
    ["Fail", "Ignore"] as const,
    "--webhook-failure-policy",
  );
  const timeoutSeconds = Number(values["webhook-timeout-seconds"]);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 30)
    throw new UsageError("--webhook-timeout-seconds must be an integer from 1 to 30");
  const pullPolicyFlag = values["init-image-pull-policy"];
  const pullPolicy =
    pullPolicyFlag === undefined
      ? undefined
      : oneOf(pullPolicyFlag, ["Always", "IfNotPresent", "Never"] as const, "--init-image-pull-policy");
  const initUser =
    values["init-user"] === undefined
      ? undefined
      : oneOf(values["init-user"], ["fixed", "platform"] as const, "--init-user");
  const initResources =
    values["init-resources"] === undefined ? undefined : resourcesFlag(values["init-resources"]);
  const url = values["webhook-url"];
  if (url !== undefined && !url.startsWith("https://"))
    throw new UsageError(`--webhook-url must be an https:// URL, not "${url}"`);
  return {
    injection,
    bindAddress: values["webhook-bind-address"],
    service: values["webhook-service"],
    failurePolicy,
    timeoutSeconds,
    initImage,
    ...(pullPolicy !== undefined && { initImagePullPolicy: pullPolicy }),
    ...(initUser !== undefined && { initUser }),
    ...(initResources !== undefined && { initResources }),
    ...(url !== undefined && { url }),
    ...(values["webhook-cert-dir"] !== undefined && { certDir: values["webhook-cert-dir"] }),
    ...(values["webhook-cert-secret"] !== undefined && { certSecret: values["webhook-cert-secret"] }),
    ...(values["webhook-configuration-name"] !== undefined && {
      configurationName: values["webhook-configuration-name"],
    }),
    ...(values["webhook-namespace-selector"] !== undefined && {
      namespaceSelector: labelSelectorFlag(
        values["webhook-namespace-selector"],
        "--webhook-namespace-selector",
      ),
    }),
    ...(values["webhook-object-selector"] !== undefined && {
      objectSelector: labelSelectorFlag(values["webhook-object-selector"], "--webhook-object-selector"),
    }),
  };
}

/**
 * `--workload-rollout true|false`: whether `updatePolicy: Rollout` may patch Deployments,
 * StatefulSets and DaemonSets (the chart and deploy/ grant that RBAC only when it is true).
 */
export function workloadRolloutFlag(value: string): boolean {
  return oneOf(value, ["true", "false"] as const, "--workload-rollout") === "true";
}

/** A LabelSelector given as JSON on the command line, e.g. `{"matchLabels":{"modelpack":"enabled"}}`. */
function labelSelectorFlag(text: string, flag: string): LabelSelector {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UsageError(
      `${flag} must be a JSON label selector such as {"matchLabels":{"modelpack":"enabled"}}, not ${text}`,
    );
  }
  const parsed = LabelSelector.safeParse(raw);
  if (!parsed.success)
    throw new UsageError(
      `${flag}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "selector"}: ${i.message}`).join("; ")}`,
    );
  return parsed.data;
}

/** The value if it is one of `allowed`, else a UsageError naming the flag and the choices. */
function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined)
    throw new UsageError(`${flag} must be one of ${allowed.join(", ")}, not "${value}"`);
  return found;
}

/** Quantities as Kubernetes writes them: `100m`, `1Gi`, `2`, `1.5`, `500M`. */
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

/** `--init-resources '{"requests":{"cpu":"100m"},"limits":{"memory":"1Gi"}}'`; UsageError otherwise. */
export function resourcesFlag(text: string): {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
} {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--init-resources is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const fail = (why: string): never => {
    throw new UsageError(
      `--init-resources ${why}; write {"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"memory":"512Mi"}}`,
    );
  };
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) fail("must be a JSON object");
  const result: { requests?: Record<string, string>; limits?: Record<string, string> } = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (key !== "requests" && key !== "limits")
      fail(`has "${key}", but only "requests" and "limits" are allowed`);
    if (value === null || typeof value !== "object" || Array.isArray(value))
      fail(`"${key}" must be an object`);
    const quantities: Record<string, string> = {};
    for (const [resource, quantity] of Object.entries(value as Record<string, unknown>)) {
      if (typeof quantity !== "string" || !QUANTITY.test(quantity))
        fail(
          `"${key}.${resource}" must be a quantity such as "100m" or "1Gi", not ${JSON.stringify(quantity)}`,
        );
      quantities[resource] = quantity as string;
    }
    result[key as "requests" | "limits"] = quantities;
  }
  return result;
}
