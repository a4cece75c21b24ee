"""Fixtures that build real things in tmp_path: wheels, projects, workspaces, environments.

Offline by design: plugin packages are tiny wheels built here and installed with
real `uv` from local paths. Real Dagster cannot be installed offline, so the offline
tests use a small stand-in distribution named `dagster` that provides the two things
the probe relies on (a `Component` base class and the `__dg_package_entry__` marker);
tests marked `dagster` check envboard against the real thing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import secrets
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient

from webapp.core.app import Envboard
from webapp.core.environments.processes import find_uv
from webapp.core.live.board import Board
from webapp.core.settings import Settings

ENTRY_GROUP = "dagster_dg_cli.registry_modules"

DAGSTER_STAND_IN = '''
"""A stand-in for dagster's component registry contract (offline tests only)."""

import abc


class Component(abc.ABC):
    """Base class of component types (abstract, as in dagster)."""

    __dg_package_entry__ = True

    @abc.abstractmethod
    def build_defs(self, context): ...


class DefinitionsComponent(Component):
    """An arbitrary set of Dagster definitions.

    More words that are not part of the summary.
    """

    def build_defs(self, context):
        return None
'''


def build_dagster_stand_in(folder: Path, version: str) -> Path:
    """The stand-in `dagster` distribution as a wheel, registered as dg registers dagster."""
    return build_wheel(
        folder,
        "dagster",
        version,
        {"dagster/__init__.py": DAGSTER_STAND_IN},
        entry_points={ENTRY_GROUP: {"dagster": "dagster"}},
    )


def build_stand_in_dg(folder: Path, name: str, source: str) -> tuple[str, ...]:
    """The stand-in dagster and a stand-in `dg` (module `source`, its `main` the command) as
    wheels in `folder`: it plays only what a test needs of dg (a check that takes its time, a
    listing that waits); the verdicts of real dg are the `dagster` tests'. Returns the
    dependencies a project names to get both."""
    build_dagster_stand_in(folder, "0.0.1")
    module = name.replace("-", "_")
    build_wheel(
        folder,
        name,
        "0.0.1",
        {f"{module}.py": source},
        entry_points={"console_scripts": {"dg": f"{module}:main"}},
    )
    return ("dagster", name)


def build_wheel(
    folder: Path,
    name: str,
    version: str,
    files: dict[str, str],
    entry_points: dict[str, dict[str, str]] | None = None,
    requires: list[str] | None = None,
) -> Path:
    """A real wheel: a zip with the files, METADATA, WHEEL, entry_points.txt and RECORD."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    contents: dict[str, str] = dict(files)
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    for requirement in requires or []:
        metadata += f"Requires-Dist: {requirement}\n"
    contents[f"{info}/METADATA"] = metadata
    contents[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: envboard-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    if entry_points:
        text = ""
        for group, points in entry_points.items():
            text += f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) + "\n"
        contents[f"{info}/entry_points.txt"] = text
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
    return wheel


SLOW_MARKERS = ("browser", "container", "dagster")


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto` (the README's command): two workers per core, at most 8 unless there are more
    cores. A worker often waits (for uv, dg, chromium, a server's answer): on a 2-core box 2
    workers ran the suite in 393 s and 4 in 353 s; with 4 both cores stay about 98 % busy, and
    6 were no faster."""
    cores = os.cpu_count() or 1
    return max(cores, min(2 * cores, 8))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups into the tests' ids
def pytest_collection_modifyitems(config, items):
    """Browser, container and real-Dagster tests are slow; so is anything that drives chromium.

    `python -m pytest -m "not slow"` is the fast tier. Tests whose module-scoped fixtures build
    something big (an image, real Dagster environments) stay on one worker of pytest-xdist.

    The longest work starts first, so that no worker is left with it while the others are done:
    those modules, then every other slow test, then the rest (pytest-xdist hands out tests in
    the order collected; the order within each rank is kept, so modules stay together).
    """
    for item in items:
        if any(item.get_closest_marker(name) for name in SLOW_MARKERS) or "browser" in item.fixturenames:
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("container") or item.get_closest_marker("dagster"):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    items.sort(key=_start_rank)


def _start_rank(item) -> int:
    if item.get_closest_marker("xdist_group"):
        return 0
    return 1 if item.get_closest_marker("slow") else 2


@pytest.fixture(scope="session")
def uv_bin() -> str:
    location = find_uv()
    assert location.path, location.reason
    return location.path


@pytest.fixture(scope="session", autouse=True)
def subprocess_bytecode(tmp_path_factory):
    """The Pythons the tests start (servers, command lines) keep their bytecode for the run.

    Where PYTHONDONTWRITEBYTECODE is set (as on this project's development boxes), every
    `python -m webapp` the tests start compiled envboard's 17,000 lines again: about 0.12 s of
    its 0.45 s start, for some 180 processes a run. They write it under one folder of the run's
    temporary tree instead, shared by the workers (Python writes each file whole), never into
    the checkout; the first ones compile what they import there once. The workers themselves
    started before this and go on as they were; project code is given neither variable
    (envboard's allow-list), and `registry_env()` leaves the prefix out for real Dagster.
    """
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "pycache"
    saved = {name: os.environ.get(name) for name in ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")}
    os.environ["PYTHONPYCACHEPREFIX"] = str(folder)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def bytecode_donors(tmp_path_factory) -> Path:
    """Where the real Dagster environments of the run are registered to share their bytecode
    (`tests/shared_bytecode.py`): one folder for all the workers, as `subprocess_bytecode`."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "bytecode-donors"


@pytest.fixture(autouse=True)
def offline_uv(request, monkeypatch, tmp_path_factory):
    """Every uv the tests start works offline, with a uv cache of its own.

    Except in tests marked `dagster`: they use the real registry and the user's warm uv cache,
    with dg's update check off and Dagster's home in the tests' temporary folder."""
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.delenv("UV_PROJECT_ENVIRONMENT", raising=False)
    if request.node.get_closest_marker("dagster"):
        home = tmp_path_factory.getbasetemp() / "dagster-home"
        home.mkdir(exist_ok=True)
        monkeypatch.setenv("DAGSTER_DG_UPDATE_CHECK_ENABLED", "0")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        return
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    monkeypatch.setenv("UV_PYTHON", sys.executable)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "uv-cache"))
    # the slow build backend's knobs reach it past envboard's allow-list of variables
    monkeypatch.setenv("ENVBOARD_PASS_ENV", "SLOW_BUILD_SECONDS SLOW_BUILD_RELEASE BUILD_COUNT_DIR")


@pytest.fixture(scope="session")
def package_index() -> None:
    """Skip, with the reason, when the package index cannot be reached (tests marked `dagster`)."""
    import urllib.error
    import urllib.request

    index = (
        os.environ.get("UV_DEFAULT_INDEX")
        or os.environ.get("UV_INDEX_URL")
        or os.environ.get("PIP_INDEX_URL")
        or "https://pypi.org/simple/"
    )
    url = index.rstrip("/") + "/dagster/"
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            response.read(1)
    except (OSError, urllib.error.URLError) as exc:
        pytest.skip(f"the package index cannot be reached ({url}: {exc})")


@pytest.fixture(autouse=True)
def envboard_logging_restored():
    """A test that configures envboard's logging as `serve` does (its own handler, not passed on
    to the root logger) leaves it as it found it: later tests in the worker read it with caplog."""
    logger = logging.getLogger("envboard")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    for handler in logger.handlers:
        if handler not in handlers:
            handler.close()
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory) -> Path:
    """The plugin wheels every test may install: the dagster stand-in and two plugins."""
    folder = tmp_path_factory.mktemp("wheels")
    build_dagster_stand_in(folder, "0.0.1")
    build_wheel(
        folder,
        "acme-plugin",
        "1.0.0",
        {
            "acme_plugin/__init__.py": textwrap.dedent('''
                from dagster import Component


                class WidgetComponent(Component):
                    """Builds widgets."""

                    def build_defs(self, context):
                        return None


                class _Helper:
                    pass
            '''),
        },
        entry_points={ENTRY_GROUP: {"acme_plugin": "acme_plugin"}},
        requires=["dagster"],
    )
    build_wheel(
        folder,
        "broken-plugin",
        "1.0.0",
        {"broken_plugin/__init__.py": "raise RuntimeError('broken plugin cannot be imported')\n"},
        entry_points={"dagster_dg.plugin": {"broken_plugin": "broken_plugin"}},
    )
    build_wheel(
        folder,
        "extra-plugin",
        "2.0.0",
        {
            "extra_plugin/__init__.py": textwrap.dedent('''
                from dagster import Component


                class ExtraComponent(Component):
                    """An extra component installed later."""

                    def build_defs(self, context):
                        return None
            '''),
        },
        entry_points={"dagster_dg.library": {"extra_plugin": "extra_plugin"}},
    )
    return folder


def write_project(
    folder: Path,
    name: str,
    *,
    mode: str | None = None,
    dependencies: tuple[str, ...] = (),
    wheelhouse: Path | None = None,
    registry_modules: tuple[str, ...] = (),
    local_components: bool = False,
) -> Path:
    """A dg project folder; uv projects get local wheel sources so uv works offline."""
    folder.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_")
    deps = list(dependencies)
    sources = []
    if local_components:
        # the project's own package, importable from src/ through an editable-style .pth
        src = folder / "src" / module / "components"
        src.mkdir(parents=True, exist_ok=True)
        (src.parent / "__init__.py").write_text("")
        (src / "__init__.py").write_text("")
        (src / "greeting.py").write_text(
            textwrap.dedent('''
                from dagster import Component


                class GreetingComponent(Component):
                    """Says hello."""

                    def build_defs(self, context):
                        return None
            ''')
        )
        wheel_dir = folder / ".wheels"
        build_wheel(wheel_dir, f"{name}-src", "0.0.1", {f"{module}_src.pth": str(folder / "src") + "\n"})
        deps.append(f"{name}-src")
        sources.append(f'{name}-src = {{ path = ".wheels/{module}_src-0.0.1-py3-none-any.whl" }}')
        registry_modules = (*registry_modules, f"{module}.components.*")
    if wheelhouse is not None:
        for dep in deps:
            if dep.endswith("-src"):
                continue
            dist = dep.replace("-", "_")
            wheel = next(wheelhouse.glob(f"{dist}-*.whl"))
            sources.append(f'{dep} = {{ path = "{wheel}" }}')
        if "dagster" not in deps and deps:
            wheel = next(wheelhouse.glob("dagster-*.whl"))
            sources.append(f'dagster = {{ path = "{wheel}" }}')
    lines = [
        "[project]",
        f'name = "{name}"',
        'version = "0.1.0"',
        'requires-python = ">=3.9"',
        "dependencies = [" + ", ".join(f'"{d}"' for d in deps) + "]",
        "",
        "[tool.uv]",
        "package = false",
        "",
    ]
    if sources:
        lines += ["[tool.uv.sources]", *sources, ""]
    lines += ["[tool.dg]", 'directory_type = "project"', "", "[tool.dg.project]", f'root_module = "{module}"']
    if mode is not None:
        lines.append(f'python_environment = "{mode}"')
    if registry_modules:
        lines.append("registry_modules = [" + ", ".join(f'"{p}"' for p in registry_modules) + "]")
    (folder / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return folder


def write_workspace(root: Path, project_paths: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    entries = "".join(f'\n[[workspace.projects]]\npath = "{p}"\n' for p in project_paths)
    (root / "dg.toml").write_text(f'directory_type = "workspace"\n{entries}')
    return root


def uv(uv_bin: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    result = subprocess.run([uv_bin, *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result


def install_by_hand(uv_bin: str, project_dir: Path, *wheels: str) -> None:
    """`uv pip install` into the project's .venv, as a person would: pyproject.toml and uv.lock untouched."""
    uv(uv_bin, "pip", "install", "--python", ".venv/bin/python", *wheels, cwd=project_dir)


@pytest.fixture
def probes(monkeypatch) -> list:
    """Every plugin probe envboard starts, counted at the one spawn seam (its folder)."""
    from webapp.core.environments import processes

    started = []
    real_start = processes._start

    def start(invocation):
        if any(part.endswith("script.py") for part in invocation.argv):
            started.append(invocation.cwd)
        return real_start(invocation)

    monkeypatch.setattr(processes, "_start", start)
    return started


@pytest.fixture
def make_board(tmp_path) -> Callable[..., Board]:
    boards: list[Board] = []

    def factory(workspace: Path, **kwargs) -> Board:
        kwargs.setdefault("state_dir", tmp_path / "state")
        board = Board(Settings(workspace=workspace, **kwargs))
        boards.append(board)
        return board

    yield factory
    for board in boards:
        board.close()


@pytest.fixture
def uv_workspace(tmp_path, wheelhouse, uv_bin) -> Path:
    """A workspace with one synced persistent_uv project using plugin wheels and local components."""
    root = write_workspace(tmp_path / "ws", ["projects/alpha"])
    project = write_project(
        root / "projects" / "alpha",
        "alpha",
        mode="persistent_uv",
        dependencies=("dagster", "acme-plugin"),
        wheelhouse=wheelhouse,
        local_components=True,
    )
    uv(uv_bin, "sync", cwd=project)
    return root


def core(app) -> Envboard:
    """The envboard behind a Flask app (its board, monitor, history and jobs)."""
    from webapp.web.services import EXTENSION

    return app.extensions[EXTENSION].core


# Single-user mode's operator token in the tests' servers and apps (`envboard serve` makes a
# random one unless given one): the operator's clients open the link that carries it.
OPERATOR_TOKEN = "tests-operator-" + secrets.token_urlsafe(16)


def signed_in(url: str, token: str = OPERATOR_TOKEN) -> str:
    """`url` as the link `envboard serve` prints in single-user mode: opened, it lets the browser act."""
    return url + ("&" if "?" in url else "?") + urlencode({"token": token})


class OperatorClient(FlaskClient):
    """A test client that opened the printed link first, as single-user mode's operator does.

    `app.test_client(operator=False)` is anyone else who reaches the port (they may look).
    In users mode it signs nobody in.
    """

    def __init__(self, *args, operator: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        config = self.application.config
        if operator and config.get("ENVBOARD_USERS") is None:
            answer = self.get(signed_in("/healthz", config["ENVBOARD_TOKEN"]))
            assert answer.status_code == 303, answer.status


@pytest.fixture
def make_app(tmp_path):
    """A Flask app over a real workspace, its monitor running; everything is closed afterwards.

    The monitor refreshes every 0.2 s here, so a change on disk shows as it would in
    production, only sooner; `core(app).monitor.refresh()` shows it at once. Its test
    clients are single-user mode's operator unless made with `operator=False`.
    """
    from webapp.web import create_app

    apps = []

    def factory(workspace: Path, state_dir: Path | None = None, **config):
        settings = Settings(
            workspace=workspace, state_dir=state_dir or tmp_path / "state", refresh_interval=0.2
        )
        app = create_app(
            {"ENVBOARD_SETTINGS": settings, "TESTING": True, "ENVBOARD_TOKEN": OPERATOR_TOKEN, **config}
        )
        app.test_client_class = OperatorClient
        apps.append(app)
        return app

    yield factory
    for app in apps:
        core(app).close()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1):
    """Poll until predicate() is truthy; returns its value or fails the test."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def idle(app, timeout: float = 60.0) -> None:
    """Wait until the app's monitor has nothing pending: every probe and load check it started
    has reported."""
    monitor = core(app).monitor

    def nothing_pending():
        monitor.refresh()  # a whole pass, over when this returns
        return not any(state.pending or state.checking for state in monitor.snapshot.states)

    wait_for(nothing_pending, timeout=timeout)


SLOW_BACKEND = '''
"""An in-tree PEP 517 backend that takes its time, so that a real `uv sync` runs for a while."""
import os
import sys
import time
import zipfile


def _wait():
    # builds until the test creates SLOW_BUILD_RELEASE, or for SLOW_BUILD_SECONDS at most
    print("slow backend: building", flush=True)
    sys.stderr.write("slow backend: building\\n")
    seconds = float(os.environ.get("SLOW_BUILD_SECONDS", "60"))
    release = os.environ.get("SLOW_BUILD_RELEASE")
    deadline = time.time() + seconds
    while time.time() < deadline and not (release and os.path.exists(release)):
        time.sleep(0.05)


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _wait()
    name = "slowpkg-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
        archive.writestr("slowpkg-0.1.0.dist-info/METADATA", "Metadata-Version: 2.1\\nName: slowpkg\\nVersion: 0.1.0\\n")
        archive.writestr("slowpkg-0.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
        archive.writestr("slowpkg-0.1.0.dist-info/RECORD", "")
    return name


build_editable = build_wheel
'''


def write_slow_project(folder: Path, mode: str = "persistent_uv", slow_status: bool = False) -> Path:
    """A persistent_uv project whose `uv sync` builds it with a backend that sleeps; with
    `slow_status` its version is dynamic, so uv's status check (`uv sync --check`) builds it too."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "slow_backend.py").write_text(SLOW_BACKEND)
    version = 'dynamic = ["version"]' if slow_status else 'version = "0.1.0"'
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(f'''
            [project]
            name = "slowpkg"
            {version}
            requires-python = ">=3.9"
            dependencies = []

            [build-system]
            requires = []
            build-backend = "slow_backend"
            backend-path = ["."]

            [tool.dg]
            directory_type = "project"

            [tool.dg.project]
            root_module = "slowpkg"
            python_environment = "{mode}"
        ''').lstrip()
    )
    return folder


def live_group_members(pgid: int) -> list[int]:
    """Processes of a process group that are still running (zombies left to init do not count)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def preloaded_python(subprocess_bytecode):
    """This worker's parent Python for the servers the tests start (`tests/preloaded.py`)."""
    from tests.preloaded import PreloadedPython

    parent = PreloadedPython()
    yield parent
    parent.close()


@pytest.fixture
def live_server(tmp_path, request):
    """`envboard serve` as a real process on a loopback port; yields a function to start it.

    In single-user mode its operator token is OPERATOR_TOKEN (`signed_in(url)` is the link
    it prints) unless `env` sets ENVBOARD_TOKEN ("" for a random one). The server is forked
    from a Python that has imported envboard already (`tests/preloaded.py`); `fresh=True`
    starts it as `python -m webapp serve`, interpreter and imports included."""
    import time
    import urllib.request

    processes = []

    def start(workspace: Path, *extra: str, env: dict[str, str] | None = None, fresh: bool = False) -> str:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
        args = [
            "serve",
            "--workspace",
            str(workspace),
            "--port",
            str(port),
            "--state-dir",
            str(tmp_path / "state"),
            *extra,
        ]
        environment = {**os.environ, "ENVBOARD_TOKEN": OPERATOR_TOKEN, **(env or {})}
        if fresh:
            process = subprocess.Popen(
                [sys.executable, "-m", "webapp", *args], stdout=log, stderr=subprocess.STDOUT, env=environment
            )
        else:
            process = request.getfixturevalue("preloaded_python").start(args, environment, log_path)
        processes.append((process, log))
        url = f"http://127.0.0.1:{port}"
        start.pids[url] = process.pid
        start.processes[url] = process
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2).read()
                return url
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.1)
        raise AssertionError(log_path.read_text())

    start.pids = {}
    start.processes = {}
    yield start
    for process, log in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# Playwright turns these features off with a `--disable-features` switch of its own (no traffic
# to Google, HTTP kept on HTTP, ...). Chromium heeds only the last such switch, so the tests'
# one repeats them; test_browser_harness.py fails, naming them, when Playwright's list grows.
PLAYWRIGHT_DISABLES = (
    "AimEnabled",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsFirstBalancedModeAutoEnable",
    "HttpsUpgrades",
    "LensOverlay",
    "MediaRouter",
    "NetworkTimeServiceQuerying",
    "OptimizationHints",
    "PaintHolding",
    "PreconnectToSearch",
    "TcpPortRandomizationWin",
    "ThirdPartyStoragePartitioning",
    "msEdgeUpdateLaunchServicesPreferredVersion",
    "msForceBrowserSignIn",
)

# Test settings, not the product's: each browser context opens a browser window of its own,
# and chromium preloads that window's address-bar suggestions (two WebUI pages in a renderer
# process of their own) although no test ever types into an address bar. That renderer cost
# about 0.5 s of CPU per context, half of what a context and its page cost in all.
TESTS_DISABLE = ("WebUIOmniboxPopup", "WebUIOmniboxAimPopup")

BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-features=" + ",".join(PLAYWRIGHT_DISABLES + TESTS_DISABLE),
]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright; no browser download."""
    import shutil

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.console_errors = errors
    yield page
    context.close()


def add_dependency(project_dir: Path, name: str, wheel: Path) -> None:
    """Add a local-wheel dependency to a project, as `uv add` would (the lock is left alone)."""
    import tomlkit

    pyproject = project_dir / "pyproject.toml"
    document = tomlkit.parse(pyproject.read_text())
    document["project"]["dependencies"].append(name)
    tool_uv = document["tool"]["uv"]
    if "sources" not in tool_uv:
        tool_uv["sources"] = tomlkit.table()
    source = tomlkit.inline_table()
    source["path"] = str(wheel)
    tool_uv["sources"][name] = source
    pyproject.write_text(tomlkit.dumps(document))


@contextlib.contextmanager
def another_process_holds(locks_dir: Path, project_path: Path):
    """A second process (as `envboard sync` in a shell would be) holds the project's lock meanwhile."""
    locks_dir.parent.mkdir(parents=True, exist_ok=True)
    ready = locks_dir.parent / f"holding-{project_path.name}"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import pathlib, sys, time\n"
            "from webapp.core.jobs.locks import ProjectLocks\n"
            "with ProjectLocks(pathlib.Path(sys.argv[1])).hold(sys.argv[2]):\n"
            "    pathlib.Path(sys.argv[3]).touch()\n"
            "    time.sleep(60)\n",
            str(locks_dir),
            str(project_path),
            str(ready),
        ]
    )
    try:
        wait_for(ready.exists, timeout=30)
        yield
    finally:
        holder.kill()
        holder.wait()
