/**
 * `modelpack.dev/v1alpha1` ModelDeployment: the one source of truth for its shape. The TypeScript
 * types are inferred from these schemas, and the CRD in `crds/` is generated from them
 * (scripts/generate-crds.ts), so every `.describe()` text below is what `kubectl explain` prints.
 *
 * Parsing: `z.input<typeof X>` is what users write; `z.infer<typeof X>` is the parsed value, with
 * defaults applied — the same defaults the apiserver applies, because the CRD carries them.
 * Unknown fields are dropped, not rejected: the apiserver already rejects them for users
 * (`kubectl apply` validates strictly) and prunes what it stores, and a controller that is older
 * than its CRD keeps working.
 */
import { z } from "zod";
import { listMap, listSet, maxProperties } from "./collection.js";
import { API_VERSION, KIND } from "./names.js";
import { withRules } from "./rule.js";
import {
  containerNameRule,
  identitySubjectOneOfRule,
  keySourceOneOfRule,
  verifyNotEmptyRule,
  expressionValuesForbiddenRule,
  expressionValuesRequiredRule,
  labelKeyRule,
  labelKeysRule,
  labelValueRule,
  MAX_PATH_LENGTH,
  MAX_REFERENCE_LENGTH,
  mountPathAbsoluteRule,
  mountPathNoDotDotRule,
  mountPathNotRootRule,
  referenceRegistryRule,
  referenceSyntaxRule,
  refreshIntervalFormatRule,
  refreshIntervalMinimumRule,
  secretNameRule,
  selectorNotEmptyRule,
  subPathNoDotDotRule,
  subPathRelativeRule,
} from "./validation-rules.js";

// ---------------------------------------------------------------------------------------------
// Limits. Lists and strings are bounded so that the apiserver can bound the cost of the CEL rules,
// and so that a status stays a few kilobytes however badly an artifact fails validation.

/** Findings kept per list in `status.validation`; the counts there give the totals. */
export const MAX_STATUS_ISSUES = 10;
export const MAX_ISSUE_CODE_LENGTH = 64;
export const MAX_ISSUE_PATH_LENGTH = 256;
export const MAX_ISSUE_MESSAGE_LENGTH = 512;
/** metav1.Condition's own limit; setCondition keeps messages far shorter (see conditions.ts). */
export const MAX_CONDITION_MESSAGE_LENGTH = 32768;
export const MAX_CONDITIONS = 16;

// ---------------------------------------------------------------------------------------------
// Enums

export const Strategy = z
  .enum(["Auto", "ImageVolume", "InitContainer"])
  .describe(
    "How the model reaches the pods. ImageVolume: a Kubernetes image volume pinned to the digest " +
      "(needs an apiserver that keeps image volumes and node runtimes that can mount the artifact). " +
      "InitContainer: an emptyDir filled by a verified pull in an init container, which works everywhere. " +
      "Auto: ImageVolume where both checks pass, else InitContainer; status.strategy and the " +
      "MountSupported condition say which was chosen and why.",
  );
export type Strategy = z.infer<typeof Strategy>;

export const EffectiveStrategy = z
  .enum(["ImageVolume", "InitContainer"])
  .describe("The mount strategy in effect: ImageVolume or InitContainer (never Auto).");
export type EffectiveStrategy = z.infer<typeof EffectiveStrategy>;

export const UpdatePolicy = z
  .enum(["Rollout", "Pinned"])
  .describe(
    "What a new digest (a tag that moved) does to running workloads. Rollout: the Deployments, " +
      "StatefulSets and DaemonSets that own selected pods are restarted so every pod mounts the new " +
      "digest. Pinned: running pods keep the digest they started with; only pods created later get " +
      "the new one.",
  );
export type UpdatePolicy = z.infer<typeof UpdatePolicy>;

export const ConditionStatus = z
  .enum(["True", "False", "Unknown"])
  .describe("Status of the condition: True, False or Unknown.");
export type ConditionStatus = z.infer<typeof ConditionStatus>;

// ---------------------------------------------------------------------------------------------
// Spec

export const PullSecretReference = z
  .object({
    name: withRules(z.string().max(253), [secretNameRule]).describe(
      "Name of a Secret of type kubernetes.io/dockerconfigjson in the ModelDeployment's namespace.",
    ),
  })
  .describe("A Secret in the ModelDeployment's namespace, by name.");
export type PullSecretReference = z.infer<typeof PullSecretReference>;

const KeySelector = z
  .object({
    name: withRules(z.string().max(253), [secretNameRule]).describe("Name of the object in this namespace."),
    key: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[-._a-zA-Z0-9]+$/)
      .describe("The key whose value is the PEM public key, e.g. cosign.pub."),
  })
  .describe("A key of a ConfigMap or Secret in the ModelDeployment's namespace.");

export const PublicKeySource = withRules(
  z.object({
    configMapKeyRef: KeySelector.optional().describe("A ConfigMap key holding the PEM public key."),
    secretKeyRef: KeySelector.optional().describe("A Secret key holding the PEM public key."),
  }),
  [keySourceOneOfRule],
).describe(
  "A trusted public key (PEM: ECDSA P-256, Ed25519 or RSA, as cosign generate-key-pair writes cosign.pub), read from a ConfigMap or Secret in this namespace by name.",
);
export type PublicKeySource = z.infer<typeof PublicKeySource>;

export const SignerIdentity = withRules(
  z.object({
    issuer: z
      .string()
      .min(1)
      .max(1024)
      .describe(
        "The OIDC issuer the signing certificate names, e.g. https://token.actions.githubusercontent.com.",
      ),
    subject: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .describe("The exact identity the certificate names (an e-mail, or a CI workflow URL)."),
    subjectRegExp: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .describe("A regular expression the certificate's identity must match; anchor it with ^ and $."),
  }),
  [identitySubjectOneOfRule],
).describe("A keyless signer: a Sigstore certificate identity and its OIDC issuer.");
export type SignerIdentity = z.infer<typeof SignerIdentity>;

export const ModelVerification = withRules(
  z.object({
    publicKeys: z
      .array(PublicKeySource)
      .max(8)
      .optional()
      .describe("Trusted public keys: a signature by any one of them verifies the model."),
    identities: z
      .array(SignerIdentity)
      .max(8)
      .optional()
      .describe("Trusted keyless signers: a signature by any one of them verifies the model."),
    trustedRoot: z
      .object({ configMapKeyRef: KeySelector })
      .optional()
      .describe(
        "A Sigstore trusted root (JSON) in a ConfigMap of this namespace: the certificate authorities " +
          "and transparency logs keyless signatures and transparency-log entries are checked against. " +
          "Required for identities; verification never contacts Fulcio, Rekor or TUF.",
      ),
    requireTransparencyLog: z
      .boolean()
      .optional()
      .describe("Accept only signatures with a transparency-log entry that the trusted root verifies."),
  }),
  [verifyNotEmptyRule],
).describe(
  "Who must have signed the model (cosign): the digest is verified before any pod gets it, and Ready " +
    "waits for the Verified condition. Adds to the operator's verification policy; it cannot weaken it.",
);
export type ModelVerification = z.infer<typeof ModelVerification>;

export const ModelSource = z
  .object({
    reference: withRules(z.string().max(MAX_REFERENCE_LENGTH), [
      referenceRegistryRule,
      referenceSyntaxRule,
    ]).describe(
      "OCI reference of a CNCF ModelPack model artifact: host[:port]/repository[:tag][@digest], e.g. " +
        "registry.example.com/models/llama3-8b:v1 or registry.example.com/models/llama3-8b@sha256:<64 hex>. " +
        "The registry host is required; short names are not expanded to docker.io. A tag is resolved to " +
        "a digest, and pods mount that digest, never the tag; a digest reference is used as is.",
    ),
    pullSecrets: listMap(z.array(PullSecretReference).max(16), "name")
      .optional()
      .describe(
        "Secrets with registry credentials (type kubernetes.io/dockerconfigjson), in this namespace only. " +
          "The operator reads only the Secrets named here, never lists Secrets, and gives them to the " +
          "pods that mount the model. Omit for public repositories.",
      ),
    refreshInterval: withRules(z.string().max(32), [refreshIntervalFormatRule, refreshIntervalMinimumRule])
      .default("10m")
      .describe(
        "How often a tag is resolved again to see whether it moved: a duration such as 30s, 10m, 1h " +
          "or 1h30m, at least 30s; 0 resolves the tag once and never again. Digest references are " +
          "never re-resolved. Default 10m.",
      ),
    verify: ModelVerification.optional(),
  })
  .describe("The model artifact to serve and how to reach it.");
export type ModelSource = z.infer<typeof ModelSource>;

export const LabelSelectorOperator = z
  .enum(["In", "NotIn", "Exists", "DoesNotExist"])
  .describe(
    "How the label's value is tested: In (one of values), NotIn (none of values), Exists " +
      "(the pod has the label), DoesNotExist (it does not).",
  );

const LabelValue = withRules(z.string().max(63), [labelValueRule]);

export const LabelSelectorRequirement = withRules(
  z.object({
    key: withRules(z.string().max(317), [labelKeyRule]).describe("The label key the requirement tests."),
    operator: LabelSelectorOperator,
    values: z
      .array(LabelValue)
      .max(64)
      .optional()
      .describe("Label values: at least one for In and NotIn; none for Exists and DoesNotExist."),
  }),
  [expressionValuesRequiredRule, expressionValuesForbiddenRule],
).describe("One requirement on a pod's labels.");
export type LabelSelectorRequirement = z.infer<typeof LabelSelectorRequirement>;

export const LabelSelector = withRules(
  z.object({
    matchLabels: withRules(maxProperties(z.record(z.string(), LabelValue.describe("A label value.")), 32), [
      labelKeysRule,
    ])
      .optional()
      .describe("Labels a pod must all have, with exactly these values."),
    matchExpressions: z
      .array(LabelSelectorRequirement)
      .max(32)
      .optional()
      .describe("Requirements a pod's labels must all meet."),
  }),
  [selectorNotEmptyRule],
).describe(
  "Which pods in this namespace mount the model: a standard label selector; matchLabels and " +
    "matchExpressions must all hold. It must not be empty. Pods get the model when they are created; " +
    "pods that run already get it through a rollout of their owner (see updatePolicy).",
);
export type LabelSelector = z.infer<typeof LabelSelector>;

export const Mount = z
  .object({
    path: withRules(z.string().max(MAX_PATH_LENGTH), [
      mountPathAbsoluteRule,
      mountPathNotRootRule,
      mountPathNoDotDotRule,
    ]).describe(
      "Absolute folder in the containers where the model's files appear, e.g. /models/llama3. " +
        "Not /, and without '..' segments. The mount is always read-only.",
    ),
    containers: listSet(
      z
        .array(withRules(z.string().max(63), [containerNameRule]))
        .min(1)
        .max(32),
    )
      .optional()
      .describe(
        "Names of the containers that get the mount. Omit to mount into every container of the pod " +
          "(init containers excluded).",
      ),
    subPath: withRules(z.string().max(MAX_PATH_LENGTH), [subPathRelativeRule, subPathNoDotDotRule])
      .optional()
      .describe(
        "One file or folder of the model to mount instead of the whole model, relative to the model's " +
          "root, e.g. weights or config.json. Empty or omitted: the whole model.",
      ),
  })
  .describe("Where the model's files appear in the selected pods. The mount is always read-only.");
export type Mount = z.infer<typeof Mount>;

export const ModelDeploymentSpec = z
  .object({
    model: ModelSource,
    selector: LabelSelector,
    mount: Mount,
    strategy: Strategy.default("Auto"),
    updatePolicy: UpdatePolicy.default("Rollout"),
  })
  .describe("What to mount, where, and into which pods.");
export type ModelDeploymentSpec = z.infer<typeof ModelDeploymentSpec>;
export type ModelDeploymentSpecInput = z.input<typeof ModelDeploymentSpec>;

// ---------------------------------------------------------------------------------------------
// Status

const Generation = z.int().min(0);
const Timestamp = z.iso.datetime({ offset: true });

export const ResolvedArtifact = z
  .object({
    reference: z
      .string()
      .max(MAX_REFERENCE_LENGTH)
      .describe("The pinned reference that pods mount: registry/repository@digest."),
    digest: z
      .string()
      .max(256)
      .regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/)
      .describe("Digest of the artifact's manifest, e.g. sha256:3f1c…"),
    shortDigest: z
      .string()
      .max(64)
      .describe("The digest's algorithm and first 12 hex digits, for display (the Digest column)."),
    resolvedAt: Timestamp.describe("When the reference was last resolved (RFC 3339)."),
    observedGeneration: Generation.optional().describe(
      "The metadata.generation this digest was resolved and verified for. While it equals " +
        "metadata.generation, a failed refresh (registry down, throttled, credentials refused, tag deleted) " +
        "keeps the digest in service: Ready stays True and new pods get it; a spec change drops it.",
    ),
  })
  .describe("The artifact spec.model.reference resolved to: the exact bytes the selected pods mount.");
export type ResolvedArtifact = z.infer<typeof ResolvedArtifact>;

const configText = (what: string) =>
  z
    .string()
    .max(256)
    .optional()
    .describe(`${what}, from the artifact's ModelPack config; absent when the config does not say.`);

export const ModelInfo = z
  .object({
    name: configText("Model name (descriptor.name)"),
    family: configText("Model family, e.g. llama3 (descriptor.family)"),
    version: configText("Model version (descriptor.version)"),
    architecture: configText("Architecture, e.g. transformer (config.architecture)"),
    format: configText("Weights format, e.g. safetensors or gguf (config.format)"),
    paramSize: configText("Parameter count, e.g. 8b (config.paramSize)"),
    precision: configText("Numeric precision, e.g. bf16 (config.precision)"),
    quantization: configText("Quantization, e.g. awq or gptq (config.quantization)"),
    sizeBytes: z
      .int()
      .min(0)
      .describe("Total size of the model's layers in bytes: what a pull transfers and a node stores."),
    layers: z.int().min(0).describe("Number of layers in the manifest."),
    files: z.int().min(0).describe("Number of layers that name a file."),
  })
  .describe("What the artifact's ModelPack config and manifest say about the model.");
export type ModelInfo = z.infer<typeof ModelInfo>;

export const PodCounts = z
  .object({
    matched: z.int().min(0).describe("Pods the selector matches."),
    current: z.int().min(0).describe("Matched pods that mount status.resolved.digest."),
    stale: z
      .int()
      .min(0)
      .describe(
        "Matched pods that mount an earlier digest or no model yet; updatePolicy Rollout restarts " +
          "their owners, Pinned leaves them.",
      ),
  })
  .describe("The selected pods and whether they mount the resolved digest.");
export type PodCounts = z.infer<typeof PodCounts>;

export const StatusIssue = z
  .object({
    code: z.string().max(MAX_ISSUE_CODE_LENGTH).describe("Stable machine-readable code of the finding."),
    path: z
      .string()
      .max(MAX_ISSUE_PATH_LENGTH)
      .optional()
      .describe("Where in the artifact the finding is, e.g. config.paramSize or layers[2]."),
    message: z.string().max(MAX_ISSUE_MESSAGE_LENGTH).describe("What was found and what is allowed."),
  })
  .describe("One finding of validation or lint.");
export type StatusIssue = z.infer<typeof StatusIssue>;

const issueList = (what: string) =>
  z
    .array(StatusIssue)
    .max(MAX_STATUS_ISSUES)
    .optional()
    .describe(`${what}; the first ${MAX_STATUS_ISSUES} (the count gives the total).`);
const issueCount = (what: string) => z.int().min(0).optional().describe(`Number of ${what} found.`);

export const ValidationReport = z
  .object({
    errors: issueList("Violations of the ModelPack specification, which fail the Validated condition"),
    warnings: issueList("Deviations from the specification's recommendations"),
    lint: issueList("Mountability findings: what node runtimes can and cannot mount of this artifact"),
    errorCount: issueCount("errors"),
    warningCount: issueCount("warnings"),
    lintCount: issueCount("lint findings"),
  })
  .describe("What ModelPack validation and lint found in the resolved artifact.");
export type ValidationReport = z.infer<typeof ValidationReport>;

export const VerificationRecord = z
  .object({
    digest: z.string().max(256).describe("The artifact digest the signatures were verified for."),
    requirement: z
      .string()
      .max(128)
      .describe("Fingerprint of the keys, identities and trusted roots it was verified against."),
    verifiedAt: Timestamp.describe("When the signatures were verified (RFC 3339)."),
    signatures: z
      .array(
        z.object({
          requirement: z.string().max(256).describe("Who required it: a policy rule or spec.model.verify."),
          signer: z
            .string()
            .max(1024)
            .describe(
              "The signer: a key's fingerprint and source, or a certificate identity and its issuer.",
            ),
          signatureDigest: z.string().max(256).describe("Digest of the manifest that carries the signature."),
        }),
      )
      .max(16)
      .describe("One verified signature per requirement."),
  })
  .describe("The signatures that verified status.resolved.digest.");
export type VerificationRecord = z.infer<typeof VerificationRecord>;

export const ImageVariantStatus = z
  .object({
    digest: z
      .string()
      .max(256)
      .regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/)
      .optional()
      .describe("Digest of the image variant's index that was found; absent when none was."),
    reference: z
      .string()
      .max(MAX_REFERENCE_LENGTH)
      .optional()
      .describe(
        "registry/repository@digest of the variant: what image volumes mount instead of status.resolved.reference. Set only while it is used.",
      ),
    used: z.boolean().describe("Whether pods mount the variant (strategy ImageVolume)."),
    verified: z
      .boolean()
      .optional()
      .describe("When signatures are required: whether the variant's satisfy them (else it is not used)."),
    reason: z
      .string()
      .max(64)
      .describe(
        "Why it is or is not used: ImageVariantUsed, ImageVariantNotNeeded, ImageVariantNotFound, ImageVariantMismatch, ImageVariantUnsigned, ImageVariantNotMountable or ImageVariantUnavailable.",
      ),
    message: z.string().max(2048).describe("The same, for people."),
  })
  .describe(
    "The artifact's image-shaped variant (modelpack-operator publish-image), which containerd nodes can mount as an image volume: whether one was found and why it is or is not used.",
  );
export type ImageVariantStatus = z.infer<typeof ImageVariantStatus>;

/**
 * A Kubernetes object of ours that the CRD stores as it is (`x-kubernetes-preserve-unknown-fields`):
 * a volume, volume mount or container the mount planner made. Its shape is core/v1's, checked by
 * the apiserver where the pod is created, not here.
 */
const KubernetesObject = (what: string) =>
  z.record(z.string(), z.unknown()).meta({ "x-kubernetes-preserve-unknown-fields": true }).describe(what);

/** How many volumes one ModelDeployment adds: its model, its pull secrets, the CA bundle. */
export const MAX_INJECTED_VOLUMES = 18;

export const PodInjection = z
  .object({
    observedGeneration: Generation.describe(
      "The metadata.generation this was decided for; admission refuses pods while it is older.",
    ),
    allowed: z.boolean().describe("Whether pods selected by this ModelDeployment may be created now."),
    message: z
      .string()
      .max(MAX_CONDITION_MESSAGE_LENGTH)
      .optional()
      .describe("Why not (allowed false): the message a refused pod gets, naming the cause and the fix."),
    digest: z.string().max(256).optional().describe("The digest selected pods get (status.resolved.digest)."),
    annotations: maxProperties(z.record(z.string().max(317), z.string().max(256)), 2)
      .optional()
      .describe(
        "The pod annotations that record the digest a pod got (modelpack.dev/model.<name>, and the name when it is hashed).",
      ),
    volumes: z
      .array(KubernetesObject("A core/v1 Volume."))
      .max(MAX_INJECTED_VOLUMES)
      .optional()
      .describe("The volumes each selected pod gets: the model's first."),
    initContainers: z
      .array(KubernetesObject("A core/v1 Container."))
      .max(1)
      .optional()
      .describe("The init container that pulls the model (strategy InitContainer)."),
    mount: KubernetesObject("A core/v1 VolumeMount: the read-only model mount.").optional(),
    containers: z
      .array(z.string().max(63))
      .max(64)
      .optional()
      .describe("The containers that get the mount; empty means every container (spec.mount.containers)."),
    imagePullSecrets: z
      .array(z.string().max(253))
      .max(16)
      .optional()
      .describe("Secrets each selected pod lists in spec.imagePullSecrets (strategy ImageVolume)."),
  })
  .describe(
    "Written only with run --injection admission-policy: what the API server's admission policies add to the " +
      "pods this ModelDeployment selects, made by the same mount planner as the webhook's patch.",
  );
export type PodInjection = z.infer<typeof PodInjection>;

/** A condition type: CamelCase, optionally prefixed by a DNS subdomain (metav1.Condition). */
const CONDITION_TYPE =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;
/** A condition reason: CamelCase (metav1.Condition). */
const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/** The metav1.Condition shape, with its OpenAPI rules. */
export const Condition = z
  .object({
    type: z.string().max(316).regex(CONDITION_TYPE).describe("Type of condition in CamelCase, e.g. Ready."),
    status: ConditionStatus,
    observedGeneration: Generation.optional().describe(
      "The metadata.generation the condition was set for; older than metadata.generation means stale.",
    ),
    lastTransitionTime: Timestamp.describe("When the status last changed (not the reason or message)."),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(CONDITION_REASON)
      .describe("Why the condition has its status: a CamelCase word that tools may branch on."),
    message: z
      .string()
      .max(MAX_CONDITION_MESSAGE_LENGTH)
      .describe("What happened, for people; names the cause and the next step."),
  })
  .describe("An observation of the object's state (metav1.Condition).");
export type Condition = z.infer<typeof Condition>;

export const ModelDeploymentStatus = z
  .object({
    observedGeneration: Generation.optional().describe(
      "The metadata.generation this status describes; the status is current only when the two are equal.",
    ),
    resolved: ResolvedArtifact.optional(),
    model: ModelInfo.optional(),
    strategy: EffectiveStrategy.optional(),
    pods: PodCounts.optional(),
    validation: ValidationReport.optional(),
    verification: VerificationRecord.optional(),
    imageVariant: ImageVariantStatus.optional(),
    injection: PodInjection.optional(),
    conditions: listMap(z.array(Condition).max(MAX_CONDITIONS), "type")
      .optional()
      .describe(
        "Ready summarises the others (kubectl wait --for=condition=Ready); Resolved, Validated, " +
          "MountSupported and (when signatures are required) Verified report each step; Reconciling and Stalled, present only while True, follow " +
          "kstatus: in progress, or blocked until someone acts.",
      ),
  })
  .describe("What the operator observed, written by the operator only (the status subresource).");
export type ModelDeploymentStatus = z.infer<typeof ModelDeploymentStatus>;

// ---------------------------------------------------------------------------------------------
// The document

export const ObjectMeta = z
  .object({
    name: z.string().optional(),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    generation: z.int().optional(),
    creationTimestamp: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .loose()
  .describe("Standard object metadata.");
export type ObjectMeta = z.infer<typeof ObjectMeta>;

export const ModelDeployment = z
  .object({
    apiVersion: z.literal(API_VERSION).describe(`APIVersion of this document: ${API_VERSION}.`),
    kind: z.literal(KIND).describe(`Kind of this document: ${KIND}.`),
    metadata: ObjectMeta,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus.optional(),
  })
  .describe(
    "ModelDeployment mounts a CNCF ModelPack model from an OCI registry into the pods it selects: the " +
      "operator resolves the reference to a digest, validates the artifact against the ModelPack " +
      "specification, reports what it found in status, and mounts that digest read-only into every " +
      "selected pod.",
  );
export type ModelDeployment = z.infer<typeof ModelDeployment>;
export type ModelDeploymentInput = z.input<typeof ModelDeployment>;
