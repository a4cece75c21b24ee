"""Projects that run in one environment share its probe: every `active` project of a workspace
runs in the interpreter envboard was given, so its plugins are imported once for all of them.
Each project still gets its own answer: its own registry modules, and what it depends on."""

import sys
import threading
import time

import pytest

from tests.conftest import uv, wait_for, write_project, write_workspace
from webapp.core.probe.runner import environment_name


@pytest.fixture
def active_python(tmp_path, wheelhouse, uv_bin):
    """An interpreter envboard is told to use for `active` projects, with the plugins installed."""
    uv(uv_bin, "venv", "--quiet", str(tmp_path / "active"), cwd=tmp_path)
    python = tmp_path / "active" / "bin" / "python"
    wheels = [str(next(wheelhouse.glob(f"{name}-*.whl"))) for name in ("dagster", "acme_plugin")]
    uv(uv_bin, "pip", "install", "--quiet", "--python", str(python), *wheels, cwd=tmp_path)
    return python


def modules(plugins):
    return [m["module"] for m in plugins.registry_modules]


def test_active_projects_share_one_probe_and_keep_their_own_patterns(
    tmp_path, active_python, probes, make_board, wheelhouse, uv_bin
):
    root = write_workspace(tmp_path / "ws", ["alpha", "beta", "gamma", "delta"])
    for name in ("alpha", "beta", "gamma"):
        write_project(root / name, name, mode="active")
    # its own registry_modules pattern: another question to the same interpreter
    write_project(root / "delta", "delta", mode="active", registry_modules=("delta_parts.*",))
    board = make_board(root, active_python=str(active_python))
    projects = {project.name: project for project in board.workspace.projects}
    reported = []  # what /metrics counts as probes
    board.probe_listeners.append(reported.append)

    # the monitor's first pass: every project's probe is asked for at once, in the background
    for project in projects.values():
        board.state(project)

    def listed():
        states = {name: board.state(project) for name, project in projects.items()}
        return states if all(state.plugins is not None for state in states.values()) else None

    states = wait_for(listed, timeout=120)
    assert len(probes) == 2  # one for the three that ask the same, one for delta's pattern
    wait_for(lambda: not any(board.is_busy(project) for project in projects.values()))
    assert len(reported) == 2  # an answer taken from another project's probe is no probe
    for name in ("alpha", "beta", "gamma"):
        assert modules(states[name].plugins) == ["acme_plugin", "dagster"], name
        assert states[name].plugins.unmatched_patterns == []
    assert states["delta"].plugins.unmatched_patterns == ["delta_parts.*"]
    # each project's answer is kept as its own: a new board reads them all from the cache
    again = make_board(root, active_python=str(active_python))
    assert all(again.state(project).plugins.cached for project in again.workspace.projects)
    assert len(probes) == 2

    # a plugin installed into the shared interpreter: every project's answer is stale, and one
    # probe answers the three again
    extra = str(next(wheelhouse.glob("extra_plugin-*.whl")))
    uv(uv_bin, "pip", "install", "--quiet", "--python", str(active_python), extra, cwd=tmp_path)
    after = {name: again.state(project, wait=True).plugins for name, project in projects.items()}
    assert all("extra_plugin" in modules(plugins) for plugins in after.values())
    assert len(probes) == 4

    # a change to one project's own config is that project's alone
    pyproject = root / "gamma" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# edited\n")
    assert again.state(projects["alpha"]).plugins.cached
    assert again.state(projects["gamma"]).plugins is None  # its own answer is stale
    relisted = wait_for(lambda: again.state(projects["gamma"]).plugins, timeout=60)
    assert "extra_plugin" in modules(relisted)
    assert len(probes) == 4  # the environment's answer still holds: taken, not probed again

    # a refresh asks the interpreter itself: from the command line, and the page's button
    again.state(projects["beta"], wait=True, refresh=True)
    assert len(probes) == 5
    again.refresh_plugins(projects["alpha"]).result(timeout=60)
    assert len(probes) == 6
    # a refresh of the whole workspace probes once for the three, once for delta
    refreshed = again.states(wait=True, refresh=True)
    assert len(probes) == 8
    assert all("extra_plugin" in modules(state.plugins) for state in refreshed)


def test_projects_run_through_uv_share_nothing_even_in_one_environment(
    tmp_path, probes, make_board, wheelhouse, uv_bin, monkeypatch
):
    """uv finds a project's environment from its own folder: two projects told to use the same
    one (UV_PROJECT_ENVIRONMENT) are still each probed through their own `uv run`."""
    shared = tmp_path / "shared-env"
    uv(uv_bin, "venv", "--quiet", str(shared), cwd=tmp_path)
    wheel = str(next(wheelhouse.glob("dagster-*.whl")))
    uv(uv_bin, "pip", "install", "--quiet", "--python", str(shared / "bin" / "python"), wheel, cwd=tmp_path)
    monkeypatch.setenv("UV_PROJECT_ENVIRONMENT", str(shared))
    root = write_workspace(tmp_path / "ws", ["alpha", "beta"])
    for name in ("alpha", "beta"):
        write_project(root / name, name, mode="persistent_uv")
    board = make_board(root)
    states = [board.state(project, wait=True) for project in board.workspace.projects]
    assert [state.env.venv for state in states] == [shared, shared]
    assert [modules(state.plugins) for state in states] == [["dagster"], ["dagster"]]
    assert sorted(probes) == [root / "alpha", root / "beta"]


@pytest.mark.slow  # it waits for a probe to time out
def test_a_probe_of_a_shared_interpreter_that_timed_out_is_not_waited_for_again(
    tmp_path, probes, make_board, monkeypatch
):
    """An interpreter that hangs: the first project's probe runs out of time, and the others of
    the environment say so at once instead of each waiting as long again. A failure that may be
    a project's own (any other) is not passed on: each project is probed and told its own."""
    from webapp.core.probe import runner

    # remembered for less time than a probe may take, as the real ones are (60 s against 600 s)
    monkeypatch.setattr(runner, "PROBE_TIMEOUT", 2.0)
    monkeypatch.setattr(runner, "TIMED_OUT_RETRY", 1.5)
    hanging = tmp_path / "hanging" / "bin" / "python"
    hanging.parent.mkdir(parents=True)
    hanging.write_text("#!/bin/sh\nsleep 60\n")
    hanging.chmod(0o755)
    root = write_workspace(tmp_path / "ws", ["alpha", "beta", "gamma"])
    for name in ("alpha", "beta", "gamma"):
        write_project(root / name, name, mode="active")
    board = make_board(root, active_python=str(hanging))
    answers = [board.state(project, wait=True).plugins for project in board.workspace.projects]
    assert len(probes) == 1
    assert ["timed out" in plugins.failure for plugins in answers] == [True, True, True]
    assert [plugins.cached for plugins in answers] == [False, True, True]

    broken = tmp_path / "broken" / "bin" / "python"
    broken.parent.mkdir(parents=True)
    broken.write_text("#!/bin/sh\necho 'no such interpreter here' >&2\nexit 3\n")
    broken.chmod(0o755)
    board = make_board(root, active_python=str(broken))
    answers = [board.state(project, wait=True).plugins for project in board.workspace.projects]
    assert [plugins.failure for plugins in answers] == ["the probe exited 3 without an answer"] * 3
    assert len(probes) == 4


def test_a_probe_waiting_for_its_environment_starts_nothing_once_envboard_stops(
    tmp_path, active_python, probes, make_board
):
    """A job's probe waits while another project's probe of the same interpreter runs; the
    server stops meanwhile: the waiting one starts no project code after it."""
    root = write_workspace(tmp_path / "ws", ["alpha", "beta"])
    for name in ("alpha", "beta"):
        write_project(root / name, name, mode="active")
    board = make_board(root, active_python=str(active_python))
    alpha, beta = board.workspace.projects
    name = environment_name(beta, board.resolve(beta))
    answers = []
    with board.probe._environments.hold(name):  # as a probe of alpha's would, while it runs
        job = threading.Thread(target=lambda: answers.append(board.probe_now(beta, board.resolve(beta))))
        job.start()
        wait_for(lambda: _waiting_for_a_lock(job))
        board.close()
    job.join(timeout=60)
    assert answers[0].failure == "not probed: envboard is stopping"
    assert probes == []


def _waiting_for_a_lock(thread: threading.Thread) -> bool:
    """Whether the thread is blocked taking the environment's lock."""
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_name == "hold":
            return True
        frame = frame.f_back
    return False


def test_an_install_while_another_project_takes_the_answer_is_not_missed(
    tmp_path, active_python, probes, make_board, wheelhouse, uv_bin, monkeypatch
):
    """beta takes the answer alpha's probe got; just as beta stamps what that answer depended on,
    a plugin is installed into the interpreter and alpha is probed again (a job's probe), which
    stores the environment's new answer. beta must not keep the old answer under the new state's
    stamps: it lists the plugin."""
    from webapp.core.probe import runner

    root = write_workspace(tmp_path / "ws", ["alpha", "beta"])
    for name in ("alpha", "beta"):
        write_project(root / name, name, mode="active")
    board = make_board(root, active_python=str(active_python))
    alpha, beta = board.workspace.projects
    assert "extra_plugin" not in modules(board.state(alpha, wait=True).plugins)
    assert len(probes) == 1

    real_stamp_all = runner.stamp_all
    calls = []

    def stamp_all(dependencies):
        calls.append(dependencies)
        if len(calls) == 2:  # beta's stamps of the answer it took, after its own before-stamps
            extra = str(next(wheelhouse.glob("extra_plugin-*.whl")))
            uv(uv_bin, "pip", "install", "--quiet", "--python", str(active_python), extra, cwd=tmp_path)
            assert "extra_plugin" in modules(board.probe.probe(alpha, board.resolve(alpha)))
        return real_stamp_all(dependencies)

    monkeypatch.setattr(runner, "stamp_all", stamp_all)
    assert "extra_plugin" in modules(board.state(beta, wait=True).plugins)
    assert len(probes) == 3
    monkeypatch.setattr(runner, "stamp_all", real_stamp_all)
    assert "extra_plugin" in modules(make_board(root, active_python=str(active_python)).state(beta).plugins)


def test_a_refresh_does_not_take_an_answer_from_before_it_was_asked(
    tmp_path, active_python, probes, make_board
):
    """The monitor's look at beta waits for the interpreter (another probe of it runs) and will
    take alpha's answer, which is still fresh; the operator presses Refresh meanwhile (something
    envboard cannot see changed, say). The refresh's answer is a probe begun after the press."""
    root = write_workspace(tmp_path / "ws", ["alpha", "beta"])
    for name in ("alpha", "beta"):
        write_project(root / name, name, mode="active")
    board = make_board(root, active_python=str(active_python))
    alpha, beta = board.workspace.projects
    board.state(alpha, wait=True)
    assert len(probes) == 1
    env = board.resolve(beta)
    with board.probe._environments.hold(environment_name(beta, env)):
        board.state(beta)  # the monitor's look, in the background: waits for the interpreter
        wait_for(lambda: any(_waiting_for_a_lock(thread) for thread in threading.enumerate()))
        pressed = time.time()
        refreshed = board.refresh_plugins(beta)
    answer = refreshed.result(timeout=60)
    assert answer.probed_at >= pressed and not answer.cached
    assert len(probes) == 2


def test_a_running_probe_ends_when_envboard_stops(tmp_path, probes, make_board):
    """A probe of an interpreter that hangs: the stop ends it instead of leaving it to its
    ten-minute timeout (project code must not outlive the server)."""
    hanging = tmp_path / "hanging" / "bin" / "python"
    hanging.parent.mkdir(parents=True)
    hanging.write_text("#!/bin/sh\nsleep 600\n")
    hanging.chmod(0o755)
    root = write_workspace(tmp_path / "ws", ["alpha"])
    write_project(root / "alpha", "alpha", mode="active")
    board = make_board(root, active_python=str(hanging))
    running = board.refresh_plugins(board.workspace.projects[0])
    wait_for(lambda: probes)
    board.close()
    assert running.result(timeout=60).failure
