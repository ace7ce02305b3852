/**
 * The contract between the admission webhook (which knows the ModelDeployments selecting a pod)
 * and the pure mount planner (which turns them into a JSONPatch for the pod).
 */

/** One Ready ModelDeployment that selects the pod, reduced to what mounting needs. */
export interface MountTarget {
  /** The ModelDeployment's name; volume and container names are derived from it, stably. */
  readonly name: string;
  readonly namespace: string;
  /** `registry/repository@digest`: pods always get the digest, never a tag. */
  readonly pinnedReference: string;
  readonly digest: string;
  /** The effective strategy from the ModelDeployment's status. */
  readonly strategy: "ImageVolume" | "InitContainer";
  /** Absolute path where the selected containers see the model. */
  readonly mountPath: string;
  /** Optional file or folder of the model to mount instead of all of it. */
  readonly subPath?: string;
  /** Containers that get the mount; undefined or empty means every (non-init) container. */
  readonly containers?: readonly string[];
  /** Names of dockerconfigjson Secrets in the pod's namespace. */
  readonly pullSecrets: readonly string[];
  /** Total size of the model's layers, for the emptyDir size limit of InitContainer. */
  readonly sizeBytes: number;
}

/** How the operator runs its own image as an init container (InitContainer strategy). */
export interface InitContainerSettings {
  /** The operator's image, pinned by digest in production. */
  readonly image: string;
  readonly imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** Registries the init container speaks plain HTTP to (the operator's policy). */
  readonly plainHttpRegistries: readonly string[];
  /** A ConfigMap in the pod's namespace with a `ca.crt` key to trust, if the operator has a CA bundle. */
  readonly caBundleConfigMap?: string;
  readonly resources?: {
    readonly requests?: Readonly<Record<string, string>>;
    readonly limits?: Readonly<Record<string, string>>;
  };
}

/** One RFC 6902 operation. Paths are JSON Pointers into the pod. */
export type JsonPatchOperation =
  | { readonly op: "add" | "replace"; readonly path: string; readonly value: unknown }
  | { readonly op: "remove"; readonly path: string };

/** The planner's answer: a patch to apply (possibly empty), or a refusal that names both sides. */
export type MountPlan =
  | { readonly allowed: true; readonly patch: readonly JsonPatchOperation[] }
  | { readonly allowed: false; readonly message: string };

/** Pod annotations written by the planner, so status can count current and stale pods. */
export const POD_ANNOTATION_PREFIX = "modelpack.dev/";
/** `modelpack.dev/model.<modeldeployment-name>`: the digest the pod got from that ModelDeployment. */
export const podDigestAnnotation = (modelDeployment: string): string => `${POD_ANNOTATION_PREFIX}model.${modelDeployment}`;
