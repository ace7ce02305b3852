/**
 * planMounts: (pod, the ModelDeployments that select it, init-container settings) → JSONPatch.
 * Pure and synchronous; the admission webhook calls it once per pod CREATE (and again on
 * reinvocation).
 *
 * Guarantees:
 * - Each ModelDeployment gets one volume named after it (names.ts), a read-only mount in each
 *   selected container, and the annotations of annotations.ts; InitContainer adds one init
 *   container per ModelDeployment, after the pod's own, plus shared pull-secret and CA volumes.
 * - Targets are planned in name order, so the patch does not depend on the order they come in.
 * - Nothing the pod has is changed or removed: the patch only adds, or replaces an annotation
 *   value. Anything in the way is a refusal naming both sides, with every problem listed.
 * - Idempotent. A ModelDeployment is "already mounted" when the pod carries its digest
 *   annotation AND has exactly the volume (and pull init container) the planner makes for that
 *   digest — a look-alike volume (an image by tag, another repository) is planned again and
 *   refused as a clash; it is then left exactly as it is, even if the pod got an
 *   earlier digest (a reinvocation after the ModelDeployment moved on, or a copied pod): volumes
 *   are immutable, the pod stays self-consistent, the annotation keeps telling status that the
 *   pod is stale, and a rollout replaces it. A warning says so. Anything else the planner would
 *   add is skipped when the pod already has it (compared on the fields the planner sets, so
 *   apiserver defaulting does not matter).
 */

import type { V1Container, V1Pod, V1PodSpec, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import { podAnnotationsFor, podDigestAnnotation, podModelDigests } from "./annotations.js";
import { checkTarget, describeTarget } from "./check-target.js";
import { imageVolumePieces } from "./image-volume.js";
import { initContainerPieces } from "./init-container.js";
import { pointer } from "./json-pointer.js";
import { matches } from "./matches.js";
import { memoPerObject } from "./memo.js";
import { modelVolumeName, pullContainerName } from "./names.js";
import { PatchBuilder } from "./patch-builder.js";
import { isSameOrInside, normalisePodPath, pathsOverlap } from "./paths.js";
import type { CheckedTarget, MountPieces, PlannedVolume } from "./pieces.js";
import type { InitContainerSettings, JsonPatchOperation, MountPlan, MountTarget } from "./types.js";

/** checkTarget, once per target object and settings object (see memo.ts). */
const checkedTarget = memoPerObject(checkTarget);

/** The volumes, mount and init container of a checked target, once per target and settings. */
const piecesOf = memoPerObject((target: CheckedTarget, settings: InitContainerSettings): MountPieces =>
  target.strategy === "ImageVolume" ? imageVolumePieces(target) : initContainerPieces(target, settings),
);

/**
 * What `planMounts` adds to a pod for one target, whatever the pod: its volumes (the model's
 * first), init container, read-only mount and image pull secrets; or the target's own problems.
 * Admission policies apply exactly these pieces (src/admission-policy), so both paths add the same.
 */
export function mountPiecesFor(
  target: MountTarget,
  settings: InitContainerSettings,
):
  | { readonly target: CheckedTarget; readonly pieces: MountPieces }
  | { readonly problems: readonly string[] } {
  const result = checkedTarget(target, settings);
  if ("problems" in result) return { problems: result.problems };
  return { target: result.target, pieces: piecesOf(result.target, settings) };
}

/**
 * The patch that mounts every target's model into the pod, or a refusal listing every conflict.
 * Never throws for any pod or target; an empty `targets` gives an empty patch. The caller sends
 * `patch` as the AdmissionReview's JSONPatch (nothing when it is empty) and `warnings` as its
 * warnings, or denies the pod with `message`.
 */
export function planMounts(
  pod: V1Pod,
  targets: readonly MountTarget[],
  settings: InitContainerSettings,
): MountPlan {
  if (targets.length === 0) return { allowed: true, patch: [] };
  const spec = pod.spec;
  if (spec === undefined)
    return { allowed: false, message: "the pod has no spec, so no model can be mounted" };

  const problems: string[] = [];
  const checked = checkTargets(pod, targets, settings, problems);
  if (problems.length > 0) return refuse(problems);

  const warnings: string[] = [];
  const annotations = pod.metadata?.annotations ?? {};
  const pending: CheckedTarget[] = [];
  for (const target of checked) {
    const recorded = annotations[podDigestAnnotation(target.name)];
    if (recorded !== undefined && isMountedAt(spec, target, recorded, settings)) {
      if (recorded !== target.digest) {
        warnings.push(
          `${describeTarget(target)} is already mounted at digest ${recorded}, not the current ${target.digest}; ` +
            `left as is (a pod's volumes cannot change): recreate the pod to get the current model`,
        );
      }
      continue;
    }
    pending.push(target);
  }

  const planner = new Planner(pod, spec, checked, settings);
  for (const target of pending) planner.add(target);
  if (planner.problems.length > 0) return refuse(planner.problems);
  return { allowed: true, patch: planner.operations(), ...(warnings.length > 0 && { warnings }) };
}

/**
 * Whether the pod already has exactly what the planner adds for `target` at the digest its
 * annotation records: the model volume (and for InitContainer the pull init container) as
 * planned for that digest. Annotations and volumes are written by whoever creates the pod, so a
 * pod that carries our annotation beside a volume of its own (an image by tag, another
 * repository) is not "already mounted": it is planned again, and the planner refuses the clash.
 */
function isMountedAt(
  spec: V1PodSpec,
  target: CheckedTarget,
  recorded: string,
  settings: InitContainerSettings,
): boolean {
  const at = target.pinnedReference.lastIndexOf("@");
  if (at < 0 || !/^sha256:[a-f0-9]{64}$/.test(recorded)) return false;
  const then: CheckedTarget = {
    ...target,
    digest: recorded,
    pinnedReference: `${target.pinnedReference.slice(0, at)}@${recorded}`,
  };
  const volume = (spec.volumes ?? []).find((v) => v.name === modelVolumeName(target.name));
  if (volume === undefined) return false;
  // Either strategy counts: the ModelDeployment may have switched since the pod was planned;
  // at the current digest, the image volume may be its image variant.
  const { imageReference: _variant, ...artifactThen } = then;
  const candidates = [imageVolumePieces(artifactThen), initContainerPieces(then, settings)];
  if (recorded === target.digest && target.imageReference !== undefined)
    candidates.push(imageVolumePieces(target));
  return candidates.some((pieces) => {
    const wanted = pieces.volumes[0]?.volume;
    if (wanted === undefined || !matches(wanted, volume)) return false;
    const wantedInit = pieces.initContainer;
    if (wantedInit === undefined) return true;
    // What the pull runs and fetches: its image and arguments (the pinned reference). Other
    // fields are not compared: admission plugins add to them after us (the ServiceAccount
    // plugin mounts its token into every container, init containers included).
    const init = (spec.initContainers ?? []).find((c) => c.name === wantedInit.name);
    return (
      init !== undefined &&
      init.image === wantedInit.image &&
      matches(wantedInit.command, init.command) &&
      matches(wantedInit.args, init.args)
    );
  });
}

function refuse(problems: readonly string[]): MountPlan {
  return { allowed: false, message: problems.join("; ") };
}

/**
 * Checks every target on its own and against the others: unique names, the pod's namespace,
 * and distinct generated names. Returns the checked targets sorted by name.
 */
function checkTargets(
  pod: V1Pod,
  targets: readonly MountTarget[],
  settings: InitContainerSettings,
  problems: string[],
): CheckedTarget[] {
  const sorted = [...targets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const podNamespace = pod.metadata?.namespace;
  const checked: CheckedTarget[] = [];
  const seen = new Map<string, MountTarget>();
  for (const target of sorted) {
    const who = describeTarget(target);
    const twin = seen.get(target.name);
    if (twin !== undefined) {
      if (!matches(twin, target) || !matches(target, twin)) {
        problems.push(`${who} is listed twice with different settings; this is an operator bug`);
      }
      continue;
    }
    seen.set(target.name, target);
    if (podNamespace !== undefined && podNamespace !== "" && target.namespace !== podNamespace) {
      problems.push(
        `${who} is in namespace "${target.namespace}", but the pod is in "${podNamespace}"; it cannot mount into it`,
      );
      continue;
    }
    const first = sorted[0];
    if (first !== undefined && target.namespace !== first.namespace) {
      problems.push(
        `${who} is in namespace "${target.namespace}", but ${describeTarget(first)} is in "${first.namespace}"`,
      );
      continue;
    }
    const result = checkedTarget(target, settings);
    if ("problems" in result) problems.push(...result.problems);
    else checked.push(result.target);
  }

  // Generated names are hashed where needed, so they differ unless two names hash alike.
  const claimed = new Map<string, string>();
  for (const target of checked) {
    for (const name of [
      modelVolumeName(target.name),
      pullContainerName(target.name),
      podDigestAnnotation(target.name),
    ]) {
      const other = claimed.get(name);
      if (other !== undefined) {
        problems.push(
          `ModelDeployments "${other}" and "${target.name}" both map to the name "${name}"; rename one of them`,
        );
      }
      claimed.set(name, target.name);
    }
  }
  return checked;
}

/** Volume sources the kubelet always mounts read-only. */
const READ_ONLY_SOURCES = ["image", "configMap", "secret", "downwardAPI", "projected"] as const;

/** One planned model mount in one container, to find overlapping targets. */
interface PlannedMount {
  readonly target: CheckedTarget;
  readonly path: string;
}

/** Adds targets one by one to a patch, checking each addition against the pod and the earlier targets. */
class Planner {
  readonly problems: string[] = [];
  readonly #pod: V1Pod;
  readonly #spec: V1PodSpec;
  readonly #settings: InitContainerSettings;
  readonly #builder = new PatchBuilder();
  /** Volume name → ModelDeployment name, for every model volume this pod has or may get. */
  readonly #owners = new Map<string, string>();
  readonly #plannedVolumes = new Map<string, { planned: PlannedVolume; target: CheckedTarget }>();
  readonly #plannedMounts = new Map<string, PlannedMount[]>();
  readonly #pullSecrets: Set<string>;
  readonly #annotations = new Map<string, string>();

  constructor(
    pod: V1Pod,
    spec: V1PodSpec,
    targets: readonly CheckedTarget[],
    settings: InitContainerSettings,
  ) {
    this.#pod = pod;
    this.#spec = spec;
    this.#settings = settings;
    for (const name of podModelDigests(pod).keys()) this.#owners.set(modelVolumeName(name), name);
    for (const target of targets) this.#owners.set(modelVolumeName(target.name), target.name);
    this.#pullSecrets = new Set(
      (spec.imagePullSecrets ?? []).flatMap((s) => (s.name === undefined ? [] : [s.name])),
    );
  }

  add(target: CheckedTarget): void {
    const pieces = piecesOf(target, this.#settings);
    const containers = this.#selectContainers(target);
    for (const planned of pieces.volumes) this.#ensureVolume(planned, target);
    if (pieces.initContainer !== undefined) this.#ensureInitContainer(pieces.initContainer, target);
    for (const index of containers) this.#ensureMount(index, pieces.mount, target);
    for (const secret of pieces.imagePullSecrets) {
      if (this.#pullSecrets.has(secret)) continue;
      this.#pullSecrets.add(secret);
      this.#builder.append("/spec/imagePullSecrets", this.#spec.imagePullSecrets, { name: secret });
    }
    const current = this.#pod.metadata?.annotations ?? {};
    for (const [key, value] of Object.entries(podAnnotationsFor(target.name, target.digest))) {
      if (current[key] !== value) this.#annotations.set(key, value);
    }
  }

  operations(): JsonPatchOperation[] {
    if (this.#annotations.size > 0) {
      const metadata = this.#pod.metadata;
      if (metadata === undefined) {
        this.#builder.set("/metadata", undefined, "annotations", Object.fromEntries(this.#annotations));
      } else {
        for (const [key, value] of this.#annotations) {
          this.#builder.set("/metadata/annotations", metadata.annotations, key, value);
        }
      }
      this.#annotations.clear();
    }
    return this.#builder.operations();
  }

  /** Indexes into `spec.containers` of the containers the target mounts into. */
  #selectContainers(target: CheckedTarget): number[] {
    const containers = this.#spec.containers ?? [];
    if (target.containers === undefined || target.containers.length === 0) return containers.map((_, i) => i);
    const indexes: number[] = [];
    const all = containers.map((c) => `"${c.name}"`).join(", ") || "none";
    for (const name of new Set(target.containers)) {
      const index = containers.findIndex((c) => c.name === name);
      if (index >= 0) {
        indexes.push(index);
      } else if ((this.#spec.initContainers ?? []).some((c) => c.name === name)) {
        this.problems.push(
          `${describeTarget(target)} mounts into container "${name}", which is an init container of the pod; ` +
            `only its containers (${all}) can mount a model: fix spec.mount.containers`,
        );
      } else {
        this.problems.push(
          `${describeTarget(target)} mounts into container "${name}", which the pod does not have ` +
            `(its containers: ${all}); fix spec.mount.containers or the ModelDeployment's selector`,
        );
      }
    }
    return indexes.sort((a, b) => a - b);
  }

  #ensureVolume(planned: PlannedVolume, target: CheckedTarget): void {
    const { volume } = planned;
    const existing = (this.#spec.volumes ?? []).find((v) => v.name === volume.name);
    if (existing !== undefined) {
      if (!matches(volume, existing)) {
        this.problems.push(
          `the pod already has a volume named "${volume.name}" (${volumeKind(existing)}), which ${describeTarget(target)} ` +
            `needs for ${planned.role}; rename the pod's volume`,
        );
      }
      return;
    }
    const earlier = this.#plannedVolumes.get(volume.name);
    if (earlier !== undefined) {
      if (!matches(volume, earlier.planned.volume) || !matches(earlier.planned.volume, volume)) {
        this.problems.push(
          `${describeTarget(earlier.target)} and ${describeTarget(target)} both need a volume named "${volume.name}", ` +
            `for ${earlier.planned.role} and ${planned.role}; rename one of them`,
        );
      }
      return;
    }
    this.#plannedVolumes.set(volume.name, { planned, target });
    this.#builder.append("/spec/volumes", this.#spec.volumes, volume);
  }

  #ensureInitContainer(container: V1Container, target: CheckedTarget): void {
    const name = container.name;
    if ((this.#spec.containers ?? []).some((c) => c.name === name)) {
      this.problems.push(
        `the pod already has a container named "${name}", which ${describeTarget(target)} needs for the init ` +
          `container that pulls its model; rename the pod's container`,
      );
      return;
    }
    const existing = (this.#spec.initContainers ?? []).find((c) => c.name === name);
    if (existing !== undefined) {
      if (!matches(container, existing)) {
        this.problems.push(
          `the pod already has an init container named "${name}", which ${describeTarget(target)} needs for ` +
            `pulling its model; rename the pod's init container`,
        );
      }
      return;
    }
    this.#builder.append("/spec/initContainers", this.#spec.initContainers, container);
  }

  #ensureMount(index: number, mount: V1VolumeMount, target: CheckedTarget): void {
    const container = this.#spec.containers[index];
    if (container === undefined) return;
    const who = describeTarget(target);
    const path = target.mountPath;
    let present = false;
    for (const existing of container.volumeMounts ?? []) {
      if (existing.name === mount.name && matches(mount, existing)) {
        present = true;
        continue;
      }
      const other = normalisePodPath(existing.mountPath);
      if (other === path || isSameOrInside(other, path)) {
        const where =
          other === path ? "there" : `at ${other}, inside it (a read-only model cannot hold another mount)`;
        this.problems.push(
          `${who} mounts its model at ${path} in container "${container.name}", which already mounts ` +
            `${this.#describeVolume(existing.name)} ${where}; change spec.mount.path or the pod`,
        );
      } else if (isSameOrInside(path, other) && this.#isReadOnly(existing)) {
        this.problems.push(
          `${who} mounts its model at ${path} in container "${container.name}", inside ` +
            `${this.#describeVolume(existing.name)} at ${other}, which is read-only (the mount point cannot be ` +
            `created there); change spec.mount.path or the pod`,
        );
      }
    }
    for (const device of container.volumeDevices ?? []) {
      const other = normalisePodPath(device.devicePath);
      if (pathsOverlap(other, path)) {
        this.problems.push(
          `${who} mounts its model at ${path} in container "${container.name}", which already has ` +
            `block device ${this.#describeVolume(device.name)} at ${other}; change spec.mount.path or the pod`,
        );
      }
    }
    const planned = this.#plannedMounts.get(container.name) ?? [];
    for (const earlier of planned) {
      if (!pathsOverlap(earlier.path, path)) continue;
      const how =
        earlier.path === path ? `both at ${path}` : `at ${earlier.path} and ${path}, one inside the other`;
      this.problems.push(
        `${describeTarget(earlier.target)} and ${who} both mount a model into container "${container.name}", ${how}; ` +
          `give them separate mount paths`,
      );
    }
    planned.push({ target, path });
    this.#plannedMounts.set(container.name, planned);
    if (!present)
      this.#builder.append(
        pointer("spec", "containers", index, "volumeMounts"),
        container.volumeMounts,
        mount,
      );
  }

  /**
   * Whether a mount of the pod is read-only, so no mount point can be created inside it: marked
   * `readOnly`, or of a volume type the kubelet always mounts read-only, or one of our models.
   */
  #isReadOnly(mount: V1VolumeMount): boolean {
    if (mount.readOnly === true || this.#owners.has(mount.name)) return true;
    const volume = (this.#spec.volumes ?? []).find((v) => v.name === mount.name);
    return (
      volume !== undefined &&
      READ_ONLY_SOURCES.some((source) => volume[source] !== undefined && volume[source] !== null)
    );
  }

  #describeVolume(name: string): string {
    const owner = this.#owners.get(name);
    return owner === undefined
      ? `volume "${name}"`
      : `the model of ModelDeployment "${owner}" (volume "${name}")`;
  }
}

/** The kind of a volume's source, e.g. `emptyDir`, for messages. */
function volumeKind(volume: V1Volume): string {
  const kind = Object.entries(volume).find(
    ([key, value]) => key !== "name" && value !== undefined && value !== null,
  );
  return kind === undefined ? "no source" : kind[0];
}
