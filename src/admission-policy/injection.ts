/**
 * `status.injection`: what the admission policies (policies.ts) add to the pods a ModelDeployment
 * selects, decided by the operator from the same two functions the webhook uses: `verdict`
 * (whether its pods may start now, and the refusal message if not) and the mount planner's pieces
 * for that target. Pure.
 */
import type { ModelDeployment, PodInjection } from "../api/index.js";
import { viaJson } from "../api/json.js";
import { podAnnotationsFor } from "../mount/annotations.js";
import { mountPiecesFor } from "../mount/index.js";
import type { InitContainerSettings } from "../mount/types.js";
import { verdict, type AdmissionPolicy } from "../webhook/candidates.js";

/**
 * The injection for `md` as the webhook would decide it right now. A ModelDeployment the webhook
 * would refuse pods of gets `allowed: false` with the webhook's message; one whose mount cannot
 * be planned (a bad path the API let through) gets the planner's problems as that message.
 */
export function podInjection(
  md: ModelDeployment,
  settings: InitContainerSettings,
  policy: AdmissionPolicy = {},
): PodInjection {
  const observedGeneration = md.metadata.generation ?? 0;
  const { namespace = "", name = "" } = md.metadata;
  const decided = verdict(md, namespace, name, policy);
  if (!decided.admit) return { observedGeneration, allowed: false, message: decided.message };
  const planned = mountPiecesFor(decided.target, settings);
  if ("problems" in planned) {
    return {
      observedGeneration,
      allowed: false,
      message: `ModelDeployment ${namespace}/${name} selects this pod, but ${planned.problems.join("; ")}`,
    };
  }
  const { target, pieces } = planned;
  const containers = target.containers ?? [];
  return {
    observedGeneration,
    allowed: true,
    digest: target.digest,
    annotations: podAnnotationsFor(target.name, target.digest),
    volumes: pieces.volumes.map((v) => viaJson(v.volume)),
    ...(pieces.initContainer !== undefined && { initContainers: [viaJson(pieces.initContainer)] }),
    mount: viaJson(pieces.mount),
    ...(containers.length > 0 && { containers: [...new Set(containers)] }),
    ...(pieces.imagePullSecrets.length > 0 && { imagePullSecrets: [...pieces.imagePullSecrets] }),
  };
}
