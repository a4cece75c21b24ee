"""What the benchmarks share: a real `envboard serve` on a loopback port, and a few helpers."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, workspace: Path, state: Path, env: dict[str, str], fake_uv: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "webapp",
                "serve",
                "--workspace",
                str(workspace),
                "--port",
                str(self.port),
                "--state-dir",
                str(state),
                "--uv",
                str(HERE / "fake_uv.py"),
            ],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(150):
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        self.session_cookie, self.csrf = self._session()

    def _session(self) -> tuple[str, str]:
        with urllib.request.urlopen(self.url + "/", timeout=10) as response:
            cookie = response.headers["Set-Cookie"].split(";")[0]
            page = response.read().decode()
        token = page.split('name="csrf-token" content="')[1].split('"')[0]
        return cookie, token

    def start_sync(self) -> str:
        request = urllib.request.Request(
            self.url + "/projects/live/sync",
            method="POST",
            headers={"X-CSRF-Token": self.csrf, "Cookie": self.session_cookie},
        )
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(request, timeout=10)
        except urllib.error.HTTPError as redirect:
            return redirect.headers["Location"].rsplit("/", 1)[1]
        raise RuntimeError("sync did not redirect to its job")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def wait_job(self, job_id: str, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = json.loads(urllib.request.urlopen(f"{self.url}/api/jobs/{job_id}", timeout=10).read())
            if job["status"] not in ("queued", "running"):
                return job
            time.sleep(0.2)
        raise RuntimeError("job did not end")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def write_workspace(root: Path, *, uv_projects: tuple[str, ...] = (), active_projects: int = 0) -> Path:
    """A dg workspace: persistent_uv projects by name, then `active_projects` active ones (p000...)."""
    root.mkdir(parents=True)
    projects = [(name, '\npython_environment = "persistent_uv"') for name in uv_projects]
    projects += [(f"p{index:03d}", "") for index in range(active_projects)]
    for name, mode in projects:
        (root / name).mkdir()
        (root / name / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
            f'[tool.dg.project]\nroot_module = "{name}"{mode}\n'
        )
    entries = "".join(f'\n[[workspace.projects]]\npath = "{name}"\n' for name, _ in projects)
    (root / "dg.toml").write_text('directory_type = "workspace"\n' + entries)
    return root


def median(function, runs: int) -> float:
    """Median wall-clock seconds of `runs` calls."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)
