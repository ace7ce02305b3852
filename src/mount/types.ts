/**
 * The contract between the admission webhook (which knows the ModelDeployments selecting a pod)
 * and the pure mount planner (which turns them into a JSONPatch for the pod).
 */

/** One Ready ModelDeployment that selects the pod, reduced to what mounting needs. */
export interface MountTarget {
  /** The ModelDeployment's name; volume and container names are derived from it, stably. */
  readonly name: string;
  /** Must be the pod's namespace (the planner refuses otherwise). */
  readonly namespace: string;
  /** `registry/repository@digest`: pods always get the digest, never a tag. Its digest must be `digest`. */
  readonly pinnedReference: string;
  readonly digest: string;
  /**
   * ImageVolume only: what the image volume mounts when it is not `pinnedReference`: the
   * artifact's image variant (`registry/repository@digest`, same repository), which containerd
   * can mount. `digest` stays the artifact's (pods are counted by it).
   */
  readonly imageReference?: string;
  /** The effective strategy from the ModelDeployment's status. */
  readonly strategy: "ImageVolume" | "InitContainer";
  /** Absolute path where the selected containers see the model; not `/`, no `..`. */
  readonly mountPath: string;
  /** Optional file or folder of the model to mount instead of all of it; relative, no `..`; "" = all. */
  readonly subPath?: string;
  /**
   * Containers that get the mount; undefined or empty means every (non-init) container. Each
   * must be one of the pod's (non-init) containers, or the planner refuses.
   */
  readonly containers?: readonly string[];
  /**
   * Names of Secrets in the pod's namespace: `spec.imagePullSecrets` for ImageVolume; mounted into
   * the pull init container for InitContainer, which reads their `.dockerconfigjson` key (so they
   * must be of type `kubernetes.io/dockerconfigjson`).
   */
  readonly pullSecrets: readonly string[];
  /** Total size of the model's layers, for the emptyDir size limit of InitContainer (see quantity.ts). */
  readonly sizeBytes: number;
}

/** How the operator runs its own image as an init container (InitContainer strategy). */
export interface InitContainerSettings {
  /** The operator's image, pinned by digest in production; its entrypoint is `modelpack-operator`. */
  readonly image: string;
  /** Left to the apiserver's default when undefined. */
  readonly imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** Registries (`host[:port]` as in the reference, `docker.io` for Docker Hub) the init container speaks plain HTTP to. */
  readonly plainHttpRegistries: readonly string[];
  /**
   * Who the pull runs as: `fixed` (default) sets runAsUser 65532 and runAsGroup 0; `platform`
   * sets neither, for platforms that assign the UID and an fsGroup themselves (OpenShift's
   * restricted SCC refuses a UID outside the namespace's range).
   */
  readonly user?: "fixed" | "platform";
  /** `run --allowed-registries`, passed on to the pull (`--allowed-registries`) when non-empty. */
  readonly allowedRegistries?: readonly string[];
  /** A ConfigMap in the pod's namespace with a `ca.crt` key to trust, if the operator has a CA bundle. */
  readonly caBundleConfigMap?: string;
  /**
   * The init container's requests and limits; each of the two defaults separately to
   * `DEFAULT_PULL_RESOURCES` (requests cpu 100m, memory 128Mi; limits memory 512Mi); `{}` means none.
   */
  readonly resources?: {
    readonly requests?: Readonly<Record<string, string>>;
    readonly limits?: Readonly<Record<string, string>>;
  };
}

/** One RFC 6902 operation. Paths are JSON Pointers into the pod. */
export type JsonPatchOperation =
  | { readonly op: "add" | "replace"; readonly path: string; readonly value: unknown }
  | { readonly op: "remove"; readonly path: string };

/**
 * The planner's answer: a patch to apply (possibly empty, then send no patch), or a refusal that
 * names both sides. `warnings` (AdmissionReview `warnings`) is present only when there is
 * something to say, e.g. that an already-mounted pod keeps an earlier digest.
 */
export type MountPlan =
  | {
      readonly allowed: true;
      readonly patch: readonly JsonPatchOperation[];
      readonly warnings?: readonly string[];
    }
  | { readonly allowed: false; readonly message: string };

/**
 * Pod annotations written by the planner, so status can count current and stale pods:
 * `modelpack.dev/model.<modeldeployment-name>` → digest, hashed for long names (see annotations.ts).
 */
export { POD_ANNOTATION_PREFIX, podDigestAnnotation } from "./annotations.js";
