#!/usr/bin/env bash
# Prints the name of a local base image equivalent to python:3.11-slim-bookworm for the Dockerfile's
# BASE build argument, made from Debian bookworm packages with mmdebstrap: for machines that reach a
# Debian mirror but no container registry. Debian's interpreter is /usr/bin/python3.11, the official
# image's /usr/local/bin/python3.11; the Dockerfile builds its venv in the same base it runs, so both work.
#
# The base is cached as an OCI archive under ${AML_CP_CACHE:-${XDG_CACHE_HOME:-~/.cache}/azureml-compute-operator}
# (beside the control plane binaries), keyed by everything that goes into it: mmdebstrap's arguments
# (variant, packages, exclusions, suite, mirrors). Progress goes to stderr; stdout is the image name only.
set -euo pipefail

SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
# python-is-python3: the Dockerfile calls `python`. ca-certificates: TLS to Azure and the package index.
PACKAGES="python3,python3-venv,python-is-python3,ca-certificates"

step() { echo "==> $*" >&2; }

cache_root="${AML_CP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/azureml-compute-operator}"
# minbase: Essential packages and apt only, like debian:bookworm-slim; documentation, manuals, locales,
# apt lists and caches are left out as the slim image leaves them out.
# shellcheck disable=SC2016  # the hook's $1 is the root mmdebstrap passes it, not ours to expand
options=(--variant=minbase --include="$PACKAGES"
         --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*'
         --dpkgopt='path-exclude=/usr/share/locale/*'
         --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*')
sources=("deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY_MIRROR $SUITE-security main")
key=$(printf '%s\n' "${options[@]}" "$SUITE" "${sources[@]}" | sha256sum | cut -c1-16)
archive="$cache_root/image-base/debian-$SUITE-python3-$key.oci.tar"
image="localhost/azureml-compute-operator-base:$SUITE-$key"

if buildah inspect --type image "$image" >/dev/null 2>&1; then
  step "offline base $image: in local storage"
  echo "$image"
  exit 0
fi

if [[ ! -s "$archive" ]]; then
  command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
  step "offline base: mmdebstrap $SUITE with $PACKAGES (cached afterwards in $archive)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mmdebstrap --quiet "${options[@]}" "$SUITE" "$work/rootfs.tar" "${sources[@]}" >&2
  ctr=$(buildah from scratch)
  buildah add --quiet "$ctr" "$work/rootfs.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
    --cmd python3 --label "org.opencontainers.image.base.name=debian:$SUITE (mmdebstrap $PACKAGES)" "$ctr"
  mkdir -p "$(dirname "$archive")"
  buildah commit --quiet --format oci "$ctr" "oci-archive:$archive.part:$image" >/dev/null
  buildah rm "$ctr" >/dev/null
  mv "$archive.part" "$archive"
fi
step "offline base $image: loading $archive"
buildah pull --quiet "oci-archive:$archive" >/dev/null
buildah tag "$(buildah images --quiet --noheading --filter "reference=$image" | head -1)" "$image" 2>/dev/null || true
buildah inspect --type image "$image" >/dev/null
echo "$image"
