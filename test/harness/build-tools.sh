#!/usr/bin/env bash
# Builds the Go tools the tests and the demo need, each from its own pinned wrapper module in
# test/harness/tools/<tool>/, into a cache outside git keyed by tool and version:
#   ${MODELPACK_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelpack-operator}/bin/<tool>-<version>/
# A tool whose cached binaries exist is skipped, so a warm run takes well under a second.
# registry, htpasswd and argocd-lua replace system packages the tests once needed (Debian's
# docker-registry, apache2-utils, lua5.1): htpasswd and argocd-lua are our own tiny mains in
# their wrapper modules, so their version also carries a hash of those sources.
# Kubernetes minors beside the default (1.35, the tools `kubernetes`, `kubectl`, `kubelet`) are the
# tools kubernetes-1.34, kubernetes-1.36 and kubernetes-1.37 (kube-apiserver alone: all the
# compatibility suite needs) and kubernetes-1.<minor>-controllers (kube-controller-manager and
# kube-scheduler, for `harness up --full`; built on demand, reusing the apiserver's Go build cache),
# both from test/harness/tools/kubernetes-1.<minor>/, cached side by side. Each builds with Go
# 1.26 (1.37.2's go.mod says go 1.26.0); a future minor that needs a newer Go would build with
# GOTOOLCHAIN=go1.27.3 (the Go module proxy serves that toolchain) for its own build only.
# Usage: build-tools.sh [tool ...]    (default: every tool)   Prints the cache folder of each tool.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${MODELPACK_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelpack-operator}
all_tools=(etcd kubernetes kubectl kwok olareg oras modctl helm registry htpasswd argocd-lua cosign
  kubernetes-1.34 kubernetes-1.36 kubernetes-1.37 kubernetes-1.37-controllers)
# The real node's parts (`harness up --real-node`, root only) are built when asked for by name (as
# .ci/run does as root), and by the harness on first use: kubelet and kube-proxy (the Kubernetes
# module), containerd with its runc shim, the CNI plugins, a static pause, and CRI-O (cgo, from the
# source archive in ${MODELPACK_THIRD_PARTY:-<repo>/../shared/third_party}; the Go module proxy does
# not serve it).
real_node_tools=(kubelet containerd cni-plugins pause crio)

# tool -> version, main packages (one binary each) and extra -ldflags (version stamps)
tool_version() {
  case $1 in
    kubernetes | kubectl | kubelet) echo v1.35.8 ;;
    kubernetes-1.34 | kubernetes-1.34-controllers) echo v1.34.12 ;;
    kubernetes-1.36 | kubernetes-1.36-controllers) echo v1.36.5 ;;
    kubernetes-1.37 | kubernetes-1.37-controllers) echo v1.37.2 ;;
    containerd) echo v2.4.2 ;; cni-plugins) echo v1.10.0 ;;
    crio) echo v1.36.3 ;;
    pause) echo "go-$(source_hash pause)" ;;
    etcd) echo v3.6.16 ;; kwok) echo v0.8.0 ;; olareg) echo v0.2.2 ;;
    oras) echo v1.3.6 ;; modctl) echo v0.2.2 ;; helm) echo v3.22.0 ;; registry) echo v3.1.2 ;;
    cosign) echo v3.1.3 ;;
    htpasswd) echo "x-crypto-v0.59.0-$(source_hash htpasswd)" ;;
    argocd-lua) echo "gopher-lua-v1.1.2-$(source_hash argocd-lua)" ;;
    *) echo "build-tools: unknown tool '$1' (known: ${all_tools[*]} ${real_node_tools[*]})" >&2; return 2 ;;
  esac
}
# The wrapper module a tool is built from: kubectl shares the Kubernetes one (same pins).
tool_dir() {
  case $1 in
    kubectl | kubelet) echo "$here/tools/kubernetes" ;; kubernetes-1.*) echo "$here/tools/${1%-controllers}" ;;
    *) echo "$here/tools/$1" ;;
  esac
}
# The first 12 hex digits of the sha256 of a wrapper module's own files (go.mod, go.sum, *.go).
source_hash() {
  (cd "$here/tools/$1" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-12)
}
tool_packages() {
  case $1 in
    kubernetes) echo k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler ;;
    kubernetes-1.*-controllers) echo k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler ;;
    kubernetes-1.*) echo k8s.io/kubernetes/cmd/kube-apiserver ;;
    kubectl) echo k8s.io/kubernetes/cmd/kubectl ;;
    kubelet) echo k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy ;;
    containerd) echo github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/ctr \
      github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 ;;
    cni-plugins) echo github.com/containernetworking/plugins/plugins/main/bridge \
      github.com/containernetworking/plugins/plugins/ipam/host-local github.com/containernetworking/plugins/plugins/main/loopback ;;
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    kwok) echo sigs.k8s.io/kwok/cmd/kwok ;;
    olareg) echo github.com/olareg/olareg/cmd/olareg ;;
    oras) echo oras.land/oras/cmd/oras ;;
    modctl) echo github.com/modelpack/modctl ;;
    helm) echo helm.sh/helm/v3/cmd/helm ;;
    cosign) echo github.com/sigstore/cosign/v3/cmd/cosign ;;
    registry) echo github.com/distribution/distribution/v3/cmd/registry ;;
    htpasswd | argocd-lua | pause) echo . ;;   # the wrapper module's own main package
  esac
}
tool_binaries() {
  case $1 in
    kubernetes) echo kube-apiserver kube-controller-manager kube-scheduler ;;
    kubernetes-1.*-controllers) echo kube-controller-manager kube-scheduler ;; kubernetes-1.*) echo kube-apiserver ;;
    etcd) echo etcd ;; kubelet) echo kubelet kube-proxy ;; containerd) echo containerd ctr containerd-shim-runc-v2 ;;
    cni-plugins) echo bridge host-local loopback ;; crio) echo crio pinns ;; *) echo "$1" ;;
  esac
}
tool_ldflags() {
  local v=$1 version=$2 flags="-s -w"
  case $v in
    kubernetes | kubernetes-1.* | kubectl | kubelet)
      # Without these stamps /version reports v0.0.0-master, which breaks Helm and version parsing.
      local minor=${version#v1.}; minor=${minor%%.*}
      for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags="$flags -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
        flags="$flags -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
      done ;;
    etcd) flags="$flags -X go.etcd.io/etcd/api/v3/version.GitSHA=$version" ;;
    kwok) flags="$flags -X sigs.k8s.io/kwok/pkg/consts.Version=$version" ;;
    oras) flags="$flags -X oras.land/oras/internal/version.Version=${version#v} -X oras.land/oras/internal/version.BuildMetadata=" ;;
    modctl) flags="$flags -X github.com/modelpack/modctl/pkg/version.GitVersion=$version" ;;
    helm) flags="$flags -X helm.sh/helm/v3/internal/version.version=$version" ;;
    registry) flags="$flags -X github.com/distribution/distribution/v3/version.version=$version" ;;
    cosign) flags="$flags -X sigs.k8s.io/release-utils/version.gitVersion=$version" ;;
  esac
  echo "$flags"
}

tool_tags() {
  case $1 in
    containerd) echo urfave_cli_no_docs,no_btrfs,no_devmapper,no_zfs,osusergo,netgo ;;
    *) echo selinux,notest,grpcnotrace ;;
  esac
}
# CRI-O: cgo (libseccomp), vendored modules, from the third-party source archive.
build_crio() {
  local tmp=$1 archive src
  archive="${MODELPACK_THIRD_PARTY:-$here/../../../shared/third_party}/cri-o-v1.36.3-src.tar.gz"
  if [ ! -f "$archive" ]; then
    echo "build-tools: crio needs $archive (CRI-O's source; the Go module proxy does not serve it)" >&2; return 3
  fi
  for need in gcc pkg-config make strip; do
    command -v $need >/dev/null || { echo "build-tools: crio needs '$need' (apt install gcc pkg-config make binutils libseccomp-dev)" >&2; return 3; }
  done
  pkg-config --exists libseccomp || { echo "build-tools: crio needs libseccomp's headers (apt install libseccomp-dev)" >&2; return 3; }
  src="$tmp/src"; mkdir -p "$src"
  tar -xzf "$archive" -C "$src" --strip-components=1
  (cd "$src" && CGO_ENABLED=1 go build -mod=vendor -trimpath -ldflags "-s -w" -tags \
      "containers_image_ostree_stub exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper containers_image_openpgp seccomp" \
      -o "$tmp/crio" ./cmd/crio && make -s -C pinns >/dev/null && cp bin/pinns "$tmp/pinns") || return $?
  rm -rf "$src"
}

build_one() {
  local tool=$1 version out start
  version=$(tool_version "$tool")
  out="$cache/bin/$tool-$version"
  local missing=0 b
  for b in $(tool_binaries "$tool"); do [ -x "$out/$b" ] || missing=1; done
  [ "$tool" = kwok ] && [ ! -f "$out/kwok-stages.yaml" ] && missing=1
  if [ $missing = 0 ]; then echo "$out"; return 0; fi

  start=$(date +%s)
  echo "build-tools: building $tool $version (one-time; cached in $out)" >&2
  # Progress for people: the cold Kubernetes build takes minutes on 2 cores. The ticker's own
  # sleep must not hold our stdout/stderr open after we finish.
  (
    trap 'kill $s 2>/dev/null; exit 0' TERM
    while :; do sleep 30 >/dev/null 2>&1 & s=$!; wait $s; echo "build-tools:   $tool still building, $(( $(date +%s) - start ))s so far" >&2; done
  ) >/dev/null &
  ticker=$!
  local tmp="$out.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  local status=0
  if [ "$tool" = crio ]; then
    build_crio "$tmp" || status=$?
  else
    (
      cd "$(tool_dir "$tool")"
      # shellcheck disable=SC2046
      CGO_ENABLED=0 go build -mod=mod -trimpath -tags "$(tool_tags "$tool")" \
        -ldflags "$(tool_ldflags "$tool" "$version")" -o "$tmp/" $(tool_packages "$tool")
    ) || status=$?
  fi
  # go names a module-root main package after its last path element ("server" for etcd).
  if [ $status = 0 ] && [ "$tool" = etcd ]; then mv "$tmp/server" "$tmp/etcd" || status=$?; fi
  if [ $status = 0 ] && [ "$tool" = kwok ]; then
    # kwok >= 0.8 ships no built-in stages: take the canonical ones from its module zip.
    local src
    src=$(cd "$here/tools/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
             pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      cat "$src/kustomize/stage/$f"; echo "---"
    done > "$tmp/kwok-stages.yaml" || status=$?
  fi
  kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true; ticker=
  if [ $status != 0 ]; then rm -rf "$tmp"; echo "build-tools: $tool $version failed (exit $status)" >&2; return $status; fi
  rm -rf "$out"; mv "$tmp" "$out"   # publish atomically: a half-built folder is never used
  echo "build-tools: built $tool $version in $(( $(date +%s) - start ))s" >&2
  echo "$out"
}

ticker=
trap '[ -n "$ticker" ] && kill "$ticker" 2>/dev/null; true' EXIT
tools=("$@"); [ ${#tools[@]} -gt 0 ] || tools=("${all_tools[@]}")
mkdir -p "$cache/bin"
for t in "${tools[@]}"; do
  # One builder per tool at a time: concurrent test runs would race on the final rename.
  exec {lock}>"$cache/bin/.$t.lock"
  flock "$lock"
  build_one "$t"
  exec {lock}>&-
done
