import {
  DEFAULT_VARIANT_PLATFORMS,
  formatPlatform,
  parsePlatform,
  type Platform,
} from "../../artifact/image-variant.js";
import { publishImage, type PublishedVariant } from "../../artifact/publish-image.js";
import { RegistryClient } from "../../oci/client.js";
import { parseReference } from "../../oci/reference.js";
import { formatBytes, shortDigest, table } from "../format.js";
import { EXIT, print, type CliIo } from "../io.js";
import { registryClientOptions, type RegistryFlags } from "../registry-options.js";
import { UsageError } from "../usage-error.js";

export interface PublishImageCommandOptions extends RegistryFlags {
  readonly reference: string;
  readonly output: "text" | "json";
  /** `linux/amd64,linux/arm64` as given (comma-separated, possibly repeated). */
  readonly platforms: readonly string[];
  readonly tag?: string;
  readonly force: boolean;
}

/** The platforms the flag names, without repeats; UsageError for one that does not parse. */
export function platformsFromFlag(values: readonly string[]): Platform[] {
  const out: Platform[] = [];
  for (const value of values.length === 0 ? DEFAULT_VARIANT_PLATFORMS : values) {
    const platform = parsePlatform(value);
    if (platform === undefined)
      throw new UsageError(`--platform: "${value}" is not os/architecture[/variant], e.g. linux/arm64`);
    if (!out.some((p) => formatPlatform(p) === formatPlatform(platform))) out.push(platform);
  }
  if (out.length > 16) throw new UsageError("--platform: at most 16 platforms");
  return out;
}

/** The JSON shape of `publish-image --output json`; stable for scripts. */
export function publishJson(result: PublishedVariant): Record<string, unknown> {
  return {
    digest: result.digest,
    reference: result.reference,
    subject: result.subject,
    platforms: result.platforms,
    ...(result.tag !== undefined && { tag: result.tag }),
    findable: result.findable,
    layers: result.layers,
    reused: result.layers.filter((l) => l.action !== "uploaded").length,
    uploaded: result.layers.filter((l) => l.action === "uploaded").length,
    uploadedBytes: result.uploadedBytes,
    pushedManifests: result.pushedManifests,
  };
}

function publishText(result: PublishedVariant): string {
  const uploaded = result.layers.filter((l) => l.action === "uploaded");
  const what = {
    reused: "reused (the artifact's blob)",
    present: "already there",
    uploaded: "uploaded",
  } as const;
  return [
    table(
      [
        ["Image variant:", result.reference],
        ["Of artifact:", result.subject],
        ["Platforms:", result.platforms.join(", ")],
        ...(result.tag !== undefined ? [["Tag:", result.tag]] : []),
        [
          "Findable:",
          result.findable.via === "api"
            ? "through the registry's referrers API"
            : `through the referrers tag ${result.findable.tag} (the registry has no referrers API)`,
        ],
        [
          "Uploaded:",
          `${uploaded.length} of ${result.layers.length} layers, ${formatBytes(result.uploadedBytes)} in all, ${result.pushedManifests} manifests pushed`,
        ],
      ],
      "",
    ),
    "Layers:",
    table(
      result.layers.map((l) => [
        what[l.action],
        formatBytes(l.size),
        shortDigest(l.digest),
        l.path === "" ? "(tar entries)" : l.path,
      ]),
    ),
    `Mount it as an image volume (containerd ≥ 2.1): image: {reference: ${result.reference}}. The operator finds it on its own.`,
  ].join("\n");
}

/**
 * `publish-image REFERENCE`: writes the image-shaped variant of a ModelPack artifact into its
 * repository. Exit 0 published (or already there), 1 not a valid ModelPack artifact, 2 usage,
 * 3 registry or network error (thrown to the caller).
 */
export async function publishImageCommand(options: PublishImageCommandOptions, io: CliIo): Promise<number> {
  const ref = parseReference(options.reference);
  const platforms = platformsFromFlag(options.platforms);
  const client = new RegistryClient(
    await registryClientOptions(options, ref.registry, io.env, (l) => print(io.stderr, l)),
  );
  try {
    const result = await publishImage(client, ref, {
      platforms,
      force: options.force,
      ...(options.tag !== undefined && { tag: options.tag }),
      ...(io.signal !== undefined && { signal: io.signal }),
      onLayer: (plan, i, total) => {
        if (options.output === "text" && plan.kind === "wrap")
          print(
            io.stderr,
            `layer ${i + 1}/${total}: wrapping ${plan.path} (${formatBytes(plan.source.size)}) into a tar layer`,
          );
      },
    });
    if ("invalid" in result) {
      print(
        options.output === "json" ? io.stdout : io.stderr,
        options.output === "json"
          ? JSON.stringify({ error: { code: "InvalidArtifact", message: result.reason } })
          : `error: ${result.reason}`,
      );
      return EXIT.invalid;
    }
    print(
      io.stdout,
      options.output === "json" ? JSON.stringify(publishJson(result), null, 2) : publishText(result),
    );
    return EXIT.ok;
  } finally {
    await client.close();
  }
}
