/**
 * The registry client's push side (blob uploads and manifest PUTs) against real registries on
 * loopback, anonymous and with each auth scheme: what it pushes reads back byte for byte through
 * the same client, a blob already there is not uploaded again, and a streamed body is reopened
 * when the registry challenges the first attempt.
 */
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../src/oci/client.js";
import { parseDockerConfig } from "../../src/oci/credentials.js";
import { RegistryError } from "../../src/oci/errors.js";
import { parseReference } from "../../src/oci/reference.js";
import { sha256 } from "../support/publisher.js";
import { startRegistry, type RegistryOptions, type TestRegistry } from "../support/registry.js";

const setups: [string, RegistryOptions][] = [
  ["distribution, anonymous", { kind: "distribution" }],
  ["distribution, Basic auth", { kind: "distribution", auth: "basic" }],
  ["distribution, Bearer token auth", { kind: "distribution", auth: "token" }],
  ["olareg, anonymous", { kind: "olareg" }],
];

describe.each(setups)("registry client pushes to %s", (_name, options) => {
  let registry: TestRegistry;
  let client: RegistryClient;
  const events: string[] = [];

  beforeAll(async () => {
    registry = await startRegistry(options);
    const auth = Buffer.from(`${registry.username}:${registry.password}`).toString("base64");
    client = new RegistryClient({
      plainHttp: [registry.host],
      ...(options.auth !== undefined && {
        credentials: parseDockerConfig(JSON.stringify({ auths: { [registry.host]: { auth } } }), "test"),
      }),
      onRequest: (e) => events.push(`${e.operation}:${e.result}`),
    });
  });
  afterAll(async () => {
    await client?.close();
    await registry?.stop();
  });

  it("uploads blobs (bytes and streams) and a manifest that read back verified; re-pushing uploads nothing", async () => {
    const ref = parseReference(`${registry.host}/tools/pushed:v1`);
    const layer = Buffer.alloc(3 * 1024 * 1024 + 17, 9);
    const config = Buffer.from(
      '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    );
    const layerDescriptor = {
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: sha256(layer),
      size: layer.length,
    };
    const configDescriptor = {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: sha256(config),
      size: config.length,
    };
    let opened = 0;
    const stream = () => {
      opened++;
      return Readable.from([layer.subarray(0, 1000), layer.subarray(1000)]);
    };
    expect(await client.pushBlob(ref, layerDescriptor, stream)).toBe(true);
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(await client.pushBlob(ref, configDescriptor, config)).toBe(true);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: configDescriptor,
        layers: [layerDescriptor],
      }),
    );
    const digest = await client.pushManifest(ref, "application/vnd.oci.image.manifest.v1+json", manifest);
    expect(digest).toBe(sha256(manifest));

    const fetched = await client.getManifest(ref);
    expect(fetched.digest).toBe(digest);
    expect(Buffer.from(fetched.bytes).equals(manifest)).toBe(true);
    expect(Buffer.from(await client.getBlob(ref, configDescriptor)).equals(config)).toBe(true);
    const chunks: Buffer[] = [];
    for await (const chunk of await client.openBlob(ref, layerDescriptor)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(layer)).toBe(true);

    // Again: both blobs are found, nothing is uploaded, the manifest PUT is idempotent.
    opened = 0;
    expect(await client.pushBlob(ref, layerDescriptor, stream)).toBe(false);
    expect(await client.pushBlob(ref, configDescriptor, config)).toBe(false);
    expect(opened).toBe(0);
    expect(await client.pushManifest(ref, "application/vnd.oci.image.manifest.v1+json", manifest)).toBe(
      digest,
    );
    expect(events).toContain("push:ok");
  });

  it("fails with a RegistryError when the bytes do not match the digest", async () => {
    const ref = parseReference(`${registry.host}/tools/pushed:bad`);
    const bytes = Buffer.from("not what the digest says");
    const error = await client
      .pushBlob(
        ref,
        { mediaType: "application/octet-stream", digest: sha256("other"), size: bytes.length },
        bytes,
      )
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RegistryError);
  });
});
