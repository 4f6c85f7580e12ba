# One bridge per store: docker run -e ERC_BRIDGE_ADAPTER=... -p 8080:8080 erc-bridge
FROM python:3.12-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
# The runtime dependencies exactly as locked (versions and hashes), in their own layer.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY adapters ./adapters
COPY mappings ./mappings
# --no-deps: nothing beyond the lock gets in; pip check fails the build if the lock is short.
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && /opt/venv/bin/pip check

FROM python:3.12-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin bridge
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ERC_BRIDGE_HOST=0.0.0.0 \
    ERC_BRIDGE_PORT=8080
WORKDIR /app
USER 10001
EXPOSE 8080
# Liveness only: readiness (/readyz: adapter open, platform credentials accepted) belongs
# to the orchestrator.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('ERC_BRIDGE_PORT', '8080') + '/healthz', timeout=2)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["erc-bridge"]
CMD ["serve"]
