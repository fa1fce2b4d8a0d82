# syntax=docker/dockerfile:1
# The azureml-compute-operator image: the project's wheel installed into a virtual environment,
# pinned by constraints.txt, run as a non-root numeric user on a read-only root filesystem.
#
#   make image        (buildah, docker or podman; tools/image/build.sh)
#   docker build -t ghcr.io/azureml-compute-operator/azureml-compute-operator:0.1.0 .
#
# BASE: any Debian-based image with Python 3.11 and its venv module. The default is the official
# image (interpreter in /usr/local/bin); tools/image/offline-base.sh makes one from Debian packages
# (interpreter in /usr/bin) where no registry is reachable. Both stages use the same base, so the
# venv's interpreter link resolves in the runtime stage whichever base it is.
#
# tests/delivery/test_image.py lints this file; tests/delivery/test_image_run.py builds it and runs
# the image's filesystem as the chart runs it.
ARG BASE=python:3.11-slim-bookworm
# checkov:skip=CKV_DOCKER_7: FROM names the BASE argument, whose default pins the tag 3.11-slim-bookworm.

FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml constraints.txt ./
# The runtime dependencies first, at the versions constraints.txt pins, in a layer of their own that a
# change to the code does not invalidate. A venv's own pip installs (a distribution's may refuse to).
# The optional build secret `pip-ca` is a CA bundle for a TLS-inspecting proxy in front of the index.
RUN --mount=type=secret,id=pip-ca,required=false \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python -m venv /opt/venv \
    && /opt/venv/bin/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > /tmp/requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir --constraint constraints.txt --requirement /tmp/requirements.txt \
    && /opt/venv/bin/python -m compileall -q /opt/venv
COPY README.md ./
COPY operator/ operator/
# Then the project's wheel (setuptools from the build-system table, in an isolated build environment)
# without dependencies; `pip check` proves the layer below satisfies them. pip itself leaves the image.
RUN --mount=type=secret,id=pip-ca,required=false \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && /opt/venv/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /dist . \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps /dist/*.whl \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/pip uninstall --yes pip \
    && /opt/venv/bin/python -m compileall -q /opt/venv \
    && /opt/venv/bin/aml-operator --help

FROM ${BASE} AS runtime
LABEL org.opencontainers.image.title="azureml-compute-operator" \
      org.opencontainers.image.description="Azure Machine Learning computes as Kubernetes resources" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/azureml-compute-operator/azureml-compute-operator"
# Bytecode was compiled at build time; nothing is written at run time but to /tmp (an emptyDir in
# the chart), so the root filesystem can be read-only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
# A passwd and group entry for the runtime user: Python's getpass.getuser() (kopf's identity when
# POD_ID is unset) and other libraries look the uid up and fail without one. Written directly, as the
# base may lack useradd.
RUN echo "aml:x:10001:10001:azureml-compute-operator:/tmp:/usr/sbin/nologin" >> /etc/passwd \
    && echo "aml:x:10001:" >> /etc/group
COPY --from=build /opt/venv /opt/venv
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# 8080: kopf's liveness endpoint (/healthz); 8081: Prometheus metrics (/metrics).
EXPOSE 8080 8081
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["aml-operator"]
CMD ["--liveness", "http://0.0.0.0:8080/healthz"]
