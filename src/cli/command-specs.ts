/**
 * The CLI's commands as data: usage, summary and every flag with its description. `main` parses
 * with these tables and prints their help, so a flag the parser accepts is always described.
 * Plain data: loading it costs `pull` in an init container nothing.
 */
import type { CommandSpec, FlagSpecs } from "./flags.js";

/** Flags of the commands that talk to a registry (inspect, pull). */
export const REGISTRY_FLAGS = {
  "plain-http": {
    type: "boolean",
    default: false,
    description: "talk plain HTTP to the reference's registry (a local test registry); TLS is the default.",
  },
  "ca-file": {
    type: "string",
    value: "FILE",
    description: "also trust this CA (PEM) for the registry's TLS certificate.",
  },
  insecure: {
    type: "boolean",
    default: false,
    description:
      "do not verify the registry's TLS certificate (prints a warning; digests are still verified).",
  },
  "registry-config": {
    type: "string",
    multiple: true,
    value: "FILE",
    description:
      "Docker config.json with credentials (default $DOCKER_CONFIG/config.json, then ~/.docker/config.json); " +
      "give it several times to try several files in order (the init container passes one per pull secret).",
  },
  "allowed-registries": {
    type: "string",
    value: "R,…",
    description:
      "refuse references outside these registries (host[:port], comma-separated) before any request; " +
      "the init container passes the operator's --allowed-registries.",
  },
} as const satisfies FlagSpecs;

const EXIT_CODES =
  "Exit codes: 0 success/valid, 1 invalid artifact or document, 2 usage or local I/O error, 3 registry or network error.";

export const VALIDATE = {
  name: "validate",
  usage: "validate (--config FILE | --manifest FILE) [flags]",
  summary:
    "Checks local ModelPack documents (a model config, an OCI manifest, or both: the manifest is then checked against the config) against the ModelPack specification.",
  flags: {
    config: {
      type: "string",
      value: "FILE",
      description: "the model config (application/vnd.cncf.model.config.v1+json) to check; - reads stdin.",
    },
    manifest: {
      type: "string",
      value: "FILE",
      description: "the OCI image manifest of a model artifact to check; - reads stdin.",
    },
  },
  notes: [EXIT_CODES],
} as const satisfies CommandSpec;

export const INSPECT = {
  name: "inspect",
  usage: "inspect REFERENCE [flags]",
  summary:
    "Resolves a remote artifact (registry/repository:tag or @sha256:…), verifies its manifest and config against their digests, validates them against the ModelPack specification and prints a summary with its layers and what can mount it.",
  flags: REGISTRY_FLAGS,
  notes: [EXIT_CODES],
} as const satisfies CommandSpec;

export const VERIFY = {
  name: "verify",
  usage:
    "verify REFERENCE (--key FILE | --certificate-identity ID --certificate-oidc-issuer URL) [--trusted-root FILE] [flags]",
  summary:
    "Checks the cosign signatures of a remote artifact: Sigstore bundles attached as referrers (cosign v3; the referrers API or the sha256-<hex> tag) and cosign v2 .sig tags, against a public key or a keyless identity, offline (no Rekor or Fulcio is contacted). Prints the signer and the signature's digest.",
  flags: {
    ...REGISTRY_FLAGS,
    key: {
      type: "string",
      multiple: true,
      value: "FILE",
      description:
        "a trusted public key (PEM: ECDSA P-256, Ed25519, RSA), as cosign generate-key-pair writes cosign.pub; give it several times to trust any of several keys.",
    },
    "certificate-identity": {
      type: "string",
      value: "ID",
      description:
        "keyless: the signing certificate's identity (an e-mail or a workflow URL) that is trusted; needs --certificate-oidc-issuer and --trusted-root.",
    },
    "certificate-identity-regexp": {
      type: "string",
      value: "RE",
      description:
        "keyless: a regular expression the certificate's identity must match, instead of --certificate-identity.",
    },
    "certificate-oidc-issuer": {
      type: "string",
      value: "URL",
      description:
        "keyless: the OIDC issuer the certificate must name, e.g. https://token.actions.githubusercontent.com.",
    },
    "trusted-root": {
      type: "string",
      value: "FILE",
      description:
        "a Sigstore trusted root (JSON: certificate authorities, transparency logs, timestamp authorities) to check certificates and transparency-log entries against; needed for keyless and for bundles with a transparency-log entry.",
    },
    "require-tlog": {
      type: "boolean",
      default: false,
      description: "accept only signatures with a transparency-log entry that the trusted root verifies.",
    },
  },
  notes: [
    "Exit codes: 0 verified, 1 unsigned, invalid signature or untrusted signer, 2 usage or local I/O error, 3 registry or network error.",
  ],
} as const satisfies CommandSpec;

export const PUBLISH_IMAGE = {
  name: "publish-image",
  usage: "publish-image REFERENCE [--tag TAG] [--platform linux/amd64,linux/arm64] [flags]",
  summary:
    "Writes an image-shaped variant of a ModelPack artifact into its repository (needs push access), so containerd (2.1 and later) can mount it as an image volume: an OCI image index whose subject is the artifact, one image manifest per platform, tar layers holding the files at their ModelPack paths. Tar layers are reused blob for blob, raw files are wrapped into tar layers as a stream (each verified against its digest). The operator then finds it through the referrers API or the sha256-<hex> referrers tag. A second run uploads nothing.",
  flags: {
    ...REGISTRY_FLAGS,
    tag: {
      type: "string",
      value: "TAG",
      description:
        "also tag the variant's index as TAG in the artifact's repository (default: no tag; it is found by digest).",
    },
    platform: {
      type: "string",
      multiple: true,
      value: "OS/ARCH,…",
      description:
        "the platforms to list (comma-separated, os/architecture[/variant]; default linux/amd64,linux/arm64); a node whose platform is missing cannot pull the variant. The files are the same on every platform.",
    },
    force: {
      type: "boolean",
      default: false,
      description:
        "rebuild every wrapped layer from the artifact (read again and verified) instead of trusting the layers of a matching variant already there.",
    },
  },
  notes: [
    "Exit codes: 0 published (or already there), 1 not a valid ModelPack artifact, 2 usage or local I/O error, 3 registry or network error.",
  ],
} as const satisfies CommandSpec;

export const PULL = {
  name: "pull",
  usage: "pull REFERENCE --dest DIR [flags]",
  summary: "Downloads every file of a model artifact into DIR, each verified against its digest.",
  flags: {
    ...REGISTRY_FLAGS,
    dest: { type: "string", value: "DIR", description: "the folder to pull into (required)." },
    concurrency: {
      type: "string",
      value: "N",
      default: "4",
      description: "layers downloaded at once, 1 to 64.",
    },
    connections: {
      type: "string",
      value: "N",
      default: "8",
      description:
        "the most connections one large file downloads over, in ranged parts, 1 to 32; more are added only while they make it faster, fewer after the registry throttles (429).",
    },
    "state-file": {
      type: "string",
      value: "FILE",
      description:
        "where to record extracted archive layers, so a second pull can verify and skip them (default DIR/.modelpack-pull.json).",
    },
    "world-readable": {
      type: "boolean",
      default: false,
      description:
        "make every pulled file and folder readable by all users (the init container does: the pod's containers may run as another user).",
    },
    "max-bytes": {
      type: "string",
      value: "SIZE",
      description:
        "write at most SIZE bytes in all (10Gi, 500M, 1073741824); default no cap (the init container passes its emptyDir's sizeLimit).",
    },
    "max-expansion-ratio": {
      type: "string",
      value: "N",
      description:
        "an archive layer may expand to N times its compressed size, or 64 MiB if more (default 100: a decompression bomb stops there).",
    },
    "max-entries": {
      type: "string",
      value: "N",
      description: "at most N files, folders and symlinks per archive layer (default 100000).",
    },
  },
  notes: [
    "A pull is all or nothing: layers are verified and checked (paths, symlinks followed component by component, two layers at one path) before anything is placed; a failed pull leaves DIR as it was, except that a pull stopped by the network or a signal keeps what it downloaded in DIR/.modelpack-partial-blobs, and the next pull into DIR continues from there. One pull per DIR at a time (lock file .DIR.modelpack-lock beside DIR; others wait up to 15 min).",
    "Exit codes: 0 every file verified, 1 the artifact cannot be placed safely, 2 usage or local I/O error, 3 registry or network error.",
  ],
} as const satisfies CommandSpec;

export const RUN = {
  name: "run",
  usage: "run --init-image IMAGE [flags]   (or run --disable-webhook [flags])",
  summary:
    "Runs the operator until SIGTERM or SIGINT: the ModelDeployment controller, the pod admission webhook and the health and metrics server. In a pod it uses the in-cluster config; elsewhere --kubeconfig, $KUBECONFIG or ~/.kube/config.",
  flags: {
    kubeconfig: {
      type: "string",
      value: "FILE",
      description:
        "the kubeconfig to use (default in-cluster config, else $KUBECONFIG, else ~/.kube/config).",
    },
    namespace: {
      type: "string",
      value: "NS",
      description:
        "the operator's own namespace: its lease, CA bundle and webhook Service (default $POD_NAMESPACE, else modelpack-system).",
    },
    "watch-namespace": {
      type: "string",
      multiple: true,
      value: "NS,…",
      description:
        "serve ModelDeployments and pods in these namespaces only (comma-separated; default all namespaces).",
    },
    "allowed-registries": {
      type: "string",
      value: "R,…",
      description:
        "refuse references outside these registries (host[:port], comma-separated; default any); passed on to init containers.",
    },
    "plain-http-registries": {
      type: "string",
      value: "R,…",
      description: "registries spoken to over plain HTTP instead of TLS (comma-separated).",
    },
    "ca-file": {
      type: "string",
      value: "FILE",
      description:
        "also trust this CA (PEM) for registries' TLS certificates; published to init containers in a ConfigMap.",
    },
    "health-bind-address": {
      type: "string",
      value: "HOST:PORT",
      default: "127.0.0.1:8081",
      description:
        "where /healthz, /readyz and /metrics are served (in a pod use 0.0.0.0:8081 so the kubelet can probe).",
    },
    "log-level": {
      type: "string",
      value: "LEVEL",
      default: "info",
      description: "trace, debug, info, warn, error, fatal or silent; logs are JSON lines on stdout.",
    },
    workers: {
      type: "string",
      value: "N",
      default: "4",
      description: "ModelDeployments reconciled at once, 1 to 64.",
    },
    "disable-leader-election": {
      type: "boolean",
      default: false,
      description:
        "reconcile without holding the Lease (one replica only; several would write the same status).",
    },
    "verification-policy": {
      type: "string",
      value: "FILE",
      description:
        "the administrator's signature policy (YAML): rules mapping registry/repository patterns to the public keys or keyless identities that must have signed every model there; ModelDeployments cannot weaken it (see the README, Signatures).",
    },
    "workload-rollout": {
      type: "string",
      value: "true|false",
      default: "true",
      description:
        "whether updatePolicy: Rollout may patch the pod template of Deployments, StatefulSets and DaemonSets when a digest changes (needs their patch RBAC; the chart's rollout.enabled).",
    },
    injection: {
      type: "string",
      value: "auto|webhook|admission-policy",
      default: "webhook",
      description:
        "how pods get their models: webhook (the operator's admission webhook; every Kubernetes version), admission-policy (MutatingAdmissionPolicy and ValidatingAdmissionPolicy bindings per ModelDeployment: the API server injects, so pods get models while the operator is down; needs admissionregistration.k8s.io/v1 MutatingAdmissionPolicy, Kubernetes 1.36+), or auto (admission-policy where served, else webhook).",
    },
    "disable-webhook": {
      type: "boolean",
      default: false,
      description: "run the controller only: no admission webhook, so pods get no models.",
    },
    "init-image": {
      type: "string",
      value: "IMAGE",
      description:
        "the operator's own image, run as the init container that pulls models for the InitContainer strategy (required unless --disable-webhook).",
    },
    "init-image-pull-policy": {
      type: "string",
      value: "POLICY",
      description:
        "imagePullPolicy of that init container: Always, IfNotPresent or Never (default Kubernetes' own: Always for :latest, else IfNotPresent).",
    },
    "init-user": {
      type: "string",
      value: "fixed|platform",
      description:
        "who that init container runs as: fixed (default) sets runAsUser 65532 and runAsGroup 0; platform sets neither, for platforms that assign the UID and an fsGroup (OpenShift's restricted SCC).",
    },
    "init-resources": {
      type: "string",
      value: "JSON",
      description:
        'requests and limits of that init container, e.g. {"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"memory":"512Mi"}} (default those; {} for none).',
    },
    "webhook-bind-address": {
      type: "string",
      value: "HOST:PORT",
      default: "0.0.0.0:9443",
      description: "where the admission webhook listens (HTTPS).",
    },
    "webhook-url": {
      type: "string",
      value: "URL",
      description:
        "out of a cluster: register the webhook by this https:// URL instead of a Service (port 0 means the port bound); the operator then writes the whole MutatingWebhookConfiguration.",
    },
    "webhook-service": {
      type: "string",
      value: "NAME",
      default: "modelpack-operator-webhook",
      description: "in a cluster: the Service in --namespace that fronts the webhook.",
    },
    "webhook-cert-dir": {
      type: "string",
      value: "DIR",
      description:
        "read the serving certificate from DIR/tls.crt and DIR/tls.key (cert-manager), reloaded on change; without it the operator issues and rotates its own.",
    },
    "webhook-cert-secret": {
      type: "string",
      value: "NAME",
      description:
        "the Secret in --namespace where the self-managed serving certificate and its CA are kept (default modelpack-operator-webhook-tls); ignored with --webhook-cert-dir.",
    },
    "webhook-failure-policy": {
      type: "string",
      value: "Fail|Ignore",
      default: "Fail",
      description:
        "what the apiserver does with a pod when the webhook does not answer: Fail refuses it, Ignore admits it without a model.",
    },
    "webhook-timeout-seconds": {
      type: "string",
      value: "N",
      default: "5",
      description: "how long the apiserver waits for the webhook, 1 to 30.",
    },
    "webhook-configuration-name": {
      type: "string",
      value: "NAME",
      description:
        "the MutatingWebhookConfiguration the operator adds its webhook to (default modelpack-operator; the chart passes its release's name).",
    },
    "webhook-namespace-selector": {
      type: "string",
      value: "JSON",
      description:
        'a label selector on namespaces, as JSON such as {"matchLabels":{"modelpack":"enabled"}}, ANDed with the built-in exclusions (the operator\'s namespace, kube-system).',
    },
    "webhook-object-selector": {
      type: "string",
      value: "JSON",
      description: "a label selector on pods, as JSON; only matching pods are sent to the webhook.",
    },
  },
  notes: [
    "Several replicas elect a leader with a Lease; only the leader reconciles, every replica serves the webhook and probes. SIGTERM stops intake, finishes in-flight reconciles and releases the lease.",
  ],
} as const satisfies CommandSpec;

/** Every command with flags, in the order the overview lists them. */
export const COMMANDS: readonly CommandSpec[] = [VALIDATE, INSPECT, VERIFY, PUBLISH_IMAGE, PULL, RUN];
