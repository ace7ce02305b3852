/** What one strategy adds to a pod for one ModelDeployment, before it is checked against the pod. */

import type { V1Container, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import type { MountTarget } from "./types.js";

/** A MountTarget whose fields the planner has checked and normalised. */
export interface CheckedTarget extends MountTarget {
  /** Normalised absolute path, never `/`, without `..`. */
  readonly mountPath: string;
  /** Normalised relative path inside the model; "" for the whole model. */
  readonly subPath: string;
  /** `host[:port]` of `pinnedReference`, normalised as the registry client does (`docker.io`). */
  readonly registry: string;
  /** The pull secrets without duplicates, in their first order. */
  readonly pullSecrets: readonly string[];
}

/** A volume the target needs, with what it is for (used in conflict messages). */
export interface PlannedVolume {
  readonly volume: V1Volume;
  /** E.g. `its model`, `pull secret "regcred"`. */
  readonly role: string;
}

export interface MountPieces {
  /** The model volume first, then volumes only the init container mounts. */
  readonly volumes: readonly PlannedVolume[];
  /** The init container that fills the model volume (InitContainer strategy only). */
  readonly initContainer?: V1Container;
  /** The read-only mount every selected container gets. */
  readonly mount: V1VolumeMount;
  /** Secrets to list in `spec.imagePullSecrets` (ImageVolume strategy only). */
  readonly imagePullSecrets: readonly string[];
}
