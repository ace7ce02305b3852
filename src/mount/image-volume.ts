/**
 * The ImageVolume strategy: the kubelet pulls the artifact (pinned by digest, with the pod's
 * image pull secrets) and the container runtime mounts it read-only.
 */

import { modelVolumeName } from "./names.js";
import type { CheckedTarget, MountPieces } from "./pieces.js";

/**
 * A volume `{image: {reference: <imageReference or pinnedReference>, pullPolicy: IfNotPresent}}`, a read-only mount
 * (with `subPath` when set; the runtime must support it: Kubernetes ≥ 1.33 and CRI-O ≥ 1.33 or
 * containerd ≥ 2.2), and the target's pull secrets for `spec.imagePullSecrets`. `readOnly` is set
 * although image volumes are read-only anyway, because containerd refuses a mount without it.
 */
export function imageVolumePieces(target: CheckedTarget): MountPieces {
  const name = modelVolumeName(target.name);
  return {
    volumes: [
      {
        volume: {
          name,
          image: { reference: target.imageReference ?? target.pinnedReference, pullPolicy: "IfNotPresent" },
        },
        role: "its model",
      },
    ],
    mount: {
      name,
      mountPath: target.mountPath,
      readOnly: true,
      ...(target.subPath !== "" && { subPath: target.subPath }),
    },
    imagePullSecrets: target.pullSecrets,
  };
}
