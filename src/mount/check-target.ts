/**
 * Checks one MountTarget's own fields before it is planned. The API and the controller already
 * validate them; this is the last line before a pod is changed, so a bad value becomes a
 * refusal that names the ModelDeployment, never a broken pod.
 */

import { parseReference } from "../oci/reference.js";
import { normaliseMountPath, normaliseSubPath } from "./paths.js";
import type { CheckedTarget } from "./pieces.js";
import type { InitContainerSettings, MountTarget } from "./types.js";

/** `ModelDeployment "name"`: how every message names a target. */
export const describeTarget = (target: Pick<MountTarget, "name">): string =>
  `ModelDeployment "${target.name}"`;

/** The checked, normalised target, or every problem with it (each naming the ModelDeployment). */
export function checkTarget(
  target: MountTarget,
  settings: InitContainerSettings,
): { target: CheckedTarget } | { problems: string[] } {
  const who = describeTarget(target);
  const problems: string[] = [];
  if (target.name === "") problems.push("a ModelDeployment without a name selects the pod");

  const mountPath = normaliseMountPath(target.mountPath);
  if ("problem" in mountPath) problems.push(`${who}: ${mountPath.problem}; fix spec.mount.path`);
  const subPath = normaliseSubPath(target.subPath ?? "");
  if ("problem" in subPath) problems.push(`${who}: ${subPath.problem}; fix spec.mount.subPath`);

  let registry = "";
  try {
    const ref = parseReference(target.pinnedReference);
    registry = ref.registry;
    if (ref.digest !== target.digest) {
      problems.push(
        `${who}: the resolved reference "${target.pinnedReference}" is not pinned to its digest ${target.digest}; ` +
          `this is an operator bug, please report it`,
      );
    }
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    problems.push(`${who}: its resolved reference is unusable: ${reason}`);
  }

  if (target.imageReference !== undefined) {
    const variant = target.strategy === "ImageVolume" ? safeParse(target.imageReference) : undefined;
    const artifact = safeParse(target.pinnedReference);
    if (
      variant?.digest === undefined ||
      variant.registry !== artifact?.registry ||
      variant.repository !== artifact.repository
    )
      problems.push(
        `${who}: its image variant "${target.imageReference}" is not pinned by digest in the artifact's repository (or the strategy is not ImageVolume); this is an operator bug, please report it`,
      );
  }
  if (target.strategy !== "ImageVolume" && target.strategy !== "InitContainer") {
    problems.push(`${who}: unknown mount strategy "${String(target.strategy)}"`);
  }
  if (target.strategy === "InitContainer") {
    if (!Number.isSafeInteger(target.sizeBytes) || target.sizeBytes < 0) {
      problems.push(
        `${who}: the model size ${target.sizeBytes} is not a number of bytes; this is an operator bug`,
      );
    }
    if (settings.image === "") {
      problems.push(
        `${who} needs the InitContainer strategy, but the operator has no image configured to pull with`,
      );
    }
  }
  const pullSecrets = [...new Set(target.pullSecrets)];
  if (pullSecrets.includes(""))
    problems.push(`${who}: a pull secret has an empty name; fix spec.model.pullSecrets`);

  if (problems.length > 0 || "problem" in mountPath || "problem" in subPath) return { problems };
  return {
    target: { ...target, mountPath: mountPath.path, subPath: subPath.subPath, registry, pullSecrets },
  };
}

function safeParse(reference: string): ReturnType<typeof parseReference> | undefined {
  try {
    return parseReference(reference);
  } catch {
    return undefined;
  }
}
