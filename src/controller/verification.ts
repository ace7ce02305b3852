/**
 * The signature step of a reconcile (I/O): which requirements apply to a ModelDeployment (the
 * operator's verification policy, then its own spec.model.verify, whose keys and trusted root
 * are read by name from ConfigMaps and Secrets of its namespace), and the verdict on the digest
 * it resolved. The verdict itself comes from src/signature (shared with the CLI, cached by
 * digest and requirements), so 2,000 ModelDeployments of one model cost one verification.
 */
import { z } from "zod";
import type { ModelDeployment, ModelVerification } from "../api/index.js";
import { RegistryClient, type RegistryClientOptions } from "../oci/client.js";
import type { ImageReference } from "../oci/reference.js";
import { KubeApiError } from "../runtime/kube-errors.js";
import {
  applicableRules,
  requirementFingerprint,
  ruleRequirement,
  type Requirement,
  type SignatureRegistry,
  type SignatureVerifier,
  type VerificationFailureReason,
  type VerificationPolicy,
  type VerifiedSignature,
} from "../signature/index.js";
import type { LookupCredentials } from "./artifact-cache.js";
import { clientPool } from "./client-pool.js";
import type { ControllerKubeApi } from "./kube-api.js";

/** The administrator's policy with each rule's trusted root read (run --verification-policy). */
export interface LoadedVerificationPolicy {
  readonly policy: VerificationPolicy;
  /** Trusted root JSON by rule name, for rules that name one. */
  readonly trustedRoots: ReadonlyMap<string, string>;
}

/** Why the digest is not verified; `transient` failures are retried with backoff. */
export interface VerificationFailure {
  readonly reason: VerificationFailureReason;
  readonly message: string;
  readonly transient: boolean;
}

/** What the signature step observed; absent from an Observation when nothing requires signatures. */
export interface VerificationObservation {
  /** Fingerprint of the requirements (requirementFingerprint); "" when they could not be read. */
  readonly requirement: string;
  readonly outcome:
    | { readonly verified: readonly VerifiedSignature[] }
    | { readonly failure: VerificationFailure }
    /** The reference did not resolve: nothing to verify this time. */
    | { readonly notChecked: true };
}

/** The signature step, as the reconciler calls it. */
export interface ModelVerifier {
  /**
   * The requirements that apply to `md` and, when `pinned` (the resolved digest) is given, the
   * verdict on it; undefined when no requirement applies. Throws only for Kubernetes API failures
   * other than NotFound/Forbidden (retried with backoff).
   */
  observe(
    md: ModelDeployment,
    namespace: string,
    reference: ImageReference,
    pinned: (ImageReference & { readonly digest: string }) | undefined,
    credentials: LookupCredentials,
    signal?: AbortSignal,
  ): Promise<VerificationObservation | undefined>;
}

export interface ModelVerifierOptions {
  readonly kube: Pick<ControllerKubeApi, "getSecret" | "getConfigMap">;
  readonly verifier: SignatureVerifier;
  readonly policy?: LoadedVerificationPolicy;
  /** Options of the registry clients signatures are read with (one per credential identity). */
  readonly client: Omit<RegistryClientOptions, "credentials">;
  /** Registry clients kept; the oldest is closed first. Default 100. */
  readonly maxClients?: number;
  /** Makes the registry clients (tests pass a fake). Default `new RegistryClient(options)`. */
  readonly createClient?: (options: RegistryClientOptions) => SignatureRegistry & { close(): Promise<void> };
}

const ConfigMapData = z.looseObject({ data: z.record(z.string(), z.string()).optional() });
const SecretData = z.looseObject({ data: z.record(z.string(), z.string()).optional() });

type Read = { readonly text: string } | { readonly failure: VerificationFailure };

/** Creates the signature step. */
export function createModelVerifier(options: ModelVerifierOptions): ModelVerifier {
  const maxClients = options.maxClients ?? 100;
  const create = options.createClient ?? ((o: RegistryClientOptions) => new RegistryClient(o));
  const registryFor: (credentials: LookupCredentials) => SignatureRegistry = clientPool(
    create,
    options.client,
    maxClients,
  );

  const unavailable = (message: string, transient = false): { failure: VerificationFailure } => ({
    failure: { reason: "VerificationUnavailable", message, transient },
  });

  async function read(
    namespace: string,
    kind: "ConfigMap" | "Secret",
    name: string,
    key: string,
    field: string,
    signal?: AbortSignal,
  ): Promise<Read> {
    let raw: unknown;
    try {
      raw =
        kind === "ConfigMap"
          ? await options.kube.getConfigMap(namespace, name, signal)
          : await options.kube.getSecret(namespace, name, signal);
    } catch (err) {
      if (err instanceof KubeApiError && (err.code === "NotFound" || err.code === "Forbidden"))
        return unavailable(
          err.code === "NotFound"
            ? `${kind} ${namespace}/${name}, which ${field} names, does not exist; create it or fix ${field}`
            : `the operator may not read ${kind} ${namespace}/${name}, which ${field} names; grant it get on ${kind === "ConfigMap" ? "configmaps" : "secrets"} (deploy/rbac.yaml)`,
        );
      throw err;
    }
    const parsed = (kind === "ConfigMap" ? ConfigMapData : SecretData).safeParse(raw);
    const value = parsed.success ? parsed.data.data?.[key] : undefined;
    if (value === undefined)
      return unavailable(
        `${kind} ${namespace}/${name} has no key ${key}, which ${field} names; add it or fix ${field}`,
      );
    return { text: kind === "Secret" ? Buffer.from(value, "base64").toString("utf8") : value };
  }

  /** spec.model.verify as a requirement, its keys and trusted root read. */
  async function specRequirement(
    verify: ModelVerification,
    namespace: string,
    signal?: AbortSignal,
  ): Promise<{ requirement: Requirement } | { failure: VerificationFailure }> {
    const keys = [];
    for (const [i, source] of (verify.publicKeys ?? []).entries()) {
      const ref = source.configMapKeyRef ?? source.secretKeyRef;
      if (ref === undefined) continue;
      const kind = source.configMapKeyRef !== undefined ? "ConfigMap" : "Secret";
      const got = await read(
        namespace,
        kind,
        ref.name,
        ref.key,
        `spec.model.verify.publicKeys[${i}]`,
        signal,
      );
      if ("failure" in got) return got;
      keys.push({ name: `${kind} ${namespace}/${ref.name} key ${ref.key}`, pem: got.text });
    }
    let trustedRoot: string | undefined;
    const rootRef = verify.trustedRoot?.configMapKeyRef;
    if (rootRef !== undefined) {
      const got = await read(
        namespace,
        "ConfigMap",
        rootRef.name,
        rootRef.key,
        "spec.model.verify.trustedRoot",
        signal,
      );
      if ("failure" in got) return got;
      trustedRoot = got.text;
    }
    return {
      requirement: {
        source: "spec.model.verify",
        keys,
        identities: verify.identities ?? [],
        ...(trustedRoot !== undefined && { trustedRoot }),
        requireTransparencyLog: verify.requireTransparencyLog === true,
      },
    };
  }

  return {
    async observe(md, namespace, reference, pinned, credentials, signal) {
      const requirements: Requirement[] = applicableRules(
        options.policy?.policy,
        reference.registry,
        reference.repository,
      ).map((rule) => ruleRequirement(rule, options.policy?.trustedRoots.get(rule.name)));
      const verify = md.spec.model.verify;
      if (verify !== undefined) {
        const own = await specRequirement(verify, namespace, signal);
        if ("failure" in own) return { requirement: "", outcome: own };
        requirements.push(own.requirement);
      }
      if (requirements.length === 0) return undefined;
      const requirement = requirementFingerprint(requirements);
      if (pinned === undefined) return { requirement, outcome: { notChecked: true } };
      const verdict = await options.verifier.verify(registryFor(credentials), pinned, requirements, {
        scope: credentials.identity,
        ...(signal !== undefined && { signal }),
      });
      return verdict.verified
        ? { requirement, outcome: { verified: verdict.signatures } }
        : {
            requirement,
            outcome: {
              failure: { reason: verdict.reason, message: verdict.message, transient: verdict.transient },
            },
          };
    },
  };
}
