import type { OciDescriptor, OciManifest } from "./manifest-schema.js";
import { quote } from "./issues.js";
import {
  ANNOTATION_FILEPATH,
  ANNOTATION_MEDIATYPE_UNTESTED,
  ANNOTATION_TITLE,
  IMAGE_CONFIG_MEDIA_TYPES,
  IMAGE_LAYER_MEDIA_TYPES,
  isArchiveMediaType,
  LEGACY_ANNOTATION_FILEPATH,
  LEGACY_ANNOTATION_MEDIATYPE_UNTESTED,
  parseLayerMediaType,
} from "./media-types.js";

/**
 * Whether an artifact can be mounted as a Kubernetes image volume, from the runtimes' own code
 * (reference/image-volumes.md §3):
 * - CRI-O ≥ 1.33 mounts OCI artifacts (a manifest with an artifactType or a non-image config) by
 *   bind-mounting each layer's blob, read-only and NOT unpacked, at a name taken from the first
 *   of `org.opencontainers.image.title`, then `org.cnai.model.filepath` (1.33.x) or
 *   `org.cncf.model.filepath` (≥ 1.34). Layers without a name are skipped silently. It needs
 *   `oci_artifact_mount_support` (default true; OpenShift 4.20 turns it off). Plain images
 *   (image config, no artifactType) are unpacked and merged since 1.31.
 * - containerd (through v2.4.x, the latest measured) mounts only image-shaped content: an image config and tar image
 *   layers, unpacked and merged (≥ 2.1; subPath ≥ 2.2). It cannot mount OCI artifacts.
 */

export type LintSeverity = "info" | "warning";

/** One mountability finding. `code` is stable (see LINT_RULES); `layer` is a layer index. */
export interface LintFinding {
  readonly code: LintCode;
  readonly severity: LintSeverity;
  readonly message: string;
  readonly layer?: number;
}

/** Every lint rule: stable code → short name, severity and what it means for a node. */
export const LINT_RULES = {
  MP001: {
    name: "archive-layer",
    severity: "warning",
    summary: "CRI-O mounts the tar blob itself, not its files",
  },
  MP002: {
    name: "compressed-layer",
    severity: "warning",
    summary: "modctl and model-csi-driver cannot extract it",
  },
  MP003: {
    name: "missing-file-name",
    severity: "warning",
    summary: "CRI-O skips the layer: the file is missing",
  },
  MP004: { name: "cnai-filepath-only", severity: "warning", summary: "CRI-O ≥ 1.34 cannot name the file" },
  MP005: { name: "cncf-filepath-only", severity: "info", summary: "CRI-O 1.33 cannot name the file" },
  MP006: { name: "not-image-shaped", severity: "info", summary: "containerd cannot mount it" },
  MP007: {
    name: "untested-media-type",
    severity: "info",
    summary: "layer class was not verified by the packager",
  },
  MP008: { name: "unknown-layer-media-type", severity: "info", summary: "not a ModelPack layer type" },
  MP009: { name: "no-layers", severity: "warning", summary: "the volume would be empty" },
} as const satisfies Record<string, { name: string; severity: LintSeverity; summary: string }>;
export type LintCode = keyof typeof LINT_RULES;

/** Mount outlook on one runtime. Version bounds are runtime versions (`1.33.0`, `2.1.0`). */
export interface RuntimeMountability {
  /** Whether the pod would see every layer as its intended file (or the merged image content). */
  readonly mountable: boolean;
  /** Lowest runtime version that mounts it, when mountable. */
  readonly minVersion?: string;
  /** First runtime version that no longer mounts it (exclusive), when there is one. */
  readonly maxVersionExclusive?: string;
  readonly reason: string;
}

export interface Mountability {
  readonly crio: RuntimeMountability;
  readonly containerd: RuntimeMountability;
}

/**
 * Decides, per runtime, whether this manifest mounts as an image volume with usable files. Pure;
 * a controller combines it with the node's runtime version and the apiserver's ImageVolume gate.
 */
export function mountability(manifest: OciManifest): Mountability {
  return { crio: crioMountability(manifest), containerd: containerdMountability(manifest) };
}

/**
 * Lints what decides mountability on a real node, layer by layer. Findings are advice, never
 * errors: the manifest may still be valid ModelPack. Codes are listed in LINT_RULES.
 */
export function lintMountability(manifest: OciManifest): LintFinding[] {
  const findings: LintFinding[] = [];
  const add = (code: LintCode, message: string, layer?: number): void => {
    findings.push({
      code,
      severity: LINT_RULES[code].severity,
      message,
      ...(layer === undefined ? {} : { layer }),
    });
  };
  if (manifest.layers.length === 0) {
    add("MP009", "the manifest has no layers: an image volume would mount an empty directory");
  }
  const asImage = crioSeesImage(manifest);
  const imageShaped = isImageShaped(manifest);
  const cnaiOnly: number[] = [];
  const cncfOnly: number[] = [];
  manifest.layers.forEach((layer, index) => {
    const label = layerLabel(layer, index);
    const parsed = parseLayerMediaType(layer.mediaType);
    if (!asImage && isArchiveMediaType(layer.mediaType)) {
      const name = crioName(layer);
      add(
        "MP001",
        `${label} is a tar archive (${layer.mediaType}): CRI-O bind-mounts artifact layers as they are, without unpacking, so the pod sees ${name === undefined ? "the archive" : `the archive file ${quote(name)}`} instead of the files inside. Package files as .raw layers (modctl build --raw, the default since modctl v0.1.0) to mount them as an image volume; the InitContainer strategy unpacks tar layers`,
        index,
      );
    }
    if (parsed !== undefined && (parsed.encoding === "tar+gzip" || parsed.encoding === "tar+zstd")) {
      add(
        "MP002",
        `${label} is ${parsed.encoding === "tar+gzip" ? "gzip" : "zstd"}-compressed (${layer.mediaType}): modctl and the model-csi-driver cannot extract compressed layers ("unsupported codec type"), and the spec recommends packaging model weights without compression`,
        index,
      );
    }
    if (parsed === undefined && !imageShaped) {
      add(
        "MP008",
        `${label} has media type ${quote(layer.mediaType)}, which is not a ModelPack layer type: CRI-O mounts its blob as it is, and modctl refuses to extract it`,
        index,
      );
    }
    if (!asImage) {
      const names = nameAnnotations(layer);
      if (!names.title && !names.cncf && !names.cnai) {
        add(
          "MP003",
          `${label} has neither "${ANNOTATION_TITLE}" nor a filepath annotation: CRI-O skips it ("Unable to find name for artifact layer"), so the file is silently missing from the pod. Set "${ANNOTATION_TITLE}" and "${ANNOTATION_FILEPATH}"`,
          index,
        );
      } else if (!names.title && names.cnai && !names.cncf) {
        cnaiOnly.push(index);
      } else if (!names.title && names.cncf && !names.cnai) {
        cncfOnly.push(index);
      }
    }
    const untested =
      layer.annotations?.[ANNOTATION_MEDIATYPE_UNTESTED] ??
      layer.annotations?.[LEGACY_ANNOTATION_MEDIATYPE_UNTESTED];
    if (untested === "true") {
      add(
        "MP007",
        `${label} is marked untested: the packager did not verify its class (${parsed?.class ?? "unknown"}); runtimes ignore the class, but tools that select files by class (e.g. excluding weights) may pick the wrong ones`,
        index,
      );
    }
  });
  if (cnaiOnly.length > 0) {
    add(
      "MP004",
      `${layerList(cnaiOnly)} carr${cnaiOnly.length === 1 ? "ies" : "y"} only the legacy "${LEGACY_ANNOTATION_FILEPATH}": CRI-O 1.33.x reads it, but CRI-O 1.34 and later read "${ANNOTATION_FILEPATH}" instead and skip ${cnaiOnly.length === 1 ? "the layer, so its file is" : "these layers, so their files are"} missing from the pod. Add "${ANNOTATION_TITLE}" (read by every CRI-O version) or "${ANNOTATION_FILEPATH}"`,
    );
  }
  if (cncfOnly.length > 0) {
    add(
      "MP005",
      `${layerList(cncfOnly)} carr${cncfOnly.length === 1 ? "ies" : "y"} only "${ANNOTATION_FILEPATH}": CRI-O 1.34 and later read it, but CRI-O 1.33.x reads only "${ANNOTATION_TITLE}" and "${LEGACY_ANNOTATION_FILEPATH}" and skips ${cncfOnly.length === 1 ? "the layer" : "these layers"}. Add "${ANNOTATION_TITLE}" to mount on CRI-O 1.33 too`,
    );
  }
  if (!imageShaped) {
    add(
      "MP006",
      `containerd (through v2.4.x, the latest measured) cannot mount this artifact: it mounts only images (an image config with rootfs.diff_ids and tar image layers), and this manifest's config is ${quote(manifest.config.mediaType)} (containerd#11381). Publish an image variant (modelpack-operator publish-image REFERENCE: an image in the same repository whose subject is this artifact) and the operator mounts that on containerd nodes; without one, the InitContainer strategy pulls the model in every pod`,
    );
  }
  return findings;
}

/** Whether CRI-O handles the manifest as a plain image (unpacked, merged) rather than an artifact. */
function crioSeesImage(manifest: OciManifest): boolean {
  return IMAGE_CONFIG_MEDIA_TYPES.includes(manifest.config.mediaType) && manifest.artifactType === undefined;
}

/** Image config and only tar image layers: the one shape containerd can mount. */
function isImageShaped(manifest: OciManifest): boolean {
  return (
    IMAGE_CONFIG_MEDIA_TYPES.includes(manifest.config.mediaType) &&
    manifest.layers.length > 0 &&
    manifest.layers.every((layer) => IMAGE_LAYER_MEDIA_TYPES.includes(layer.mediaType))
  );
}

function nameAnnotations(layer: OciDescriptor): { title: boolean; cncf: boolean; cnai: boolean } {
  const has = (key: string): boolean => {
    const value = layer.annotations?.[key];
    return value !== undefined && value !== "";
  };
  return {
    title: has(ANNOTATION_TITLE),
    cncf: has(ANNOTATION_FILEPATH),
    cnai: has(LEGACY_ANNOTATION_FILEPATH),
  };
}

/** The name CRI-O ≥ 1.34 would give the layer (title first), for messages. */
function crioName(layer: OciDescriptor): string | undefined {
  const names = layer.annotations ?? {};
  for (const key of [ANNOTATION_TITLE, ANNOTATION_FILEPATH, LEGACY_ANNOTATION_FILEPATH]) {
    const value = names[key];
    if (value !== undefined && value !== "") return value;
  }
  return undefined;
}

/** CRI-O minor versions (1.x) that can name the layer: [from, to). */
function crioNameRange(layer: OciDescriptor): [number, number] {
  const names = nameAnnotations(layer);
  if (names.title || (names.cncf && names.cnai)) return [33, Infinity];
  if (names.cncf) return [34, Infinity];
  if (names.cnai) return [33, 34];
  return [Infinity, Infinity];
}

function crioMountability(manifest: OciManifest): RuntimeMountability {
  if (crioSeesImage(manifest)) {
    return {
      mountable: true,
      minVersion: "1.31.0",
      reason: "CRI-O mounts it as an OCI image: its layers are unpacked and merged into the volume",
    };
  }
  if (manifest.layers.length === 0) {
    return { mountable: false, reason: "the artifact has no layers, so the volume would be empty" };
  }
  const unnamed: number[] = [];
  const archives: number[] = [];
  let from = 33;
  let to = Infinity;
  manifest.layers.forEach((layer, index) => {
    const [layerFrom, layerTo] = crioNameRange(layer);
    if (layerFrom === Infinity) unnamed.push(index);
    from = Math.max(from, layerFrom);
    to = Math.min(to, layerTo);
    if (isArchiveMediaType(layer.mediaType)) archives.push(index);
  });
  const problems: string[] = [];
  if (unnamed.length > 0) {
    problems.push(
      `CRI-O skips layers without "${ANNOTATION_TITLE}" or a filepath annotation, so ${layerList(unnamed)} would be missing from the pod`,
    );
  } else if (from >= to) {
    problems.push(
      `no CRI-O version can name every layer: some carry only "${LEGACY_ANNOTATION_FILEPATH}" (read by CRI-O 1.33 only) and others only "${ANNOTATION_FILEPATH}" (read from CRI-O 1.34); add "${ANNOTATION_TITLE}" to every layer`,
    );
  }
  if (archives.length > 0) {
    problems.push(
      `CRI-O bind-mounts layer blobs without unpacking them, so ${layerList(archives)} would appear as ${archives.length === 1 ? "an archive file" : "archive files"} instead of the files inside`,
    );
  }
  if (problems.length > 0) return { mountable: false, reason: problems.join("; ") };
  const range =
    to === Infinity
      ? `${versionOf(from)} and later`
      : `${versionOf(from)} up to (not including) ${versionOf(to)}`;
  return {
    mountable: true,
    minVersion: versionOf(from),
    ...(to === Infinity ? {} : { maxVersionExclusive: versionOf(to) }),
    reason: `CRI-O ${range} mounts it as an OCI artifact, each layer as a read-only file, provided oci_artifact_mount_support is on (the default; OpenShift 4.20 turns it off)`,
  };
}

function containerdMountability(manifest: OciManifest): RuntimeMountability {
  if (isImageShaped(manifest)) {
    return {
      mountable: true,
      minVersion: "2.1.0",
      reason:
        "containerd 2.1 and later unpack image-shaped content into the volume; subPath needs 2.2 (2.1 silently ignores it)",
    };
  }
  return {
    mountable: false,
    reason: `containerd (through v2.4.x, the latest measured) mounts only images (an image config and tar image layers), not OCI artifacts; this manifest's config is ${quote(manifest.config.mediaType)}`,
  };
}

function versionOf(minor: number): string {
  return `1.${minor}.0`;
}

function layerLabel(layer: OciDescriptor, index: number): string {
  const name = crioName(layer);
  return name === undefined ? `layer ${index}` : `layer ${index} (${quote(name)})`;
}

function layerList(indices: readonly number[]): string {
  const shown = indices.slice(0, 5).join(", ");
  const more = indices.length > 5 ? ` and ${indices.length - 5} more` : "";
  return `${indices.length === 1 ? "layer" : "layers"} ${shown}${more}`;
}
