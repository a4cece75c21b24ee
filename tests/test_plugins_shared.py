"""Projects that run in one environment share its probe: every `active` project of a workspace
runs in the interpreter envboard was given, so its plugins are imported once for all of them.
Each project still gets its own answer: its own registry modules, and what it depends on."""

import json

import pytest

from tests.conftest import uv, wait_for, write_project, write_workspace


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

    # the monitor's first pass: every project's probe is asked for at once, in the background
    for project in projects.values():
        board.state(project)

    def listed():
        states = {name: board.state(project) for name, project in projects.items()}
        return states if all(state.plugins is not None for state in states.values()) else None

    states = wait_for(listed, timeout=120)
    assert len(probes) == 2  # one for the three that ask the same, one for delta's pattern
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

    # a refresh (or a job that changed the environment) asks the interpreter itself
    again.state(projects["beta"], wait=True, refresh=True)
    assert len(probes) == 5


def test_projects_with_their_own_uv_environment_share_nothing(
    tmp_path, probes, make_board, wheelhouse, uv_bin
):
    root = write_workspace(tmp_path / "ws", ["alpha", "beta"])
    for name in ("alpha", "beta"):
        project = write_project(
            root / name, name, mode="persistent_uv", dependencies=("dagster",), wheelhouse=wheelhouse
        )
        uv(uv_bin, "sync", "--quiet", cwd=project)
    board = make_board(root)
    answers = [board.state(project, wait=True).plugins for project in board.workspace.projects]
    assert [modules(plugins) for plugins in answers] == [["dagster"], ["dagster"]]
    assert sorted(probes) == [root / "alpha", root / "beta"]


def test_a_failed_probe_of_a_shared_interpreter_is_not_asked_again_for_each_project(
    tmp_path, probes, make_board
):
    broken = tmp_path / "broken" / "bin" / "python"
    broken.parent.mkdir(parents=True)
    broken.write_text("#!/bin/sh\necho 'no such interpreter here' >&2\nexit 3\n")
    broken.chmod(0o755)
    root = write_workspace(tmp_path / "ws", ["alpha", "beta"])
    for name in ("alpha", "beta"):
        write_project(root / name, name, mode="active")
    board = make_board(root, active_python=str(broken))
    answers = [board.state(project, wait=True).plugins for project in board.workspace.projects]
    assert [plugins.failure for plugins in answers] == ["the probe exited 3 without an answer"] * 2
    assert "no such interpreter here" in answers[1].output
    assert len(probes) == 1
    json.dumps([plugins.to_json() for plugins in answers])  # shown as any failure is
