#!/usr/bin/env bash
# Builds (or reuses) the test control plane binaries: kube-apiserver, kube-controller-manager,
# kubectl, etcd and helm, at the versions pinned in versions.env, from the Go module proxy.
#
# Binaries are cached per version under ${AML_CP_CACHE:-${XDG_CACHE_HOME:-~/.cache}/azureml-compute-operator}
# so every clone on this machine shares them, and linked into <repo>/.local/bin.
# Re-running is cheap: a binary that already reports its pinned version is not rebuilt.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${AML_CP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/azureml-compute-operator}"
k8s_dir="$cache_root/kubernetes-$KUBERNETES_VERSION"
etcd_dir="$cache_root/etcd-$ETCD_VERSION"
helm_dir="$cache_root/helm-$HELM_VERSION"
link_dir="$repo/.local/bin"
mkdir -p "$k8s_dir" "$etcd_dir" "$helm_dir" "$link_dir"

# Never download a Go toolchain, never build with cgo (static binaries, like upstream's release builds).
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
jobs="${AML_CP_BUILD_JOBS:-$(nproc)}"

step() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
have() { # have BINARY EXPECTED_SUBSTRING VERSION_ARGS...
  local bin="$1" want="$2" out; shift 2
  [ -x "$bin" ] || return 1
  # Capture first: `cmd | grep -q` can kill cmd with SIGPIPE, which pipefail reports as a failure.
  out="$("$bin" "$@" 2>/dev/null)" || return 1
  [[ "$out" == *"$want"* ]]
}
timed() { # runs a build, reporting wall time and peak memory when GNU time is available
  if [ -x /usr/bin/time ]; then /usr/bin/time -f '    took %es, peak RSS %M KiB' "$@"; else "$@"; fi
}

minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
vpkg=k8s.io/component-base/version; cpkg=k8s.io/client-go/pkg/version
# Without these stamps the binaries report v0.0.0-master and version-aware clients (helm, kubectl) misbehave.
k8s_ldflags="-s -w \
 -X $vpkg.gitVersion=$KUBERNETES_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor \
 -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z \
 -X $cpkg.gitVersion=$KUBERNETES_VERSION -X $cpkg.gitMajor=1 -X $cpkg.gitMinor=$minor \
 -X $cpkg.gitTreeState=clean -X $cpkg.buildDate=1970-01-01T00:00:00Z"

for cmd in kube-apiserver kube-controller-manager kubectl; do
  bin="$k8s_dir/$cmd"
  if [ "$cmd" = kubectl ]; then check=(version --client); else check=(--version); fi
  if have "$bin" "$KUBERNETES_VERSION" "${check[@]}"; then
    step "$cmd $KUBERNETES_VERSION: cached"
  else
    step "building $cmd $KUBERNETES_VERSION (cold: several minutes on 2 cores)"
    (cd "$here/k8s" && timed go build -p "$jobs" -trimpath -tags=selinux,notest,grpcnotrace \
        -ldflags="$k8s_ldflags" -o "$bin.tmp" "k8s.io/kubernetes/cmd/$cmd")
    mv "$bin.tmp" "$bin"
  fi
  ln -sfn "$bin" "$link_dir/$cmd"
done

bin="$etcd_dir/etcd"
if have "$bin" "etcd Version: ${ETCD_VERSION#v}" --version; then
  step "etcd $ETCD_VERSION: cached"
else
  step "building etcd $ETCD_VERSION"
  (cd "$here/etcd" && timed go build -p "$jobs" -trimpath -ldflags="-s -w" -o "$bin.tmp" go.etcd.io/etcd/server/v3)
  mv "$bin.tmp" "$bin"
fi
ln -sfn "$bin" "$link_dir/etcd"

bin="$helm_dir/helm"
if have "$bin" "$HELM_VERSION" version --short; then
  step "helm $HELM_VERSION: cached"
else
  step "installing helm $HELM_VERSION"
  helm_major="${HELM_VERSION%%.*}"
  GOBIN="$helm_dir" GOFLAGS= timed go install -trimpath \
    -ldflags="-s -w -X helm.sh/helm/$helm_major/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/$helm_major/cmd/helm@$HELM_VERSION"
fi
ln -sfn "$bin" "$link_dir/helm"

step "control plane binaries ready in $link_dir"
"$link_dir/kube-apiserver" --version
etcd_version="$("$link_dir/etcd" --version)"; echo "${etcd_version%%$'\n'*}"
"$link_dir/helm" version --short
