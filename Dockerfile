# envboard on a shared box. Build:  docker build -t envboard .   (or: podman build --format docker -t envboard .)
# Run (a users file is required, since the container binds 0.0.0.0; uid 10001 must read it;
# project code runs as uid 10002, which must write the workspace's projects, group-writable
# for envboard's own mode changes):
#   envboard users add alice --role operator --users ./users.toml && sudo chown 10001 users.toml
#   sudo chown -R 10002:10002 workspace && chmod -R g+w workspace
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
    ENVBOARD_JOB_USER=envboard-jobs \
    UV_CACHE_DIR=/var/cache/envboard-uv

WORKDIR /opt/envboard
COPY pyproject.toml README.md ./
COPY webapp ./webapp
COPY templates ./templates
COPY static ./static
# envboard brings its own uv (the PyPI package ships the binary). Two users: envboard (the
# server, which alone reads the state dir and the users file) and envboard-jobs (project code:
# probes, checks, syncs), whose group envboard is in, to write config files in the projects.
# uv's cache is the job user's, outside the state dir.
RUN pip install --no-compile . \
    && useradd --create-home --uid 10001 envboard \
    && useradd --create-home --uid 10002 --user-group envboard-jobs \
    && usermod --append --groups envboard-jobs envboard \
    && mkdir -p /workspace /var/lib/envboard /etc/envboard /var/cache/envboard-uv \
    && chown envboard:envboard /var/lib/envboard && chmod 0700 /var/lib/envboard \
    && chown envboard-jobs:envboard-jobs /var/cache/envboard-uv

VOLUME ["/var/lib/envboard"]
EXPOSE 8765
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=4)"]
# The container starts as root only to drop to envboard at once, keeping the capabilities it
# needs to start project code as envboard-jobs (setuid, setgid), hand it the probe's scratch
# folder (chown) and end its processes (kill); envboard clears them from what it starts, so
# project code has none.
ENTRYPOINT ["setpriv", "--reuid=envboard", "--regid=envboard", "--init-groups", \
    "--inh-caps=-all,+setuid,+setgid,+chown,+kill", "--ambient-caps=-all,+setuid,+setgid,+chown,+kill", \
    "--bounding-set=-all,+setuid,+setgid,+chown,+kill", "--"]
CMD ["envboard", "serve", "--log-format", "json"]
