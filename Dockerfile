# envboard on a shared box. Build:  docker build -t envboard .   (or: podman build --format docker -t envboard .)
# Run (a users file is required, since the container binds 0.0.0.0; uid 10001 must read it):
#   envboard users add alice --role operator --users ./users.toml && sudo chown 10001 users.toml
#   docker run -p 8765:8765 -v "$PWD/workspace:/workspace" -v envboard-state:/var/lib/envboard \
#     -v "$PWD/users.toml:/etc/envboard/users.toml:ro" envboard
# envboard is PID 1 here and handles SIGTERM itself: `docker stop` / `podman stop` end running
# syncs, which are recorded as interrupted, and the container exits 0 within seconds.
FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    ENVBOARD_WORKSPACE=/workspace \
    ENVBOARD_STATE_DIR=/var/lib/envboard \
    ENVBOARD_USERS=/etc/envboard/users.toml \
    ENVBOARD_HOST=0.0.0.0 \
    ENVBOARD_PORT=8765 \
    UV_CACHE_DIR=/var/lib/envboard/uv-cache

WORKDIR /opt/envboard
COPY pyproject.toml README.md ./
COPY webapp ./webapp
COPY templates ./templates
COPY static ./static
# envboard brings its own uv (the PyPI package ships the binary)
RUN pip install --no-compile . \
    && useradd --create-home --uid 10001 envboard \
    && mkdir -p /workspace /var/lib/envboard /etc/envboard \
    && chown envboard:envboard /var/lib/envboard

USER envboard
VOLUME ["/var/lib/envboard"]
EXPOSE 8765
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=4)"]
CMD ["envboard", "serve", "--log-format", "json"]
