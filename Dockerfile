# syntax=docker/dockerfile:1
# The azureml-compute-operator image: the project's wheel installed into a virtual environment,
# pinned by constraints.txt, run as a non-root numeric user on a read-only root filesystem.
#
#   docker build -t azureml-compute-operator:0.1.0 .
#
# tests/delivery/test_image.py lints this file with hadolint and runs the build stage's RUN steps
# in a fresh directory, then `aml-operator --help` from the venv they produce.
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY operator/ operator/
# The wheel first (setuptools from the build-system table, in an isolated build environment), then
# a venv with the wheel and its runtime dependencies at the versions constraints.txt pins.
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /dist . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --constraint constraints.txt /dist/*.whl \
    && /opt/venv/bin/python -m compileall -q /opt/venv \
    && /opt/venv/bin/aml-operator --help

# The same base as the build stage: the venv's interpreter links to its /usr/local/bin/python3.11.
FROM python:3.11-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="azureml-compute-operator" \
      org.opencontainers.image.description="Azure Machine Learning computes as Kubernetes resources" \
      org.opencontainers.image.licenses="Apache-2.0"
# Bytecode was compiled at build time; nothing is written at run time but to /tmp (an emptyDir in
# the chart), so the root filesystem can be read-only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /opt/venv /opt/venv
# A numeric user and group (no /etc/passwd entry needed): Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
# 8080: kopf's liveness endpoint (/healthz); 8081: Prometheus metrics (/metrics).
EXPOSE 8080 8081
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["aml-operator"]
CMD ["--liveness", "http://0.0.0.0:8080/healthz"]
