import { inspectArtifact, type ArtifactInspection } from "../../artifact/inspect.js";
import { layerFilePath, parseLayerMediaType } from "../../modelpack/index.js";
import { RegistryClient } from "../../oci/client.js";
import { parseReference } from "../../oci/reference.js";
import { formatBytes, issueLine, shortDigest, table } from "../format.js";
import { describeError } from "../../errors.js";
import { RegistryError } from "../../oci/errors.js";
import {
  describeSignature,
  findBundles,
  findLegacySignatures,
  type SignatureRegistry,
} from "../../signature/index.js";
import { findVariant } from "../../artifact/find-variant.js";
import { formatPlatform } from "../../artifact/image-variant.js";
import { pinnedReference } from "../../oci/reference.js";
import type { ImageReference } from "../../oci/reference.js";
import { EXIT, print, type CliIo } from "../io.js";
import { registryClientOptions, type RegistryFlags } from "../registry-options.js";

export interface InspectOptions extends RegistryFlags {
  readonly reference: string;
  readonly output: "text" | "json";
}

/** The signatures found beside an artifact (unverified: `verify` checks them), or why not. */
export type FoundSignatures =
  | { readonly signatures: readonly { signatureDigest: string; source: string; signer: string }[] }
  | { readonly error: string };

/** Lists the cosign signatures of `digest` and whom they name; registry failures become `error`. */
export async function listSignatures(
  registry: SignatureRegistry,
  ref: { registry: string; repository: string },
  digest: string,
  signal?: AbortSignal,
): Promise<FoundSignatures> {
  try {
    const found = [
      ...(await findBundles(registry, ref, digest, signal)),
      ...(await findLegacySignatures(registry, ref, digest, signal)),
    ];
    return {
      signatures: found.map((f) => ({
        signatureDigest: f.signatureDigest,
        source: f.source,
        signer: describeSignature(f),
      })),
    };
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    return { error: describeError(err) };
  }
}

/** The artifact's image variant (publish-image), whether it matches, or why it could not be looked for. */
export type FoundImageVariant =
  | {
      readonly variant?: {
        readonly digest: string;
        readonly reference: string;
        readonly matches: boolean;
        readonly problems: readonly string[];
        readonly platforms: readonly string[];
      };
      readonly via: "api" | "tag";
    }
  | { readonly error: string };

/** Looks for the image variant of an inspected artifact; registry failures become `error`. */
export async function lookUpImageVariant(
  client: RegistryClient,
  ref: ImageReference,
  result: ArtifactInspection,
  signal?: AbortSignal,
): Promise<FoundImageVariant | undefined> {
  if (result.manifest === undefined || !result.valid) return undefined;
  const repo = { registry: ref.registry, repository: ref.repository };
  try {
    const found = await findVariant(
      client,
      repo,
      { digest: result.digest, manifest: result.manifest },
      signal,
    );
    const v = found.variant;
    return {
      via: found.via,
      ...(v !== undefined && {
        variant: {
          digest: v.digest,
          reference: pinnedReference(repo, v.digest),
          matches: v.problems.length === 0,
          problems: v.problems,
          platforms: v.images.map((i) => formatPlatform(i.platform)),
        },
      }),
    };
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    return { error: describeError(err) };
  }
}

function imageVariantText(found: FoundImageVariant, reference: string): string[] {
  if ("error" in found) return [`Image variant: could not be looked for (${found.error})`];
  const v = found.variant;
  const via = found.via === "api" ? "referrers API" : "referrers tag";
  if (v === undefined)
    return [
      `Image variant: none (${via}); containerd nodes need one to mount this artifact as an image volume: modelpack-operator publish-image ${reference}`,
    ];
  if (v.matches)
    return [
      `Image variant: ${v.reference} (matches the artifact; ${v.platforms.join(", ")}; found through the ${via})`,
    ];
  return [
    `Image variant: ${v.reference} does NOT match the artifact (the operator ignores it): ${v.problems.join("; ")}. Publish a new one: modelpack-operator publish-image --force ${reference}`,
  ];
}

/** The JSON shape of `inspect --output json`; stable for scripts. */
export function inspectionJson(
  result: ArtifactInspection,
  signatures?: FoundSignatures,
  imageVariant?: FoundImageVariant,
): Record<string, unknown> {
  return {
    reference: result.reference,
    pinnedReference: result.pinnedReference,
    digest: result.digest,
    ...(result.indexDigest !== undefined && { indexDigest: result.indexDigest }),
    mediaType: result.mediaType,
    artifactType: result.artifactType ?? null,
    valid: result.valid,
    summary: result.summary ?? null,
    config: result.configJson ?? null,
    layers: (result.manifest?.layers ?? []).map((layer) => ({
      mediaType: layer.mediaType,
      digest: layer.digest,
      size: layer.size,
      path: layerFilePath(layer) ?? null,
    })),
    errors: result.errors,
    warnings: result.warnings,
    lint: result.lint,
    ...(result.legacy !== undefined && { legacy: result.legacy }),
    ...(signatures !== undefined &&
      ("error" in signatures
        ? { signaturesError: signatures.error }
        : { signatures: signatures.signatures })),
    ...(imageVariant !== undefined &&
      ("error" in imageVariant
        ? { imageVariantError: imageVariant.error }
        : { imageVariant: imageVariant.variant ?? null, imageVariantVia: imageVariant.via })),
  };
}

function signaturesText(signatures: FoundSignatures): string[] {
  if ("error" in signatures) return [`Signatures: could not be listed (${signatures.error})`];
  if (signatures.signatures.length === 0)
    return ["Signatures: none (cosign verify or modelpack-operator verify would fail)"];
  return [
    "Signatures (unverified; check them with modelpack-operator verify):",
    table(signatures.signatures.map((s) => [s.source, shortDigest(s.signatureDigest), s.signer])),
  ];
}

function inspectionText(result: ArtifactInspection): string {
  const s = result.summary;
  const model =
    s === undefined
      ? "-"
      : [s.name ?? "(unnamed)", s.family && `family ${s.family}`, s.version && `version ${s.version}`]
          .filter(Boolean)
          .join(", ");
  const shape =
    s === undefined
      ? "-"
      : [s.architecture, s.format, s.paramSize && `${s.paramSize} parameters`, s.precision, s.quantization]
          .filter(Boolean)
          .join(", ") || "-";
  const lines = [
    table(
      [
        ["Reference:", result.reference],
        ["Pinned:", result.pinnedReference],
        ["Artifact type:", result.artifactType ?? "(none)"],
        ["Model:", model],
        ["Details:", shape],
        [
          "Size:",
          s === undefined
            ? "-"
            : `${formatBytes(s.sizeBytes)} in ${s.layers} layer${s.layers === 1 ? "" : "s"} (${s.files} file${s.files === 1 ? "" : "s"})`,
        ],
      ],
      "",
    ),
  ];
  const layers = result.manifest?.layers ?? [];
  if (layers.length > 0) {
    lines.push("Layers:");
    lines.push(
      table(
        layers.map((layer) => {
          const parsed = parseLayerMediaType(layer.mediaType);
          return [
            parsed?.class ?? "?",
            parsed?.encoding ?? layer.mediaType,
            formatBytes(layer.size),
            shortDigest(layer.digest),
            layerFilePath(layer) ?? "(no path)",
          ];
        }),
      ),
    );
  }
  if (result.legacy !== undefined) lines.push(`Legacy: ${result.legacy.message}`);
  lines.push(
    `Validation: ${result.valid ? "valid" : "INVALID"} (${result.errors.length} error${result.errors.length === 1 ? "" : "s"}, ${result.warnings.length} warning${result.warnings.length === 1 ? "" : "s"})`,
  );
  for (const e of result.errors) lines.push(`  ${issueLine("error", e)}`);
  for (const w of result.warnings) lines.push(`  ${issueLine("warning", w)}`);
  if (result.lint.length > 0) {
    lines.push("Mountability:");
    for (const f of result.lint)
      lines.push(
        `  ${f.code} ${f.severity}${f.layer !== undefined ? ` (layer ${f.layer})` : ""}: ${f.message}`,
      );
  }
  return lines.join("\n");
}

/**
 * `inspect REFERENCE`: resolves, verifies and validates a remote artifact and prints a summary.
 * Exit 0 valid, 1 invalid artifact, 2 usage, 3 registry or network error (thrown to the caller).
 */
export async function inspectCommand(options: InspectOptions, io: CliIo): Promise<number> {
  const ref = parseReference(options.reference);
  const client = new RegistryClient(
    await registryClientOptions(options, ref.registry, io.env, (l) => print(io.stderr, l)),
  );
  try {
    const result = await inspectArtifact(client, ref, io.signal);
    const signatures = await listSignatures(client, ref, result.digest, io.signal);
    const variant = await lookUpImageVariant(client, ref, result, io.signal);
    print(
      io.stdout,
      options.output === "json"
        ? JSON.stringify(inspectionJson(result, signatures, variant), null, 2)
        : [
            inspectionText(result),
            ...signaturesText(signatures),
            ...(variant !== undefined ? imageVariantText(variant, result.pinnedReference) : []),
          ].join("\n"),
    );
    return result.valid ? EXIT.ok : EXIT.invalid;
  } finally {
    await client.close();
  }
}
