/**
 * The pod annotations that record which ModelDeployment gave a pod which digest, and their
 * reading back. Status counts current and stale pods from them; the planner uses them to
 * recognise a pod it already mutated.
 *
 * Keys: `modelpack.dev/model.<name>` → the digest. The name part of an annotation key is at most
 * 63 characters (`[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`), which leaves 57 for the
 * ModelDeployment name. A longer (or otherwise unusable) name is shortened to
 * `<first 46 characters>-<10 hex of sha256(name)>`, and because that loses the name, a companion
 * annotation `modelpack.dev/name.<same shortened part>` holds the full name.
 */

import type { V1Pod } from "@kubernetes/client-node";
import { memoPerString } from "./memo.js";
import { HASH_LENGTH, shortHash } from "./names.js";

/** Pod annotations written by the planner, so status can count current and stale pods. */
export const POD_ANNOTATION_PREFIX = "modelpack.dev/";
const DIGEST_KEY = "model.";
const NAME_KEY = "name.";
/** Kubernetes' limit for the name part of an annotation key (after the `prefix/`). */
export const ANNOTATION_NAME_MAX_LENGTH = 63;
const ANNOTATION_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Whether `key` is a valid Kubernetes annotation key: an optional DNS-subdomain prefix of at
 * most 253 characters and `/`, then a name part of at most 63 characters.
 */
export function isValidAnnotationKey(key: string): boolean {
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= ANNOTATION_NAME_MAX_LENGTH && ANNOTATION_NAME.test(name);
}

/** The part of both keys after `model.` / `name.`: the name itself, or its shortened, hashed form. */
const keySuffix = memoPerString(computeKeySuffix);

function computeKeySuffix(modelDeployment: string): string {
  const plain = `${DIGEST_KEY}${modelDeployment}`;
  if (plain.length <= ANNOTATION_NAME_MAX_LENGTH && ANNOTATION_NAME.test(plain)) return modelDeployment;
  const room = ANNOTATION_NAME_MAX_LENGTH - DIGEST_KEY.length - 1 - HASH_LENGTH;
  const body = modelDeployment
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .slice(0, room)
    .replace(/[^A-Za-z0-9]+$/, "");
  return body === "" || !/^[A-Za-z0-9]/.test(body)
    ? shortHash(modelDeployment)
    : `${body}-${shortHash(modelDeployment)}`;
}

/**
 * `modelpack.dev/model.<modeldeployment-name>`: the annotation whose value is the digest the pod
 * got from that ModelDeployment. Always a valid annotation key; names too long for one are
 * shortened with a hash (see the module header), and `podNameAnnotation` then gives the key
 * holding the full name.
 */
export const podDigestAnnotation = (modelDeployment: string): string =>
  `${POD_ANNOTATION_PREFIX}${DIGEST_KEY}${keySuffix(modelDeployment)}`;

/**
 * The companion key `modelpack.dev/name.<shortened>` whose value is the full ModelDeployment
 * name, or undefined when the digest key holds the name verbatim (no companion is written).
 */
export function podNameAnnotation(modelDeployment: string): string | undefined {
  const suffix = keySuffix(modelDeployment);
  return suffix === modelDeployment ? undefined : `${POD_ANNOTATION_PREFIX}${NAME_KEY}${suffix}`;
}

/** The annotations the planner writes for one ModelDeployment and digest. */
export function podAnnotationsFor(modelDeployment: string, digest: string): Record<string, string> {
  const nameKey = podNameAnnotation(modelDeployment);
  return {
    [podDigestAnnotation(modelDeployment)]: digest,
    ...(nameKey !== undefined && { [nameKey]: modelDeployment }),
  };
}

/**
 * Which ModelDeployment gave this pod which digest, read from the planner's annotations:
 * name → digest. Pure; a pod without annotations gives an empty map. A shortened key whose
 * companion name annotation is missing or does not hash back to that key is skipped (someone
 * edited the annotations; the pod counts as not mounted).
 */
export function podModelDigests(pod: V1Pod): Map<string, string> {
  const annotations = pod.metadata?.annotations ?? {};
  const result = new Map<string, string>();
  const digestPrefix = `${POD_ANNOTATION_PREFIX}${DIGEST_KEY}`;
  for (const [key, digest] of Object.entries(annotations)) {
    if (!key.startsWith(digestPrefix) || typeof digest !== "string" || digest === "") continue;
    const suffix = key.slice(digestPrefix.length);
    const companion = annotations[`${POD_ANNOTATION_PREFIX}${NAME_KEY}${suffix}`];
    const name = companion ?? suffix;
    if (podDigestAnnotation(name) !== key) continue;
    result.set(name, digest);
  }
  return result;
}

/** The digest this pod got from one ModelDeployment, or undefined when it has none from it. */
export function podModelDigest(pod: V1Pod, modelDeployment: string): string | undefined {
  const digest = pod.metadata?.annotations?.[podDigestAnnotation(modelDeployment)];
  return digest === undefined || digest === "" ? undefined : digest;
}
