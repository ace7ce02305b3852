#!/usr/bin/env bash
# Deletes the e2e kind cluster and (unless E2E_KEEP_REGISTRY=1) the local registry container.
set -euo pipefail

CLUSTER_NAME=${CLUSTER_NAME:-modelpack-e2e}
E2E_REGISTRY_NAME=${E2E_REGISTRY_NAME:-kind-registry}
E2E_KEEP_REGISTRY=${E2E_KEEP_REGISTRY:-0}

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  kind delete cluster --name "$CLUSTER_NAME"
else
  echo "no kind cluster ${CLUSTER_NAME}"
fi
if [[ "$E2E_KEEP_REGISTRY" != "1" ]] && docker inspect "$E2E_REGISTRY_NAME" >/dev/null 2>&1; then
  docker rm -f "$E2E_REGISTRY_NAME" >/dev/null
  echo "removed registry container ${E2E_REGISTRY_NAME}"
fi
