/**
 * The InitContainer strategy: an emptyDir per model, filled before the pod's containers start by
 * an init container that runs the operator's own image as
 * `modelpack-operator pull <repo@digest> --dest <dir> --max-bytes <sizeLimit> [--plain-http] [--ca-file F]
 * [--registry-config F]...`.
 *
 * Layout inside the init container (its root filesystem is read-only; only these are mounted):
 * - `/modelpack/volume`: the emptyDir, writable; the model is pulled into its `model/` folder and
 *   the puller's state file (`--state-file`) is kept beside it, out of the pod's containers' view;
 * - `/modelpack/registry-config/<secret name>/config.json`: each pull secret, read-only (the
 *   folder is the Secret's name, so the puller's errors can name the Secret: see
 *   `pullSecretOfConfigPath`);
 * - `/modelpack/ca/ca.crt`: the operator's CA bundle, read-only, when it has one.
 *
 * The pod's containers mount the emptyDir read-only with `subPath: model[/<subPath>]`, so they see
 * the same paths under the mount path as with an image volume (the puller writes each file at the
 * path its layer's annotation names, as the runtime does).
 */

import type { V1Container, V1SecurityContext, V1Volume } from "@kubernetes/client-node";
import { emptyDirSizeLimit } from "./quantity.js";
import { CA_VOLUME_NAME, modelVolumeName, pullContainerName, secretVolumeName } from "./names.js";
import type { CheckedTarget, MountPieces, PlannedVolume } from "./pieces.js";
import type { InitContainerSettings } from "./types.js";

/** Where the init container sees the emptyDir. */
export const PULL_VOLUME_PATH = "/modelpack/volume";
/** The folder inside the emptyDir that holds the model's files. */
export const MODEL_FOLDER = "model";
/** The `--dest` of the pull. */
export const PULL_DEST = `${PULL_VOLUME_PATH}/${MODEL_FOLDER}`;
/** The `--state-file` of the pull: beside the model folder, so the containers do not see it. */
export const PULL_STATE = `${PULL_VOLUME_PATH}/.modelpack-pull.json`;
/**
 * The pull secret a registry config file of the init container came from (its folder below
 * REGISTRY_CONFIG_PATH is the Secret's name), or undefined for any other file.
 */
export function pullSecretOfConfigPath(path: string): string | undefined {
  const match = /^\/modelpack\/registry-config\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\/config\.json$/.exec(path);
  return match?.[1];
}

/** Parent of one folder per pull secret, each holding `config.json`. */
export const REGISTRY_CONFIG_PATH = "/modelpack/registry-config";
/** Where the CA bundle ConfigMap is mounted; the file is `ca.crt`. */
export const CA_PATH = "/modelpack/ca";
/** The ConfigMap key (and file name) of the CA bundle. */
export const CA_KEY = "ca.crt";
/** The Secret key of a `kubernetes.io/dockerconfigjson` pull secret. */
export const DOCKER_CONFIG_KEY = ".dockerconfigjson";

/** The fixed non-root UID the puller runs as (the distroless `nonroot` user). */
export const PULL_UID = 65532;
/**
 * The puller's primary group. Secret files are mounted `0440` owned by `root:root` (or by
 * `root:<fsGroup>` when the pod sets `fsGroup`, which the container then also has), so group 0
 * is what lets a non-root UID read its pull secret without loosening the file mode to `0444` or
 * changing the pod's security context. Group 0 grants no privilege beyond reading such files:
 * the UID is not 0, every capability is dropped and the root filesystem is read-only.
 */
export const PULL_GID = 0;
/** File mode of the mounted pull secrets: owner and group may read, nobody else. */
export const SECRET_FILE_MODE = 0o440;
/** File mode of the mounted CA bundle (public data). */
export const CA_FILE_MODE = 0o444;

/** Requests and limits when the settings give none: a streaming pull needs little CPU and memory. */
export const DEFAULT_PULL_RESOURCES = {
  requests: { cpu: "100m", memory: "128Mi" },
  limits: { memory: "512Mi" },
} as const;

/**
 * The puller's security context (a fresh object each call); meets the Pod Security Standards'
 * `restricted` profile. With `user: "platform"` the UID and group are left to the platform, which
 * must then give the pod an fsGroup so the pull secrets (mode 0440) stay readable.
 */
export function pullSecurityContext(user: "fixed" | "platform" = "fixed"): V1SecurityContext {
  return {
    runAsNonRoot: true,
    ...(user === "fixed" && { runAsUser: PULL_UID, runAsGroup: PULL_GID }),
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** The pull secret's volume: only its docker config, as `config.json`, mode 0440. */
export function pullSecretVolume(secret: string): V1Volume {
  return {
    name: secretVolumeName(secret),
    secret: {
      secretName: secret,
      items: [{ key: DOCKER_CONFIG_KEY, path: "config.json" }],
      defaultMode: SECRET_FILE_MODE,
    },
  };
}

/** The CA bundle's volume: only `ca.crt` of the ConfigMap. */
export function caBundleVolume(configMap: string): V1Volume {
  return {
    name: CA_VOLUME_NAME,
    configMap: { name: configMap, items: [{ key: CA_KEY, path: CA_KEY }], defaultMode: CA_FILE_MODE },
  };
}

/** The `pull` arguments, in the CLI's order: reference, destination, then the registry flags. */
export function pullArgs(target: CheckedTarget, settings: InitContainerSettings): string[] {
  return [
    "pull",
    target.pinnedReference,
    "--dest",
    PULL_DEST,
    "--state-file",
    PULL_STATE,
    // The pod's containers run as their own users; the puller runs as PULL_UID.
    "--world-readable",
    // Never write more than the emptyDir may hold (a decompression bomb stops here, not at eviction).
    "--max-bytes",
    emptyDirSizeLimit(target.sizeBytes),
    ...(settings.plainHttpRegistries.includes(target.registry) ? ["--plain-http"] : []),
    ...(settings.caBundleConfigMap !== undefined ? ["--ca-file", `${CA_PATH}/${CA_KEY}`] : []),
    ...(settings.allowedRegistries !== undefined && settings.allowedRegistries.length > 0
      ? ["--allowed-registries", settings.allowedRegistries.join(",")]
      : []),
    ...target.pullSecrets.flatMap((s) => ["--registry-config", `${REGISTRY_CONFIG_PATH}/${s}/config.json`]),
  ];
}

/**
 * The emptyDir (size limit per `emptyDirSizeLimit`), its pull init container, the volumes of the
 * pull secrets and CA bundle, and the read-only mount for the selected containers. The target's
 * `sizeBytes` must be a non-negative safe integer (checked by the planner).
 */
export function initContainerPieces(target: CheckedTarget, settings: InitContainerSettings): MountPieces {
  const name = modelVolumeName(target.name);
  const volumes: PlannedVolume[] = [
    { volume: { name, emptyDir: { sizeLimit: emptyDirSizeLimit(target.sizeBytes) } }, role: "its model" },
    ...target.pullSecrets.map((s) => ({ volume: pullSecretVolume(s), role: `pull secret "${s}"` })),
  ];
  if (settings.caBundleConfigMap !== undefined) {
    volumes.push({ volume: caBundleVolume(settings.caBundleConfigMap), role: "the operator's CA bundle" });
  }
  const initContainer: V1Container = {
    name: pullContainerName(target.name),
    image: settings.image,
    ...(settings.imagePullPolicy !== undefined && { imagePullPolicy: settings.imagePullPolicy }),
    args: pullArgs(target, settings),
    volumeMounts: [
      { name, mountPath: PULL_VOLUME_PATH },
      ...target.pullSecrets.map((s) => ({
        name: secretVolumeName(s),
        mountPath: `${REGISTRY_CONFIG_PATH}/${s}`,
        readOnly: true,
      })),
      ...(settings.caBundleConfigMap !== undefined
        ? [{ name: CA_VOLUME_NAME, mountPath: CA_PATH, readOnly: true }]
        : []),
    ],
    resources: {
      requests: { ...(settings.resources?.requests ?? DEFAULT_PULL_RESOURCES.requests) },
      limits: { ...(settings.resources?.limits ?? DEFAULT_PULL_RESOURCES.limits) },
    },
    securityContext: pullSecurityContext(settings.user),
  };
  const subPath = target.subPath === "" ? MODEL_FOLDER : `${MODEL_FOLDER}/${target.subPath}`;
  return {
    volumes,
    initContainer,
    mount: { name, mountPath: target.mountPath, readOnly: true, subPath },
    imagePullSecrets: [],
  };
}
