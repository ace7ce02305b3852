/**
 * The mount planner: pure functions from (pod, the ModelDeployments selecting it, init-container
 * settings) to a JSONPatch, and the pod annotations that record what a pod got.
 *
 * Guarantees (details in each module's header):
 * - No I/O and no clock; the same input gives the same patch, whatever the order of the targets.
 *   The only module state is memo.ts's caches (keyed by the target objects, or bounded by count),
 *   which change how often work is done, never its result.
 * - The patch applies to the pod it was planned for (RFC 6902, arrays and objects created when
 *   absent, JSON Pointers escaped) and only adds: nothing of the pod is removed or replaced
 *   except the value of one of our annotations.
 * - Applying the plan and planning again gives an empty patch (webhook reinvocation); a pod that
 *   already has a ModelDeployment's volume and annotation keeps it, even at an earlier digest.
 * - Every generated name is a valid DNS-1123 label and every annotation key a valid key,
 *   derived from the ModelDeployment's name alone (long names get a deterministic hash).
 * - Conflicts are refusals naming both sides, never a pod that starts without its model.
 * - With InitContainer the pod's containers see the same files at the same paths as with an
 *   image volume.
 */

export { mountPiecesFor, planMounts } from "./plan.js";
export {
  POD_ANNOTATION_PREFIX,
  isValidAnnotationKey,
  podAnnotationsFor,
  podDigestAnnotation,
  podModelDigest,
  podModelDigests,
  podNameAnnotation,
} from "./annotations.js";
export { CA_VOLUME_NAME, modelVolumeName, pullContainerName, secretVolumeName } from "./names.js";
export { emptyDirSizeLimit } from "./quantity.js";
export {
  DEFAULT_PULL_RESOURCES,
  PULL_DEST,
  PULL_GID,
  PULL_UID,
  pullSecurityContext,
} from "./init-container.js";
export type { InitContainerSettings, JsonPatchOperation, MountPlan, MountTarget } from "./types.js";
