#!/usr/bin/env bash
# `make image`: builds the operator image from the Dockerfile and prints its name on stdout.
#
#   IMAGE   name:tag to give it (default: the chart's image.repository, tagged with the project's version)
#   BASE    the Dockerfile's base (default python:3.11-slim-bookworm); when the registry holding it cannot
#           be reached, a base made from Debian packages (tools/image/offline-base.sh) is used instead
#   ENGINE  buildah, docker or podman (default: the first found, in that order)
#
# Where the kernel or sandbox refuses overlay mounts, STORAGE_DRIVER=vfs makes buildah (and the image
# tests, which inherit it) store layers as plain copies: slower, but it works anywhere.
#
# Rebuilds only when an input changed: the image carries a label with a digest of the Dockerfile,
# the files it copies and the base, and an image with the same digest is reused.
set -euo pipefail
cd "$(dirname "$0")/../.."

step() { echo "==> $*" >&2; }

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -1)
repository=$(sed -n 's/^  repository: \(.*\)$/\1/p' deploy/helm/azureml-compute-operator/values.yaml | head -1)
IMAGE="${IMAGE:-$repository:$version}"
BASE="${BASE:-python:3.11-slim-bookworm}"
if [[ -z "${ENGINE:-}" ]]; then
  for candidate in buildah docker podman; do
    if command -v "$candidate" >/dev/null; then ENGINE=$candidate; break; fi
  done
fi
[[ -n "${ENGINE:-}" ]] || { echo "no container engine: install buildah, docker or podman" >&2; exit 1; }

reachable() {
  case "$ENGINE" in
    buildah) buildah inspect --type image "$1" >/dev/null 2>&1 \
               || timeout 60 buildah pull --quiet "$1" >/dev/null 2>&1 ;;
    *) "$ENGINE" image inspect "$1" >/dev/null 2>&1 || timeout 60 "$ENGINE" pull --quiet "$1" >/dev/null 2>&1 ;;
  esac
}
if ! reachable "$BASE"; then
  step "base $BASE cannot be pulled: using a base made from Debian packages"
  BASE=$(tools/image/offline-base.sh)
  if [[ "$ENGINE" != buildah ]]; then
    echo "the offline base lives in buildah's storage; build with ENGINE=buildah" >&2
    exit 1
  fi
fi

# The build context is what .dockerignore lets through: the Dockerfile's COPY sources.
inputs=$( { cat Dockerfile .dockerignore pyproject.toml constraints.txt README.md; echo "$BASE";
            find operator -type f ! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 | sort -z \
              | xargs -0 sha256sum; } | sha256sum | cut -c1-32)
label="dev.azureml-compute-operator.inputs"
current() {
  case "$ENGINE" in
    buildah) buildah inspect --type image --format "{{index .ImageAnnotations \"$label\"}}{{index .OCIv1.Config.Labels \"$label\"}}" "$IMAGE" 2>/dev/null ;;
    *) "$ENGINE" image inspect --format "{{index .Config.Labels \"$label\"}}" "$IMAGE" 2>/dev/null ;;
  esac
}
if [[ "$(current || true)" == "$inputs" ]]; then
  step "$IMAGE: up to date (inputs $inputs)"
  echo "$IMAGE"
  exit 0
fi

# A CA bundle the host trusts, for TLS-inspecting proxies between the build and the package index.
ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
secret=()
[[ -s "$ca" ]] && secret=(--secret "id=pip-ca,src=$ca")
step "building $IMAGE with $ENGINE from $BASE"
case "$ENGINE" in
  buildah)
    # chroot isolation: works inside unprivileged sandboxes and containers, where runc may not.
    buildah bud --isolation chroot --layers --build-arg "BASE=$BASE" "${secret[@]}" \
      --label "$label=$inputs" --tag "$IMAGE" . >&2 ;;
  *)
    DOCKER_BUILDKIT=1 "$ENGINE" build --build-arg "BASE=$BASE" "${secret[@]}" \
      --label "$label=$inputs" --tag "$IMAGE" . >&2 ;;
esac
echo "$IMAGE"
