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
}) {
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
  const url = values["webhook-url"];
  if (url !== undefined && !url.startsWith("https://"))
    throw new UsageError(`--webhook-url must be an https:// URL, not "${url}"`);
  return {
    bindAddress: values["webhook-bind-address"],
    service: values["webhook-service"],
    failurePolicy,
    timeoutSeconds,
    initImage,
    ...(pullPolicy !== undefined && { initImagePullPolicy: pullPolicy }),
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
