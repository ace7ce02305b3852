/**
 * Names the planner gives the things it adds to a pod. Every name is derived from the
 * ModelDeployment's (or Secret's) name alone, so it is the same on every admission and every
 * replica, and it is always a valid DNS-1123 label (what Kubernetes requires of volume and
 * container names).
 *
 * Rule: `<prefix><name>` when that is already a valid label of at most 63 characters; otherwise
 * `<prefix><sanitised name, cut>-<10 hex of sha256(name)>`, where sanitising lowercases and turns
 * every character outside `[a-z0-9-]` (a `.` in practice) into `-`. The hash keeps names that
 * sanitise or truncate to the same text apart (`llama3.1` vs `llama3-1`).
 *
 * The prefixes differ in their first word after `modelpack-`, so a model volume can never collide
 * with a pull-secret or CA volume, whatever the ModelDeployment is called.
 */

import { createHash } from "node:crypto";
import { memoPerString } from "./memo.js";

/** Kubernetes' limit for a DNS-1123 label (volume names, container names). */
export const DNS_LABEL_MAX_LENGTH = 63;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Hex characters of the hash suffix (40 bits: collisions between a pod's few names are negligible). */
export const HASH_LENGTH = 10;

export const MODEL_VOLUME_PREFIX = "modelpack-model-";
export const PULL_CONTAINER_PREFIX = "modelpack-pull-";
export const SECRET_VOLUME_PREFIX = "modelpack-secret-";
/** The one volume holding the operator's CA bundle (InitContainer strategy), shared by all targets. */
export const CA_VOLUME_NAME = "modelpack-ca";

/** Whether `value` is a DNS-1123 label: lowercase alphanumerics and `-`, at most 63 characters. */
export function isDnsLabel(value: string): boolean {
  return value.length <= DNS_LABEL_MAX_LENGTH && DNS_LABEL.test(value);
}

/** The first HASH_LENGTH hex characters of sha256(value): the deterministic suffix of shortened names. */
export function shortHash(value: string): string {
  return createHash("sha256").update(value).digest("hex").slice(0, HASH_LENGTH);
}

/**
 * `<prefix><name>` if that is a valid DNS-1123 label, else the hashed form described in the
 * module header. `prefix` must itself be a label start ending in `-`.
 */
export function dnsLabelName(prefix: string, name: string): string {
  const plain = `${prefix}${name}`;
  if (isDnsLabel(plain)) return plain;
  const room = DNS_LABEL_MAX_LENGTH - prefix.length - 1 - HASH_LENGTH;
  const body = name
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .slice(0, room)
    .replace(/-+$/, "");
  return body === "" ? `${prefix}${shortHash(name)}` : `${prefix}${body}-${shortHash(name)}`;
}

/** The volume that holds a ModelDeployment's model in the pod (image volume or emptyDir). */
export const modelVolumeName = memoPerString((modelDeployment) =>
  dnsLabelName(MODEL_VOLUME_PREFIX, modelDeployment),
);

/** The init container that pulls a ModelDeployment's model (InitContainer strategy). */
export const pullContainerName = memoPerString((modelDeployment) =>
  dnsLabelName(PULL_CONTAINER_PREFIX, modelDeployment),
);

/** The volume that mounts one pull Secret into pull init containers; shared by every target naming it. */
export const secretVolumeName = memoPerString((secret) => dnsLabelName(SECRET_VOLUME_PREFIX, secret));
