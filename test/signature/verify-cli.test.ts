import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { pickFreePorts } from "../harness/ports.js";
import { attachBundle, useCosign, type Cosign } from "../support/cosign.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

/** Runs the CLI in-process and captures what it prints. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  stderr.on("data", (c: Buffer) => (err += c.toString()));
  const code = await main(args, { stdout, stderr, env: { HOME: "/nonexistent" } });
  return { code, stdout: out, stderr: err };
}

interface Pushed {
  readonly reference: string;
  readonly pinned: string;
  readonly digest: string;
  readonly size: number;
}

async function push(registry: TestRegistry, repository: string, content: string): Promise<Pushed> {
  const artifact = await buildModelPackArtifact([{ path: "model.safetensors", content }]);
  const digest = await pushArtifact(registry, repository, "v1", artifact);
  return {
    reference: `${registry.host}/${repository}:v1`,
    pinned: `${registry.host}/${repository}@${digest}`,
    digest,
    size: artifact.manifestBytes.byteLength,
  };
}

/**
 * `verify` and `inspect` against real registries on loopback, with signatures cosign v3 wrote:
 * every case of the issue, each with its exit code and reason.
 */
describe("modelpack-operator verify (cosign v3 signatures)", () => {
  let cosign: Cosign;
  let olareg: TestRegistry;
  let distribution: TestRegistry;
  let work: string;
  let trusted: { key: string; pub: string };
  let other: { key: string; pub: string };

  beforeAll(async () => {
    cosign = await useCosign();
    [olareg, distribution] = await Promise.all([
      startRegistry({ kind: "olareg" }),
      startRegistry({ kind: "distribution" }),
    ]);
    work = await mkdtemp(join(tmpdir(), "mpo-verify-"));
    trusted = await cosign.generateKeyPair(work, "trusted");
    other = await cosign.generateKeyPair(work, "other");
  }, 600_000);
  afterAll(async () => {
    await olareg?.stop();
    await distribution?.stop();
  });

  const verify = (registry: TestRegistry, reference: string, ...flags: string[]) =>
    cli(["verify", reference, "--plain-http", ...flags]);

  it("exit 0: a bundle attached through the referrers API (olareg) names the key and the signature", async () => {
    const model = await push(olareg, "models/signed", "a");
    await cosign.sign(model.pinned, trusted.key);
    const text = await verify(olareg, model.reference, "--key", trusted.pub);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Verified: ${model.pinned}`);
    expect(text.stdout).toMatch(/signer: +key sha256:[0-9a-f]{64}/);
    expect(text.stdout).toMatch(/signature: sha256:[0-9a-f]{64} \(referrers\)/);
    const json = await verify(olareg, model.reference, "--key", trusted.pub, "-o", "json");
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ verified: true, digest: model.digest });
    const inspected = await cli(["inspect", model.reference, "--plain-http", "-o", "json"]);
    expect(JSON.parse(inspected.stdout).signatures).toEqual([
      expect.objectContaining({ source: "referrers", signer: expect.stringMatching(/^key /) }),
    ]);
  });

  it("exit 0: on a registry without the referrers API (distribution) through the sha256-<hex> tag", async () => {
    const model = await push(distribution, "models/signed", "b");
    await cosign.sign(model.pinned, trusted.key);
    const result = await verify(distribution, model.reference, "--key", trusted.pub);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("(referrers-tag)");
  });

  it("exit 0: a cosign v2-style .sig tag (cosign v3 --new-bundle-format=false)", async () => {
    const model = await push(distribution, "models/legacy", "c");
    await cosign.sign(model.pinned, trusted.key, { legacy: true });
    const result = await verify(distribution, model.reference, "--key", trusted.pub);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("(legacy-tag)");
    const inspected = await cli(["inspect", model.reference, "--plain-http"]);
    expect(inspected.stdout).toContain("legacy-tag");
  });

  it("exit 1 SignatureMissing: unsigned", async () => {
    for (const registry of [olareg, distribution]) {
      const model = await push(registry, "models/unsigned", "d");
      const result = await verify(registry, model.reference, "--key", trusted.pub, "-o", "json");
      expect(result.code).toBe(1);
      expect(JSON.parse(result.stdout)).toMatchObject({ verified: false, reason: "SignatureMissing" });
    }
  });

  it("exit 1 UntrustedSigner: signed by another key", async () => {
    const model = await push(olareg, "models/other-key", "e");
    await cosign.sign(model.pinned, other.key);
    const result = await verify(olareg, model.reference, "--key", trusted.pub, "-o", "json");
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ reason: "UntrustedSigner" });
    // The same signature verifies with the key that made it.
    expect((await verify(olareg, model.reference, "--key", other.pub)).code).toBe(0);
  });

  it("exit 1 SignatureInvalid: a valid signature of another digest, attached to this one", async () => {
    const signedOne = await push(olareg, "models/elsewhere", "f");
    const target = await push(olareg, "models/copied", "g");
    const bundle = join(work, "elsewhere.json");
    await cosign.sign(signedOne.pinned, trusted.key, { bundleOut: bundle, upload: false });
    await attachBundle(
      olareg.host,
      "models/copied",
      { digest: target.digest, size: target.size, mediaType: "application/vnd.oci.image.manifest.v1+json" },
      await readFile(bundle),
    );
    const result = await verify(olareg, target.reference, "--key", trusted.pub, "-o", "json");
    expect(result.code).toBe(1);
    const answer = JSON.parse(result.stdout);
    expect(answer.reason).toBe("SignatureInvalid");
    expect(answer.message).toContain(`signs ${signedOne.digest}, not ${target.digest}`);
  });

  it("exit 1 SignatureInvalid: a tampered bundle (its signature altered)", async () => {
    const model = await push(olareg, "models/tampered", "h");
    const path = join(work, "tampered.json");
    await cosign.sign(model.pinned, trusted.key, { bundleOut: path, upload: false });
    const bundle = JSON.parse(await readFile(path, "utf8"));
    const sig: string = bundle.dsseEnvelope.signatures[0].sig;
    const bytes = Buffer.from(sig, "base64");
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 0x01;
    bundle.dsseEnvelope.signatures[0].sig = bytes.toString("base64");
    await writeFile(path, JSON.stringify(bundle));
    await attachBundle(
      olareg.host,
      "models/tampered",
      { digest: model.digest, size: model.size, mediaType: "application/vnd.oci.image.manifest.v1+json" },
      await readFile(path),
    );
    const result = await verify(olareg, model.reference, "--key", trusted.pub, "-o", "json");
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ reason: "SignatureInvalid" });
  });

  it("exit 2 usage: no key or identity; keyless without a trusted root", async () => {
    expect((await verify(olareg, `${olareg.host}/models/x:v1`)).code).toBe(2);
    const keyless = await verify(
      olareg,
      `${olareg.host}/models/x:v1`,
      "--certificate-identity",
      "ci@example.com",
      "--certificate-oidc-issuer",
      "https://issuer.example.com",
    );
    expect(keyless.code).toBe(2);
    expect(keyless.stderr).toContain("--trusted-root");
  });

  it("exit 3: the registry does not answer", async () => {
    const [port] = await pickFreePorts(1);
    const result = await cli([
      "verify",
      `127.0.0.1:${port}/models/x:v1`,
      "--plain-http",
      "--key",
      trusted.pub,
    ]);
    expect(result.code).toBe(3);
  });
});
