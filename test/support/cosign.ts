/**
 * cosign v3 (built from Go modules by build-tools.sh) for signature tests: key pairs, signing
 * with a key into a Sigstore bundle attached as a referrer (or the sha256-<hex> tag where the
 * registry has no referrers API), cosign v2-style `.sig` tags (`--new-bundle-format=false`, which
 * cosign v3 still writes), and attaching a bundle we altered. Offline: no Rekor, Fulcio or TUF.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { z } from "zod";
import { RegistryClient } from "../../src/oci/client.js";
import { ensureTools } from "../harness/tools.js";

const run = promisify(execFile);

export interface Cosign {
  /** Writes `<prefix>.key` and `<prefix>.pub` (empty password) into `dir`; returns their paths. */
  generateKeyPair(dir: string, prefix: string): Promise<{ key: string; pub: string }>;
  /**
   * Signs `reference` (host/repo@digest) with `key`: a v3 bundle (default) or a v2 `.sig` tag;
   * with `bundleOut`, also writes the bundle there; `upload: false` only writes it.
   */
  sign(
    reference: string,
    key: string,
    options?: { legacy?: boolean; bundleOut?: string; upload?: boolean },
  ): Promise<void>;
}

export async function useCosign(): Promise<Cosign> {
  const { cosign } = await ensureTools(["cosign"]);
  const bin = join(cosign, "cosign");
  const env = { ...process.env, COSIGN_PASSWORD: "", COSIGN_YES: "true" };
  return {
    async generateKeyPair(dir, prefix) {
      await run(bin, ["generate-key-pair", "--output-key-prefix", prefix], { cwd: dir, env });
      return { key: join(dir, `${prefix}.key`), pub: join(dir, `${prefix}.pub`) };
    },
    async sign(reference, key, options = {}) {
      await run(
        bin,
        [
          "sign",
          "--key",
          key,
          "--tlog-upload=false",
          "--use-signing-config=false",
          "--allow-http-registry",
          "-y",
          ...(options.legacy === true ? ["--new-bundle-format=false"] : []),
          ...(options.bundleOut !== undefined ? ["--bundle", options.bundleOut] : []),
          ...(options.upload === false ? ["--upload=false"] : []),
          reference,
        ],
        { env, timeout: 60_000 },
      );
    },
  };
}

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/**
 * Attaches `bundle` (bytes, possibly altered) to `subject` in `registry/repository` as cosign v3
 * does: an image manifest with an empty config, the bundle as its one layer and `subject` set.
 * On a registry without the referrers API nothing indexes it (use olareg).
 */
export async function attachBundle(
  registry: string,
  repository: string,
  subject: { digest: string; size: number; mediaType: string },
  bundle: Uint8Array,
): Promise<string> {
  const client = new RegistryClient({ plainHttp: [registry] });
  const ref = { registry, repository };
  const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json";
  const empty = Buffer.from("{}");
  try {
    await client.pushBlob(
      ref,
      { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(empty), size: 2 },
      empty,
    );
    await client.pushBlob(
      ref,
      { mediaType: bundleType, digest: sha256(bundle), size: bundle.byteLength },
      bundle,
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        artifactType: bundleType,
        config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(empty), size: 2 },
        layers: [{ mediaType: bundleType, digest: sha256(bundle), size: bundle.byteLength }],
        subject,
        annotations: { "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1" },
      }),
    );
    return await client.pushManifest(
      { ...ref, digest: sha256(manifest) },
      "application/vnd.oci.image.manifest.v1+json",
      manifest,
    );
  } finally {
    await client.close();
  }
}

/** The bundle cosign wrote to `path`, parsed. */
export async function readBundle(path: string): Promise<Record<string, unknown>> {
  return z.record(z.string(), z.unknown()).parse(JSON.parse(await readFile(path, "utf8")));
}
