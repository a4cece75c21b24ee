"""Plugin lists probed in real uv environments, and a cache that is never stale."""

import json
import sys
import textwrap
import threading

from tests.conftest import add_dependency, install_by_hand, uv, wait_for, write_project, write_workspace
from webapp.cli import main as cli


def keys(plugins):
    return [c["key"] for c in plugins.components]


def modules(plugins):
    return [m["module"] for m in plugins.registry_modules]


def test_probe_lists_entry_points_local_modules_and_components(uv_workspace, make_board):
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    state = board.state(project, wait=True)
    assert state.status.status == "in_sync"
    plugins = state.plugins
    assert plugins.failure is None and not plugins.cached
    assert modules(plugins) == ["acme_plugin", "alpha.components.greeting", "dagster"]
    assert keys(plugins) == [
        "acme_plugin.WidgetComponent",
        "alpha.components.greeting.GreetingComponent",
        "dagster.DefinitionsComponent",
    ]
    summaries = {c["key"]: c["summary"] for c in plugins.components}
    assert summaries["dagster.DefinitionsComponent"] == "An arbitrary set of Dagster definitions."
    assert state.python_version and state.env.venv == project.path / ".venv"


def test_failing_module_in_a_declared_dependency(tmp_path, wheelhouse, uv_bin, make_board):
    project = write_project(
        tmp_path / "p",
        "p",
        mode="persistent_uv",
        dependencies=("dagster", "acme-plugin", "broken-plugin"),
        wheelhouse=wheelhouse,
    )
    uv(uv_bin, "sync", cwd=project)
    board = make_board(project)
    plugins = board.state(board.workspace.projects[0], wait=True).plugins
    assert [e["module"] for e in plugins.errors] == ["broken_plugin"]
    assert plugins.errors[0]["type"] == "RuntimeError"
    assert "Traceback (most recent call last)" in plugins.errors[0]["traceback"]
    assert modules(plugins) == ["acme_plugin", "broken_plugin", "dagster"]
    assert keys(plugins) == ["acme_plugin.WidgetComponent", "dagster.DefinitionsComponent"]


def test_unchanged_means_cached_and_no_subprocess(uv_workspace, make_board, monkeypatch):
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    first = board.state(project, wait=True)
    from webapp.core.environments import processes

    spawned = []
    real_start = processes._start
    # every process envboard starts goes through this one function: a probe, a status or
    # lock check, an interpreter query from any module would all be seen
    monkeypatch.setattr(
        processes, "_start", lambda invocation: spawned.append(invocation.argv) or real_start(invocation)
    )
    again = make_board(uv_workspace).state(project, wait=True)
    assert again.plugins.cached
    assert keys(again.plugins) == keys(first.plugins)
    assert again.status.status == "in_sync"
    assert spawned == []


def _waiting_for_a_future(thread: threading.Thread) -> bool:
    """Whether the thread is blocked on a task's future (not on a process of its own)."""
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_filename.endswith("concurrent/futures/_base.py"):
            return True
        frame = frame.f_back
    return False


def _gated(workspace, tmp_path):
    """alpha gets a module that is slow to import (it waits until `gate` exists), so a probe is
    still running when the test looks."""
    gate = tmp_path / "gate"
    components = workspace / "projects" / "alpha" / "src" / "alpha" / "components"
    (components / "gated.py").write_text(
        f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.01)\n"
    )
    return gate


def test_a_look_that_waits_joins_the_probe_already_under_way(uv_workspace, make_board, probes, tmp_path):
    """`envboard list` while the monitor's first probe runs, or two looks at once: the project's
    code is imported by one probe, not two, and the answer is that probe's."""
    gate = _gated(uv_workspace, tmp_path)
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    board.refresh_plugins(project)  # as the monitor's first pass does, in the background
    wait_for(lambda: len(probes) == 1)
    answers = []
    look = threading.Thread(target=lambda: answers.append(board.state(project, wait=True)))
    look.start()
    wait_for(lambda: len(probes) == 2 or _waiting_for_a_future(look))
    gate.touch()
    look.join(timeout=120)
    assert len(probes) == 1
    assert "alpha.components.greeting.GreetingComponent" in keys(answers[0].plugins)
    assert answers[0].status.status == "in_sync"


def test_a_look_while_a_job_probes_joins_the_jobs_probe(uv_workspace, make_board, probes, tmp_path):
    """After a sync the job probes what it changed; the monitor's look at the project meanwhile
    (the job marked it changed) takes that probe's answer instead of importing the code again."""
    gate = _gated(uv_workspace, tmp_path)
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    answers = []
    job = threading.Thread(target=lambda: answers.append(board.probe_now(project, board.resolve(project))))
    job.start()
    wait_for(lambda: len(probes) == 1)
    looked = board.state(project)  # the monitor's look, which never waits
    assert looked.plugins is None and looked.pending
    gate.touch()
    job.join(timeout=120)
    wait_for(lambda: not board.is_busy(project))
    assert len(probes) == 1
    assert board.state(project).plugins.cached
    assert "alpha.components.greeting.GreetingComponent" in keys(answers[0])


def test_a_job_whose_wait_the_server_s_stop_ended_starts_no_probe_after_it(
    uv_workspace, make_board, probes, tmp_path
):
    """A job's probe after its sync waits for the monitor's probe already running; the server
    stops meanwhile, which ends that probe. The job takes its answer: no project code is started
    after the server's last clean-up (it would outlive the server)."""
    _gated(uv_workspace, tmp_path)
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    env = board.resolve(project)
    release = threading.Event()
    board._submit(
        board._probe_name(project, env), lambda: release.wait(60) and "the monitor's answer", project
    )
    answers = []
    job = threading.Thread(target=lambda: answers.append(board.probe_now(project, env)))
    job.start()
    wait_for(lambda: _waiting_for_a_future(job))
    board.close()  # as the server's stop does, which ends the running probe
    release.set()
    job.join(timeout=60)
    assert answers == ["the monitor's answer"]
    assert probes == []


def test_uv_pip_install_with_the_lock_untouched_changes_the_answer(
    uv_workspace, make_board, wheelhouse, uv_bin
):
    project_dir = uv_workspace / "projects" / "alpha"
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    before = board.state(project, wait=True).plugins
    assert "extra_plugin" not in modules(before)
    assert board.state(project, wait=True).plugins.cached
    lock_before = (project_dir / "uv.lock").read_bytes()
    wheel = next(wheelhouse.glob("extra_plugin-*.whl"))
    install_by_hand(uv_bin, project_dir, str(wheel))
    assert (project_dir / "uv.lock").read_bytes() == lock_before
    after = board.state(project, wait=True).plugins
    assert not after.cached
    assert "extra_plugin" in modules(after)
    assert "extra_plugin.ExtraComponent" in keys(after)
    # looking did not sync the environment back: uv itself still sees the extra package
    assert board.check_status(project, board.resolve(project)).status == "out_of_sync"


def test_looking_never_changes_an_environment(uv_workspace, make_board, wheelhouse):
    from tests.conftest import add_dependency

    project_dir = uv_workspace / "projects" / "alpha"
    add_dependency(project_dir, "extra-plugin", next(wheelhouse.glob("extra_plugin-*.whl")))
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    site = next((project_dir / ".venv" / "lib").glob("python*/site-packages"))
    installed = sorted(p.name for p in site.iterdir())
    state = board.state(project, wait=True)
    assert state.status.status == "out_of_sync"
    assert "extra_plugin" not in modules(state.plugins)
    assert sorted(p.name for p in site.iterdir()) == installed


def test_editing_a_local_component_docstring_changes_the_answer(uv_workspace, make_board):
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    board.state(project, wait=True)
    assert board.state(project, wait=True).plugins.cached
    source = project.path / "src" / "alpha" / "components" / "greeting.py"
    source.write_text(source.read_text().replace("Says hello.", "Says goodbye."))
    after = board.state(project, wait=True).plugins
    assert not after.cached
    summaries = {c["key"]: c["summary"] for c in after.components}
    assert summaries["alpha.components.greeting.GreetingComponent"] == "Says goodbye."


def test_a_new_local_component_module_is_seen(uv_workspace, make_board):
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    board.state(project, wait=True)
    folder = project.path / "src" / "alpha" / "components"
    (folder / "farewell.py").write_text(
        textwrap.dedent('''
            from dagster import Component


            class FarewellComponent(Component):
                """Says bye."""

                def build_defs(self, context):
                    return None
        ''')
    )
    after = board.state(project, wait=True).plugins
    assert "alpha.components.farewell.FarewellComponent" in keys(after)


def test_switching_the_mode_changes_the_answer(uv_workspace, make_board):
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    in_uv = board.state(project, wait=True).plugins
    assert "acme_plugin" in modules(in_uv)
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"persistent_uv"', '"active"'))
    board.rescan()
    project = board.workspace.projects[0]
    in_active = board.state(project, wait=True).plugins
    assert not in_active.cached
    assert "acme_plugin" not in modules(in_active)  # not installed in the test runner's env


def test_status_missing_then_in_sync_then_out_of_sync(tmp_path, wheelhouse, uv_bin, make_board):
    project_dir = write_project(
        tmp_path / "p", "p", mode="persistent_uv", dependencies=("dagster",), wheelhouse=wheelhouse
    )
    board = make_board(project_dir)
    project = board.workspace.projects[0]
    state = board.state(project, wait=True)
    assert state.status.status == "missing"
    assert state.plugins is None, "no probe may create an environment nobody asked for"
    uv(uv_bin, "sync", cwd=project_dir)
    assert board.state(project, wait=True).status.status == "in_sync"
    add_dependency(project_dir, "acme-plugin", next(wheelhouse.glob("acme_plugin-*.whl")))
    board.rescan()
    status = board.check_status(board.workspace.projects[0], board.resolve(board.workspace.projects[0]))
    assert status.status == "out_of_sync"
    assert status.reason


def test_cli_list_json_shape(uv_workspace, tmp_path, capsys):
    code = cli(["list", "--workspace", str(uv_workspace), "--state-dir", str(tmp_path / "s"), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["workspace"] == str(uv_workspace)
    (project,) = report["projects"]
    assert set(project) >= {"id", "name", "path", "mode", "error", "environment", "plugins"}
    assert project["mode"] == "persistent_uv" and project["error"] is None
    assert set(project["environment"]) >= {"python", "python_version", "venv", "status", "reason"}
    assert set(project["plugins"]) >= {"registry_modules", "components", "errors", "cached"}
    assert project["plugins"]["cached"] is False
    cli(["list", "--workspace", str(uv_workspace), "--state-dir", str(tmp_path / "s"), "--json"])
    assert json.loads(capsys.readouterr().out)["projects"][0]["plugins"]["cached"] is True
    cli(
        ["list", "--workspace", str(uv_workspace), "--state-dir", str(tmp_path / "s"), "--json", "--no-cache"]
    )
    assert json.loads(capsys.readouterr().out)["projects"][0]["plugins"]["cached"] is False
    assert cli(["cache", "clear", "--workspace", str(uv_workspace), "--state-dir", str(tmp_path / "s")]) == 0
    assert "removed" in capsys.readouterr().out


def test_cli_list_table_shows_broken_projects_next_to_good_ones(tmp_path, capsys):
    root = tmp_path / "ws"
    root.mkdir()
    write_workspace(root, ["a", "b"])
    write_project(root / "a", "a")
    (root / "b").mkdir()
    (root / "b" / "pyproject.toml").write_text(
        '[tool.dg]\ndirectory_type = "project"\n[tool.dg.project]\npython_environment = "conda"\n'
    )
    assert cli(["list", "--workspace", str(root), "--state-dir", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "a " in out and "error" in out
    assert f'{root / "b" / "pyproject.toml"}:4: tool.dg.project.python_environment = "conda"' in out


def test_uv_missing_is_a_clear_result(tmp_path, make_board, wheelhouse):
    project_dir = write_project(tmp_path / "p", "p", mode="persistent_uv")
    (project_dir / ".venv" / "bin").mkdir(parents=True)
    (project_dir / ".venv" / "bin" / "python").symlink_to("/bin/true")
    board = make_board(project_dir, uv=str(tmp_path / "no-uv"))
    state = board.state(board.workspace.projects[0], wait=True)
    assert state.status.status == "unknown"
    assert "uv not found" in state.status.reason
    assert "not found" in state.plugins.failure
