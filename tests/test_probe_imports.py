"""How the probe imports plugin modules: side by side, each in its own child process, so a
slow library does not wait for the others and a crashing one takes only itself down."""

import os
import textwrap

import pytest

from tests.conftest import build_wheel, core, install_by_hand, uv, write_project
from tests.test_probe_hostile import local_project


def project_with_plugins(
    tmp_path, uv_bin, wheelhouse, plugins: dict[str, str], dependencies=("dagster", "acme-plugin")
):
    """A persistent_uv project with dagster, acme-plugin and these one-module plugins installed."""
    project_dir = write_project(
        tmp_path / "p",
        "p",
        mode="persistent_uv",
        dependencies=dependencies,
        wheelhouse=wheelhouse,
    )
    uv(uv_bin, "sync", cwd=project_dir)
    for name, source in plugins.items():
        wheel = build_wheel(
            tmp_path / "wheels",
            name.replace("_", "-"),
            "1.0.0",
            {f"{name}/__init__.py": textwrap.dedent(source)},
            entry_points={"dagster_dg.plugin": {name: name}},
        )
        install_by_hand(uv_bin, project_dir, str(wheel))
    return project_dir


def test_a_plugin_that_kills_its_interpreter_is_an_error_of_that_plugin_only(
    tmp_path, uv_bin, wheelhouse, make_app
):
    project_dir = project_with_plugins(
        tmp_path,
        uv_bin,
        wheelhouse,
        {
            "aborting_plugin": "import os\nos.abort()\n",  # as a crash in native code would
            "exiting_plugin": "import os\nos._exit(7)\n",
        },
    )
    app = make_app(project_dir)
    board = core(app).board
    project = board.workspace.projects[0]
    plugins = board.state(project, wait=True).plugins
    assert plugins.failure is None
    errors = {e["module"]: e["message"] for e in plugins.errors}
    assert errors == {
        "aborting_plugin": "importing it killed the interpreter (SIGABRT)",
        "exiting_plugin": "importing it ended the interpreter (exit code 7)",
    }
    assert [c["key"] for c in plugins.components] == [
        "acme_plugin.WidgetComponent",
        "dagster.DefinitionsComponent",
    ]
    core(app).monitor.refresh()
    page = app.test_client().get(f"/projects/{project.id}").get_data(as_text=True)
    assert (
        "<li><code>aborting_plugin</code>: <strong>Crash</strong>: "
        "importing it killed the interpreter (SIGABRT)</li>"
    ) in page


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="side by side needs two CPUs")
def test_plugin_modules_are_imported_side_by_side(tmp_path, uv_bin, wheelhouse, make_board):
    """Each plugin waits, while it imports, for the other to have started importing."""
    markers = tmp_path / "markers"
    markers.mkdir()
    waiting = """
        import pathlib
        import time

        markers = pathlib.Path({markers!r})
        (markers / {me!r}).touch()
        deadline = time.monotonic() + 20
        while not (markers / {other!r}).exists():
            if time.monotonic() > deadline:
                raise RuntimeError("imported alone: {other} never started")
            time.sleep(0.05)
    """
    project_dir = project_with_plugins(
        tmp_path,
        uv_bin,
        wheelhouse,
        {
            "left_plugin": waiting.format(markers=str(markers), me="left", other="right"),
            "right_plugin": waiting.format(markers=str(markers), me="right", other="left"),
        },
        dependencies=("dagster",),
    )
    board = make_board(project_dir)
    plugins = board.state(board.workspace.projects[0], wait=True).plugins
    assert plugins.failure is None and plugins.errors == []
    assert {"left_plugin", "right_plugin"} <= {m["module"] for m in plugins.registry_modules}
    assert plugins.duration < 20


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="side by side needs two CPUs")
def test_a_slow_module_does_not_hold_up_the_modules_after_it(tmp_path, uv_bin, wheelhouse, make_board):
    """A child takes the next module when it is free, so the one after a slow module is not
    left waiting for it: here the slow one waits until the next one has been imported."""
    imported = tmp_path / "b_next-imported"
    fast = "X = 1\n"
    project_dir = local_project(
        tmp_path,
        wheelhouse,
        uv_bin,
        {
            "a_slow": f"""
                import pathlib
                import time

                deadline = time.monotonic() + 20
                while not pathlib.Path({str(imported)!r}).exists():
                    if time.monotonic() > deadline:
                        raise RuntimeError("b_next was left waiting behind a_slow")
                    time.sleep(0.05)
            """,
            "b_next": f"import pathlib\npathlib.Path({str(imported)!r}).touch()\n",
            "c_more": fast,
            "d_more": fast,
        },
    )
    board = make_board(project_dir)
    plugins = board.state(board.workspace.projects[0], wait=True).plugins
    assert plugins.failure is None and plugins.errors == []
    assert {f"p.components.{name}" for name in ("a_slow", "b_next", "c_more", "d_more")} <= {
        m["module"] for m in plugins.registry_modules
    }


def test_a_machine_that_cannot_start_another_process_still_gets_its_list(
    tmp_path, uv_bin, wheelhouse, make_board
):
    """fork() fails (EAGAIN: a process limit, or no memory) and the probe imports in its own
    process instead. Root ignores process limits, so a .pth file makes os.fork fail here."""
    project_dir = project_with_plugins(tmp_path, uv_bin, wheelhouse, {"plain_plugin": "X = 1\n"})
    site_packages = next((project_dir / ".venv" / "lib").glob("python*/site-packages"))
    (site_packages / "zz_no_fork.pth").write_text(
        "import os; os.fork = lambda: (_ for _ in ()).throw("
        "BlockingIOError(11, 'Resource temporarily unavailable'))\n"  # 11: EAGAIN
    )
    board = make_board(project_dir)
    plugins = board.state(board.workspace.projects[0], wait=True).plugins
    assert plugins.failure is None and plugins.errors == []
    assert "plain_plugin" in [m["module"] for m in plugins.registry_modules]
    assert [c["key"] for c in plugins.components] == [
        "acme_plugin.WidgetComponent",
        "dagster.DefinitionsComponent",
    ]
