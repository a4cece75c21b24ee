"""What the benchmarks share: a real `envboard serve` on a loopback port, and a few helpers."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The ceilings run waitress with 16 threads, as the README's Performance section defines them; on
# a 2-core box 16 answered the same bytes as fast as 8 or a little faster: the harder bar.
# envboard runs with its own default (`envboard serve --threads`, 8) unless a benchmark says.
CEILING_THREADS = 16


def wait_listening(url: str, attempts: int = 3000) -> None:
    for _ in range(attempts):
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{url} never answered")


class Server:
    """`envboard serve` in single-user mode; `fake_uv` swaps uv for benchmarks/fake_uv.py.

    Its session (`session=True`) is the operator's: it opened the link with the token.
    """

    def __init__(
        self,
        workspace: Path,
        state: Path,
        env: dict[str, str],
        fake_uv: bool = True,
        threads: int | None = None,
        session: bool = True,
        extra: tuple[str, ...] = (),
        cwd: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [
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
            *(("--threads", str(threads)) if threads else ()),
            *extra,
        ]
        if fake_uv:
            argv += ["--uv", str(HERE / "fake_uv.py")]
        self.started = time.perf_counter()
        self.token = secrets.token_urlsafe(32)
        self.process = subprocess.Popen(
            argv,
            env={**os.environ, "ENVBOARD_TOKEN": self.token, **env},
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_listening(self.url + "/healthz")
        self.listening = time.perf_counter()
        if session:
            self.session_cookie, self.csrf = self._session()

    def projects(self) -> dict:
        return json.loads(urllib.request.urlopen(self.url + "/api/projects", timeout=60).read())

    def wait_settled(self, timeout: float = 900) -> dict:
        """Until no status check or probe is running (the overview as a person sees it after a while)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            report = self.projects()
            if not any(p["pending"] for p in report["projects"]):
                return report
            time.sleep(0.5)
        raise RuntimeError("probes did not finish")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def _session(self) -> tuple[str, str]:
        try:  # the printed link: a 303 to the page without the token, with the operator's cookie
            urllib.request.build_opener(NoRedirect).open(f"{self.url}/?token={self.token}", timeout=10)
            raise RuntimeError("the token link did not redirect")
        except urllib.error.HTTPError as redirect:
            cookie = redirect.headers["Set-Cookie"].split(";")[0]
        request = urllib.request.Request(self.url + "/", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=10) as response:
            page = response.read().decode()
            # the first page gives the session its CSRF token: a browser keeps the cookie holding it
            cookie = (response.headers["Set-Cookie"] or cookie).split(";")[0]
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
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # still waiting on background checks: not what is measured
            self.process.kill()
            self.process.wait()


def users_file(base: Path) -> tuple[Path, str]:
    path = base / "users.toml"
    if path.exists():
        path.unlink()
    output = subprocess.run(
        [sys.executable, "-m", "webapp", "users", "add", "alice", "--role", "operator", "--users", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return path, output.strip().splitlines()[-1]


def team_server(workspace: Path, state: Path, base: Path, threads: int | None = None) -> tuple[Server, str]:
    """`envboard serve` as a team runs it, with real uv: a users file in `base` with one operator,
    anonymous viewing allowed. Returns the server and the operator's token."""
    users, token = users_file(base)
    server = Server(
        workspace,
        state,
        {},
        fake_uv=False,
        threads=threads,
        session=False,
        extra=("--users", str(users), "--allow-anonymous-view"),
    )
    return server, token


class BarePage:
    """The ceiling: a bare Flask+waitress app rendering the same rows and nothing else (bare_page.py)."""

    def __init__(self, report: dict, folder: Path, threads: int = CEILING_THREADS) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        rows = folder / "rows.json"
        rows.write_text(json.dumps(report))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "bare_page.py"), str(rows), str(self.port), str(threads)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_listening(self.url + "/healthz")
        self.listening = time.perf_counter()

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: int = 10, connections: int = 16, headers: dict[str, str] | None = None) -> float:
    """Requests per second that wrk (Debian package `wrk`) gets with `connections` keep-alive clients."""
    return wrk_run(url, seconds, connections, headers).rate


@dataclass(frozen=True)
class WrkResult:
    rate: float  # requests per second
    p99_ms: float


def wrk_run(
    url: str,
    seconds: int = 10,
    connections: int = 16,
    headers: dict[str, str] | None = None,
    cpus: set[int] | None = None,
) -> WrkResult:
    """One bounded wrk run (2 threads, `connections` keep-alive clients, loopback) with its p99;
    on `cpus` only, when given (`split_cores`)."""
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    argv = [wrk_path, "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "30s", "--latency"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if cpus is not None:
        argv = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *argv]
    output = subprocess.run([*argv, url], check=True, capture_output=True, text=True).stdout
    errors = [line for line in output.splitlines() if "Non-2xx" in line or "Socket errors" in line]
    if errors:
        raise RuntimeError(f"wrk saw errors against {url}: {errors}")
    p99 = next(line.split()[1] for line in output.splitlines() if line.strip().startswith("99%"))
    return WrkResult(float(output.split("Requests/sec:")[1].split()[0]), _ms(p99))


def split_cores() -> tuple[set[int], set[int]] | None:
    """(the servers' cores, the load generator's): the first core for every server measured,
    the others for wrk, so that wrk's busy threads never wait for a core with a server's
    (sharing them, the tail at 64 clients was the scheduler's: p99 190-310 ms where it is
    47-57 ms apart). None on a machine with one core."""
    cores = sorted(os.sched_getaffinity(0))
    return ({cores[0]}, set(cores[1:])) if len(cores) > 1 else None


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of the process `pid` and of its children on `cpus` (what they start from
    then on inherits it); walked again until a walk finds no thread it had not pinned."""
    import psutil  # envboard's own dependency

    pinned: set[int] = set()
    while True:
        processes = [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
        threads = set()
        for process in processes:
            with contextlib.suppress(FileNotFoundError):
                threads |= {int(task.name) for task in Path(f"/proc/{process}/task").iterdir()}
        if threads <= pinned:
            return
        for thread in threads - pinned:
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(thread, cpus)
        pinned |= threads


def _ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    raise ValueError(text)


class Ceiling:
    """Ceiling (b): waitress with `threads` threads returning `size` precomputed bytes (ceiling.py)."""

    def __init__(self, size: int, threads: int = CEILING_THREADS, keep_alive: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, str(HERE / "ceiling.py"), str(size), str(self.port), str(threads)]
        self.process = subprocess.Popen(
            argv + (["keep-alive"] if keep_alive else []),
            env={**os.environ, "PYTHONPATH": str(HERE.parent)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_listening(self.url + "/healthz")

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


def workspace_of(base: Path, size: int) -> tuple[Path, Path]:
    """A workspace of `size` active projects and its state folder under `base`, made once and reused."""
    workspace, state = base / f"ws{size}", base / f"state{size}"
    if not workspace.exists():
        write_workspace(workspace, active_projects=size)
    return workspace, state


def median(function, runs: int) -> float:
    """Median wall-clock seconds of `runs` calls."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def real_project_arguments(scratch_prefix: str) -> tuple[argparse.Namespace, Path]:
    """`--project DIR` and `--runs N` of the benchmarks against real dg, and a scratch folder.

    Warns when PYTHONDONTWRITEBYTECODE is set: every Dagster import would then compile again.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if "PYTHONDONTWRITEBYTECODE" in os.environ:
        print("warning: PYTHONDONTWRITEBYTECODE is set; unset it for fair numbers", file=sys.stderr)
    return args, Path(tempfile.mkdtemp(prefix=scratch_prefix))
