"""Plugin and project modules that misbehave while the probe imports them in forked children.

Each test is a module a plugin author could write, on purpose or by bad luck; the probe must
still give the right answer for everything else, end every process it started, and never
cache an answer that a fix to the module would not replace.
"""

import os
import textwrap

import psutil
import pytest

from tests.conftest import core, uv, wait_for, write_project
from webapp.core.probe import runner as plugins_module

COMPONENT = '''
from dagster import Component


class {name}(Component):
    """{name} builds things."""

    def build_defs(self, context):
        return None
'''


def local_project(tmp_path, wheelhouse, uv_bin, modules: dict[str, str], package_init: str = ""):
    """A synced persistent_uv project `p` whose `p.components.*` are these modules."""
    project_dir = write_project(
        tmp_path / "p",
        "p",
        mode="persistent_uv",
        dependencies=("dagster",),
        wheelhouse=wheelhouse,
        local_components=True,
    )
    uv(uv_bin, "sync", cwd=project_dir)
    package = project_dir / "src" / "p"
    (package / "__init__.py").write_text(textwrap.dedent(package_init))
    for name, source in modules.items():
        (package / "components" / f"{name}.py").write_text(textwrap.dedent(source))
    return project_dir


def keys(plugins):
    return [c["key"] for c in plugins.components]


@pytest.mark.slow
def test_a_hung_module_that_left_the_process_group_ends_with_the_probe(
    tmp_path, wheelhouse, uv_bin, make_board, monkeypatch
):
    """The timeout TERMs the probe's process group; a child that moved to a session of its
    own is not in it, and must still not outlive the probe."""
    pid_file = tmp_path / "hung.pid"
    # the pid a sandboxed module sees is its namespace's, not the host's: the host finds it by
    # a word only it carries on its command line
    token = f"envboard-test-hung-{os.getpid()}-{id(pid_file)}"
    project_dir = local_project(
        tmp_path,
        wheelhouse,
        uv_bin,
        {
            "hung": f"""
                import os
                import pathlib
                import sys

                os.setsid()
                pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", {token!r}])
            """
        },
    )
    monkeypatch.setattr(plugins_module, "PROBE_TIMEOUT", 5.0)
    board = make_board(project_dir)
    plugins = board.state(board.workspace.projects[0], wait=True).plugins
    assert plugins.failure == "timed out after 5 s"
    assert pid_file.exists()  # the module ran and left the probe's process group

    def hung() -> list[psutil.Process]:
        return [
            process
            for process in psutil.process_iter(["cmdline", "status"])
            if token in (process.info["cmdline"] or []) and process.info["status"] != psutil.STATUS_ZOMBIE
        ]

    try:
        wait_for(lambda: not hung(), timeout=10)
    finally:
        for process in hung():  # the test's own leftover; never leave it running
            process.kill()


def test_a_package_that_ignores_sigchld_while_patterns_are_expanded(tmp_path, wheelhouse, uv_bin, make_board):
    """Expanding `p.components.*` imports `p` in the probe itself; it may change how children end."""
    project_dir = local_project(
        tmp_path,
        wheelhouse,
        uv_bin,
        {"orders": COMPONENT.format(name="OrdersComponent")},
        package_init="import signal\nsignal.signal(signal.SIGCHLD, signal.SIG_IGN)\n",
    )
    board = make_board(project_dir)
    plugins = board.state(board.workspace.projects[0], wait=True).plugins
    assert plugins.failure is None, plugins.output
    assert plugins.errors == []
    assert keys(plugins) == [
        "dagster.DefinitionsComponent",
        "p.components.greeting.GreetingComponent",
        "p.components.orders.OrdersComponent",
    ]


def test_a_module_level_object_that_raises_on_any_attribute_keeps_the_modules_components(
    tmp_path, wheelhouse, uv_bin, make_board
):
    """As `from flask import request` does outside a request: the proxy is no component, the class is."""
    proxy = '''
        from dagster import Component


        class _Proxy:
            def __getattr__(self, name):
                raise RuntimeError("Working outside of application context.")


        request = _Proxy()


        class WebhookComponent(Component):
            """Receives webhooks."""

            def build_defs(self, context):
                return None
    '''
    project_dir = local_project(tmp_path, wheelhouse, uv_bin, {"webhook": proxy})
    board = make_board(project_dir)
    plugins = board.state(board.workspace.projects[0], wait=True).plugins
    assert plugins.failure is None
    assert plugins.errors == []
    assert "p.components.webhook.WebhookComponent" in keys(plugins)


def test_fixing_a_local_module_that_crashed_or_raised_replaces_the_cached_answer(
    tmp_path, wheelhouse, uv_bin, make_app
):
    """The broken module is in no child's list of loaded modules; its file must still be watched."""
    project_dir = local_project(
        tmp_path,
        wheelhouse,
        uv_bin,
        {"crashing": "import os\nos._exit(3)\n", "raising": "raise RuntimeError('not written yet')\n"},
    )
    app = make_app(project_dir)
    board = core(app).board
    project = board.workspace.projects[0]
    before = board.state(project, wait=True).plugins
    assert {e["module"]: e["type"] for e in before.errors} == {
        "p.components.crashing": "Crash",
        "p.components.raising": "RuntimeError",
    }
    components = project_dir / "src" / "p" / "components"
    for name, cls in (("crashing", "CrashingComponent"), ("raising", "RaisingComponent")):
        (components / f"{name}.py").write_text(textwrap.dedent(COMPONENT.format(name=cls)))  # edited in place
    after = board.state(project, wait=True).plugins
    assert not after.cached
    assert after.errors == []
    assert {"p.components.crashing.CrashingComponent", "p.components.raising.RaisingComponent"} <= set(
        keys(after)
    )


@pytest.mark.skipif(len(os.sched_getaffinity(0)) >= 12, reason="a child per module: nothing left to share")
def test_modules_of_one_package_share_a_child_so_a_common_dependency_is_not_imported_per_module(
    tmp_path, wheelhouse, uv_bin, make_board
):
    """Twelve component modules that import one heavy shared module: one child per CPU, each
    taking module after module, pays for the shared module once, not once per module."""
    imports = tmp_path / "shared-imports"
    modules = {
        f"part{n:02}": f"import p.shared\n{COMPONENT.format(name=f'Part{n:02}Component')}" for n in range(12)
    }
    project_dir = local_project(tmp_path, wheelhouse, uv_bin, modules)
    (project_dir / "src" / "p" / "shared.py").write_text(
        f"with open({str(imports)!r}, 'a') as log:\n    log.write('imported\\n')\n"
    )
    board = make_board(project_dir)
    plugins = board.state(board.workspace.projects[0], wait=True).plugins
    assert plugins.failure is None and plugins.errors == []
    assert len([k for k in keys(plugins) if ".part" in k]) == 12
    times_imported = imports.read_text().count("imported")
    assert times_imported <= len(os.sched_getaffinity(0))


def test_a_copy_of_the_child_that_a_module_forks_does_not_go_on_importing(
    tmp_path, wheelhouse, uv_bin, make_board
):
    """The module forks and waits for its copy, which returns into the probe as the child did.

    The copy is no child of the probe: a module it went on to import, and that crashed it,
    would be seen by nobody and reported without how it ended. b_after keeps any second
    child busy meanwhile, so c_crash is the next module free for the copy to take.
    """
    imports = tmp_path / "after-imports"
    project_dir = local_project(
        tmp_path,
        wheelhouse,
        uv_bin,
        {
            "a_forks": "import os\npid = os.fork()\nif pid:\n    os.waitpid(pid, 0)\n",
            "b_after": f"import time\nwith open({str(imports)!r}, 'a') as log:\n    log.write('imported\\n')\n"
            + "time.sleep(1.5)\n"
            + COMPONENT.format(name="AfterComponent"),
            "c_crash": "import os\nos.abort()\n",
        },
    )
    board = make_board(project_dir)
    plugins = board.state(board.workspace.projects[0], wait=True).plugins
    assert plugins.failure is None
    assert [(e["module"], e["message"]) for e in plugins.errors] == [
        ("p.components.c_crash", "importing it killed the interpreter (SIGABRT)")
    ]
    assert "p.components.b_after.AfterComponent" in keys(plugins)
    assert imports.read_text().count("imported") == 1


def test_text_that_is_no_unicode_in_a_summary_or_an_error_still_shows(tmp_path, wheelhouse, uv_bin, make_app):
    """Lone surrogates (from bytes that were not UTF-8, e.g. a file name) cannot be sent to a browser."""
    odd = COMPONENT.format(name="OddComponent") + "\nOddComponent.__doc__ = 'Reads caf\\udce9 files.'\n"
    project_dir = local_project(
        tmp_path,
        wheelhouse,
        uv_bin,
        {"odd": odd, "failing": "raise OSError('cannot read caf\\udce9.csv')\n"},
    )
    app = make_app(project_dir)
    project = core(app).board.workspace.projects[0]
    plugins = core(app).board.state(project, wait=True).plugins
    assert {c["key"]: c["summary"] for c in plugins.components}["p.components.odd.OddComponent"] == (
        "Reads caf? files."
    )
    assert [e["message"] for e in plugins.errors] == ["cannot read caf?.csv"]
    core(app).monitor.refresh()
    page = app.test_client().get(f"/projects/{project.id}")
    assert page.status_code == 200
    assert "Reads caf? files." in page.get_data(as_text=True)


def test_a_module_file_whose_path_is_no_unicode_is_still_watched(tmp_path, wheelhouse, uv_bin, make_board):
    """Only text to show loses its lone surrogates: a watched path must name the real file, or
    editing that file would leave the cached answer in place."""
    folder = os.fsencode(tmp_path) + b"/caf\xe9"  # bytes that are not UTF-8, as a folder name may be
    os.mkdir(folder)
    target = folder + b"/odd.py"
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(textwrap.dedent(COMPONENT.format(name="OddComponent")))
    project_dir = local_project(tmp_path, wheelhouse, uv_bin, {})
    os.symlink(target, project_dir / "src" / "p" / "components" / "odd.py")
    board = make_board(project_dir)
    project = board.workspace.projects[0]
    before = board.state(project, wait=True).plugins
    assert before.errors == []
    summaries = {c["key"]: c["summary"] for c in before.components}
    assert summaries["p.components.odd.OddComponent"] == "OddComponent builds things."
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(textwrap.dedent(COMPONENT.format(name="OddComponent").replace("builds", "now builds")))
    after = board.state(project, wait=True).plugins
    assert not after.cached
    summaries = {c["key"]: c["summary"] for c in after.components}
    assert summaries["p.components.odd.OddComponent"] == "OddComponent now builds things."
