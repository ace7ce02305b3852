#!/usr/bin/env bash
# The e2e in one command: create the kind cluster (e2e/kind/create-cluster.sh), run the scenarios
# (e2e/run-e2e.ts), then delete the cluster unless --keep. See e2e/README.md.
#
#   KIND_NODE_IMAGE=... E2E_REGISTRY_IMAGE=... E2E_TEST_IMAGE=... e2e/run.sh [--keep] [--no-create] [SCENARIO ...]
#
#   --keep       keep the cluster and registry afterwards (delete later with e2e/kind/delete-cluster.sh)
#   --no-create  run the scenarios against an existing cluster from create-cluster.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CLUSTER_NAME=${CLUSTER_NAME:-modelpack-e2e}
export E2E_REGISTRY_NAME=${E2E_REGISTRY_NAME:-kind-registry}
export E2E_REGISTRY_PORT=${E2E_REGISTRY_PORT:-5001}

keep=0
create=1
scenarios=()
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    --no-create) create=0 ;;
    -h | --help) sed -n '2,9p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
    *) scenarios+=("$arg") ;;
  esac
done

[[ -n "${E2E_TEST_IMAGE:-}" ]] || { echo "run.sh: set E2E_TEST_IMAGE (a busybox-like image with sh, cat and sleep)" >&2; exit 2; }
[[ -d "$ROOT/node_modules" ]] || { echo "run.sh: run npm ci first" >&2; exit 2; }

# A kubeconfig of its own, so the user's ~/.kube/config is left alone.
export KUBECONFIG=${E2E_KUBECONFIG:-${TMPDIR:-/tmp}/modelpack-e2e-${CLUSTER_NAME}.kubeconfig}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  if [[ "$keep" == "1" ]]; then
    echo "kept: KUBECONFIG=${KUBECONFIG} kubectl get md -A; delete with e2e/kind/delete-cluster.sh"
  elif [[ "$create" == "1" ]]; then
    bash "$ROOT/e2e/kind/delete-cluster.sh" || true
    rm -f "$KUBECONFIG"
  fi
}
trap cleanup EXIT

if [[ "$create" == "1" ]]; then
  bash "$ROOT/e2e/kind/create-cluster.sh"
else
  kind export kubeconfig --name "$CLUSTER_NAME" --kubeconfig "$KUBECONFIG"
fi

cd "$ROOT"
status=0
E2E_REGISTRY_HOST=${E2E_REGISTRY_HOST:-${E2E_REGISTRY_NAME}:5000} \
  E2E_REGISTRY_PUSH_URL=${E2E_REGISTRY_PUSH_URL:-http://127.0.0.1:${E2E_REGISTRY_PORT}} \
  E2E_PLAIN_HTTP=${E2E_PLAIN_HTTP:-true} \
  npx tsx e2e/run-e2e.ts ${scenarios[@]+"${scenarios[@]}"} || status=$?
if [[ "$status" != "0" && "$keep" != "1" ]]; then
  echo "e2e failed (exit ${status}); operator logs:"
  kubectl -n "${OPERATOR_NAMESPACE:-modelpack-system}" logs "deployment/${HELM_RELEASE:-modelpack-operator}" --tail=100 || true
fi
exit "$status"
