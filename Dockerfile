# The webhook image: `policy-webhook serve` on a slim Python base, as a non-root numeric user,
# on a read-only root filesystem. Runtime dependencies only, installed from requirements/
# runtime.txt (pinned, hash-checked; regenerate with `make requirements`).
# Build: docker build -t policy-webhook:0.1.0 .   (pin the base image by digest in your CI:
# --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements/ requirements/
# Build tools live in their own environment and never reach the runtime one.
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes --only-binary=:all: -r requirements/build.txt
# Every runtime dependency is pinned and hash-checked; nothing unlisted can be installed.
RUN python -m venv --without-pip /opt/venv \
    && /opt/build/bin/pip --python /opt/venv/bin/python install \
        --no-compile --require-hashes --only-binary=:all: -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY webhook/ webhook/
# The package itself, without its dependencies (they are all in runtime.txt above); bytecode is
# compiled here because the running container cannot write it.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/build/bin/pip --python /opt/venv/bin/python install --no-compile --no-deps /wheels/*.whl \
    && /opt/venv/bin/python -m compileall -q -f --invalidation-mode unchecked-hash /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
# The base image's installer is not needed to run the server.
RUN python -m pip uninstall --yes --quiet pip setuptools wheel
COPY --from=build /opt/venv /opt/venv
# Default policies; in Kubernetes the policies ConfigMap is mounted over this folder.
COPY policies/ /etc/policy-webhook/policies/
# Nothing writes to the image: no bytecode, and temporary files and caches go to /tmp (an
# emptyDir in deploy/).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    HOME=/tmp
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/opt/venv/bin/policy-webhook", "serve"]
CMD ["--policies", "/etc/policy-webhook/policies", \
     "--tls-cert", "/etc/policy-webhook/tls/tls.crt", \
     "--tls-key", "/etc/policy-webhook/tls/tls.key", \
     "--host", "0.0.0.0", "--port", "8443", \
     "--timeout-seconds", "2"]
