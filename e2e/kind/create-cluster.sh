#!/usr/bin/env bash
# Creates a kind cluster for the e2e scenarios (see e2e/README.md):
#   1. a local registry container (E2E_REGISTRY_IMAGE) published on 127.0.0.1:$E2E_REGISTRY_PORT,
#   2. a kind cluster (KIND_NODE_IMAGE, Kubernetes >= 1.35) whose containerd reads
#      /etc/containerd/certs.d, with the registry wired in (the standard kind local-registry pattern),
#   3. the operator image built with `docker build` and loaded with `kind load docker-image`,
#   4. the Helm chart installed with that image as operator and init image, the registry as plain HTTP,
#   5. and waits until the operator is ready and its webhook is registered.
# Idempotent: an existing registry, cluster or release is reused/upgraded.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

CLUSTER_NAME=${CLUSTER_NAME:-modelpack-e2e}
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:-}
E2E_REGISTRY_IMAGE=${E2E_REGISTRY_IMAGE:-}
E2E_REGISTRY_NAME=${E2E_REGISTRY_NAME:-kind-registry}
E2E_REGISTRY_PORT=${E2E_REGISTRY_PORT:-5001}
E2E_TEST_IMAGE=${E2E_TEST_IMAGE:-}
OPERATOR_IMAGE_REPOSITORY=${OPERATOR_IMAGE_REPOSITORY:-modelpack-operator}
OPERATOR_IMAGE_TAG=${OPERATOR_IMAGE_TAG:-e2e}
OPERATOR_NAMESPACE=${OPERATOR_NAMESPACE:-modelpack-system}
HELM_RELEASE=${HELM_RELEASE:-modelpack-operator}
E2E_SKIP_BUILD=${E2E_SKIP_BUILD:-0}
# Extra `docker build` arguments, split on spaces, e.g. "--build-arg BUILD_BASE=registry.example.com/node:24-bookworm-slim".
DOCKER_BUILD_ARGS=${DOCKER_BUILD_ARGS:-}
# Extra `helm upgrade --install` arguments, split on spaces, e.g. "--set logLevel=debug".
HELM_EXTRA_ARGS=${HELM_EXTRA_ARGS:-}

OPERATOR_IMAGE="${OPERATOR_IMAGE_REPOSITORY}:${OPERATOR_IMAGE_TAG}"
# The registry as the cluster sees it: the container's name on the kind network, its own port.
REGISTRY_IN_CLUSTER="${E2E_REGISTRY_NAME}:5000"
CONTEXT="kind-${CLUSTER_NAME}"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'create-cluster: %s\n' "$*" >&2; exit 1; }

[[ -n "$KIND_NODE_IMAGE" ]] || die "set KIND_NODE_IMAGE to a kind node image with Kubernetes >= 1.35 (kindest/node v1.35.x)"
[[ -n "$E2E_REGISTRY_IMAGE" ]] || die "set E2E_REGISTRY_IMAGE to a CNCF Distribution registry image (v2.8+ or v3), e.g. a mirror in registry.example.com"
for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH (see e2e/README.md, Prerequisites)"
done
docker info >/dev/null 2>&1 || die "the docker daemon is not reachable"

say "1. Local registry ${E2E_REGISTRY_NAME} on 127.0.0.1:${E2E_REGISTRY_PORT}"
if [[ "$(docker inspect -f '{{.State.Running}}' "$E2E_REGISTRY_NAME" 2>/dev/null || true)" != "true" ]]; then
  docker rm -f "$E2E_REGISTRY_NAME" >/dev/null 2>&1 || true
  docker run -d --restart=always -p "127.0.0.1:${E2E_REGISTRY_PORT}:5000" --network bridge \
    --name "$E2E_REGISTRY_NAME" "$E2E_REGISTRY_IMAGE" >/dev/null
fi
echo "registry ${E2E_REGISTRY_NAME} is running"

say "2. kind cluster ${CLUSTER_NAME} (${KIND_NODE_IMAGE})"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  echo "cluster ${CLUSTER_NAME} exists: reusing it"
else
  # containerd reads per-registry hosts.toml files from /etc/containerd/certs.d (the kind
  # local-registry pattern; recent node images set this already, the patch makes it explicit).
  kind create cluster --name "$CLUSTER_NAME" --image "$KIND_NODE_IMAGE" --wait 180s --config - <<KIND
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
containerdConfigPatches:
  - |-
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "/etc/containerd/certs.d"
nodes:
  - role: control-plane
KIND
fi

# Nodes pull from the registry under both names: localhost:PORT (what people push to) and
# NAME:5000 (what pods, the operator and the init containers use; also what a CRI-O cluster mounts).
for node in $(kind get nodes --name "$CLUSTER_NAME"); do
  for host in "localhost:${E2E_REGISTRY_PORT}" "$REGISTRY_IN_CLUSTER"; do
    docker exec "$node" mkdir -p "/etc/containerd/certs.d/${host}"
    printf '[host."http://%s"]\n' "$REGISTRY_IN_CLUSTER" | docker exec -i "$node" cp /dev/stdin "/etc/containerd/certs.d/${host}/hosts.toml"
  done
done

# The registry joins the kind network, so nodes and pods (through CoreDNS and the node's DNS) resolve its name.
if [[ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "$E2E_REGISTRY_NAME")" == "null" ]]; then
  docker network connect kind "$E2E_REGISTRY_NAME"
fi

# Document the local registry (KEP-1755), as the kind local-registry pattern does.
kubectl --context "$CONTEXT" apply -f - <<CM
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:${E2E_REGISTRY_PORT}"
    hostFromContainerRuntime: "${REGISTRY_IN_CLUSTER}"
    hostFromClusterNetwork: "${REGISTRY_IN_CLUSTER}"
    help: "https://kind.sigs.k8s.io/docs/user/local-registry/"
CM

kubelet=$(kubectl --context "$CONTEXT" get nodes -o jsonpath='{.items[0].status.nodeInfo.kubeletVersion}')
minor=$(printf '%s' "$kubelet" | sed -E 's/^v?[0-9]+\.([0-9]+).*/\1/')
if [[ ! "$minor" =~ ^[0-9]+$ ]] || (( minor < 35 )); then
  die "the nodes run Kubernetes ${kubelet}; the e2e needs >= 1.35 (pass a kindest/node v1.35.x image)"
fi
echo "nodes: Kubernetes ${kubelet}, $(kubectl --context "$CONTEXT" get nodes -o jsonpath='{.items[0].status.nodeInfo.containerRuntimeVersion}')"

say "3. Operator image ${OPERATOR_IMAGE}"
if [[ "$E2E_SKIP_BUILD" != "1" ]]; then
  read -r -a build_args <<<"$DOCKER_BUILD_ARGS"
  docker build -t "$OPERATOR_IMAGE" \
    --build-arg "REVISION=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" \
    --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    ${build_args[@]+"${build_args[@]}"} "$ROOT"
fi
kind load docker-image "$OPERATOR_IMAGE" --name "$CLUSTER_NAME"
# The test image too when it is present locally (an air-gapped machine); else the nodes pull it.
if [[ -n "$E2E_TEST_IMAGE" ]] && docker image inspect "$E2E_TEST_IMAGE" >/dev/null 2>&1; then
  kind load docker-image "$E2E_TEST_IMAGE" --name "$CLUSTER_NAME"
fi

say "4. helm upgrade --install ${HELM_RELEASE} (namespace ${OPERATOR_NAMESPACE})"
read -r -a helm_args <<<"$HELM_EXTRA_ARGS"
# fullnameOverride keeps object names predictable (the webhook configuration is named after it).
helm upgrade --install "$HELM_RELEASE" "$ROOT/charts/modelpack-operator" \
  --kube-context "$CONTEXT" --namespace "$OPERATOR_NAMESPACE" --create-namespace \
  --set-string fullnameOverride="$HELM_RELEASE" \
  --set-string image.repository="$OPERATOR_IMAGE_REPOSITORY" \
  --set-string image.tag="$OPERATOR_IMAGE_TAG" \
  --set-string image.pullPolicy=IfNotPresent \
  --set-string initImage.repository="$OPERATOR_IMAGE_REPOSITORY" \
  --set-string initImage.tag="$OPERATOR_IMAGE_TAG" \
  --set-string initImage.pullPolicy=IfNotPresent \
  --set-json "registries.plainHttp=[\"${REGISTRY_IN_CLUSTER}\"]" \
  --wait --timeout 5m \
  ${helm_args[@]+"${helm_args[@]}"}

say "5. Waiting for the operator"
kubectl --context "$CONTEXT" -n "$OPERATOR_NAMESPACE" rollout status "deployment/${HELM_RELEASE}" --timeout=180s
# Ready means caches synced; the leader registers the webhook with its CA bundle.
for _ in $(seq 1 90); do
  ca=$(kubectl --context "$CONTEXT" get mutatingwebhookconfiguration "$HELM_RELEASE" \
    -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null || true)
  [[ -n "$ca" ]] && break
  sleep 2
done
[[ -n "${ca:-}" ]] || die "the MutatingWebhookConfiguration ${HELM_RELEASE} has no caBundle after 180 s; kubectl -n ${OPERATOR_NAMESPACE} logs deployment/${HELM_RELEASE}"
kubectl --context "$CONTEXT" -n "$OPERATOR_NAMESPACE" get pods -o wide

say "Ready: kubectl --context ${CONTEXT}; push to http://127.0.0.1:${E2E_REGISTRY_PORT}, reference models as ${REGISTRY_IN_CLUSTER}/..."
