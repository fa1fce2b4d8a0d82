#!/usr/bin/env bash
# `make release`: everything a user installs, in $DIST (default dist/), named by the project's version:
#
#   azureml-compute-operator-<version>.oci.tar        the image (tools/image/build.sh) as an OCI archive,
#                                                     named as the chart's default image.repository:<version>
#   azureml-compute-operator-<version>.tgz            the operator chart   (helm package)
#   azureml-compute-operator-crds-<version>.tgz       the CRDs chart       (helm package)
#   CHANGELOG.md, SHA256SUMS
#
# Pushing them to a registry: docs/delivery.md (skopeo copy, helm push).
set -euo pipefail
cd "$(dirname "$0")/../.."

step() { echo "==> $*" >&2; }

HELM="${HELM:-helm}"
DIST="${DIST:-dist}"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -1)
charts=(deploy/helm/azureml-compute-operator deploy/helm/azureml-compute-operator-crds)
for chart in "${charts[@]}"; do
  for field in version appVersion; do
    declared=$(sed -n "s/^$field: \"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" "$chart/Chart.yaml")
    if [[ "$declared" != "$version" ]]; then
      echo "$chart/Chart.yaml: $field is '$declared', the project's version (pyproject.toml) is '$version'" >&2
      exit 1
    fi
  done
done
grep -q "^## $version\b" CHANGELOG.md || { echo "CHANGELOG.md has no '## $version' section" >&2; exit 1; }

image=$(IMAGE="" tools/image/build.sh)
mkdir -p "$DIST"
archive="$DIST/azureml-compute-operator-$version.oci.tar"
step "image $image -> $archive"
rm -f "$archive"
buildah push --quiet "$image" "oci-archive:$archive:$image" >&2
for chart in "${charts[@]}"; do
  step "helm package $chart"
  "$HELM" package "$chart" --destination "$DIST" >&2
done
cp CHANGELOG.md "$DIST/CHANGELOG.md"
(cd "$DIST" && sha256sum "azureml-compute-operator-$version.oci.tar" "azureml-compute-operator-$version.tgz" \
   "azureml-compute-operator-crds-$version.tgz" CHANGELOG.md > SHA256SUMS)
step "release $version in $DIST/"
ls -l "$DIST" >&2
