import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspectArtifact } from "../src/artifact/inspect.js";
import { createModelVerifier } from "../src/controller/verification.js";
import { ModelDeployment } from "../src/api/index.js";
import { RegistryClient, type RegistryClientOptions } from "../src/oci/client.js";
import { anonymousCredentials } from "../src/oci/credentials.js";
import { systemClock } from "../src/runtime/clock.js";
import { createSignatureVerifier, VerificationPolicy, type Requirement } from "../src/signature/index.js";
import { useCosign } from "../test/support/cosign.js";
import { buildModelPackArtifact, pushArtifact } from "../test/support/publisher.js";
import { startRegistry } from "../test/support/registry.js";

export interface VerifyBenchResult {
  /** p50 of a reconcile's registry work (resolve, manifest, config) with a cold client, ms. */
  readonly inspectP50Ms: number;
  /** p50 of verifying the same artifact's signature with a cold client and cache, ms. */
  readonly verifyP50Ms: number;
  readonly modelDeployments: number;
  readonly models: number;
  /** Signature verifications actually run (not answered from the cache). */
  readonly verifications: number;
  /** Registry requests the signature step made for all ModelDeployments. */
  readonly registryRequests: number;
}

const p50 = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

/**
 * Signature verification's cost: `models` artifacts on a loopback olareg, each signed by cosign
 * v3 with one key. (1) What verifying adds to a reconcile of a signed artifact (cold: no cached
 * verdict, a new registry client), against the reconcile's own registry work as the baseline;
 * (2) `modelDeployments` ModelDeployments over the models, all checked at once through the
 * controller's signature step: verifications run and registry requests.
 */
export async function benchVerify(models = 20, modelDeployments = 2000): Promise<VerifyBenchResult> {
  const cosign = await useCosign();
  const registry = await startRegistry({ kind: "olareg" });
  try {
    const work = await mkdtemp(join(tmpdir(), "mpo-bench-verify-"));
    const keys = await cosign.generateKeyPair(work, "release");
    const pem = await readFile(keys.pub, "utf8");
    const pinned: { registry: string; repository: string; digest: string }[] = [];
    for (let i = 0; i < models; i++) {
      const repository = `prod/model-${i}`;
      const digest = await pushArtifact(
        registry,
        repository,
        "v1",
        await buildModelPackArtifact([{ path: "model.safetensors", content: `weights ${i}` }]),
      );
      await cosign.sign(`${registry.host}/${repository}@${digest}`, keys.key);
      pinned.push({ registry: registry.host, repository, digest });
    }
    const requirement: Requirement = {
      source: "bench",
      keys: [{ name: "release", pem }],
      identities: [],
      requireTransparencyLog: false,
    };
    const options: RegistryClientOptions = { plainHttp: [registry.host] };

    const inspectMs: number[] = [];
    const verifyMs: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const ref of pinned) {
        const a = new RegistryClient(options);
        let start = performance.now();
        await inspectArtifact(a, { ...ref, tag: "v1", digest: undefined });
        inspectMs.push(performance.now() - start);
        await a.close();
        const b = new RegistryClient(options);
        start = performance.now();
        const verdict = await createSignatureVerifier({ clock: systemClock }).verify(b, ref, [requirement]);
        verifyMs.push(performance.now() - start);
        await b.close();
        if (!verdict.verified) throw new Error(`bench: ${ref.repository} did not verify: ${verdict.message}`);
      }
    }

    let registryRequests = 0;
    let verifications = 0;
    const policy = VerificationPolicy.parse({
      rules: [{ name: "prod", repositories: [`${registry.host}/prod/**`], publicKeys: [pem] }],
    });
    const step = createModelVerifier({
      kube: {
        getSecret: () => Promise.reject(new Error("not read")),
        getConfigMap: () => Promise.reject(new Error("not read")),
      },
      verifier: createSignatureVerifier({ clock: systemClock }),
      policy: { policy, trustedRoots: new Map() },
      client: { ...options, onRequest: () => void registryRequests++ },
      createClient: (o) => {
        const client = new RegistryClient(o);
        return {
          getReferrers: (...args) => (verifications++, client.getReferrers(...args)),
          getManifest: (...args) => client.getManifest(...args),
          getBlob: (...args) => client.getBlob(...args),
          close: () => client.close(),
        };
      },
    });
    const observed = await Promise.all(
      Array.from({ length: modelDeployments }, (_, i) => {
        const ref = pinned[i % models]!;
        const md = ModelDeployment.parse({
          apiVersion: "modelpack.dev/v1alpha1",
          kind: "ModelDeployment",
          metadata: { name: `md-${i}`, namespace: "bench" },
          spec: {
            model: { reference: `${ref.registry}/${ref.repository}:v1` },
            selector: { matchLabels: { app: "x" } },
            mount: { path: "/models/x" },
          },
        });
        return step.observe(md, "bench", ref, ref, { store: anonymousCredentials, identity: "" });
      }),
    );
    const unverified = observed.filter((o) => o === undefined || !("verified" in o.outcome)).length;
    if (unverified > 0) throw new Error(`bench: ${unverified} ModelDeployments did not verify`);
    return {
      inspectP50Ms: p50(inspectMs),
      verifyP50Ms: p50(verifyMs),
      modelDeployments,
      models,
      verifications,
      registryRequests,
    };
  } finally {
    await registry.stop();
  }
}
