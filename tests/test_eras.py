"""Every project as its own dg sees it: the era of the dg installed in its environment (or
pinned by its uv.lock) decides which spellings are valid, what dg warns, and which
interpreter runs the project's code. The dg here is a stand-in wheel with the real
distribution name and version (its dist-info is what envboard reads), installed with uv
into a real virtual environment; tests marked `dagster` check the same against real dg.
"""

import textwrap
from pathlib import Path

import pytest

from tests.conftest import build_wheel, uv, write_workspace
from webapp.core.environments.interpreters import ActivePython
from webapp.core.environments.processes import UvLocation
from webapp.core.environments.resolver import Resolver
from webapp.core.workspace.scan import scan_workspace

HEADERS = '[project]\nname = "{name}"\nversion = "0.1.0"\n\n[tool.dg]\ndirectory_type = "project"\n\n'


def stand_in_dg(tmp: Path, package: str, version: str) -> Path:
    return build_wheel(tmp / "dg-wheels", package, version, {f"{package.replace('-', '_')}_stub.py": ""})


def project_with_dg(
    uv_bin: str, folder: Path, package: str | None, version: str | None, dg_table: str
) -> Path:
    """A project whose .venv has that dg installed (none when package is None)."""
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(HEADERS.format(name=folder.name) + dg_table)
    if package is not None:
        uv(uv_bin, "venv", "-q", ".venv", cwd=folder)
        wheel = stand_in_dg(folder.parent, package, version)
        uv(uv_bin, "pip", "install", "-q", "--python", ".venv/bin/python", str(wheel), cwd=folder)
    return folder


def resolver(tmp_path: Path) -> Resolver:
    active = ActivePython(tmp_path / "active" / "bin" / "python", "test", tmp_path / "active")
    return Resolver(active, UvLocation("/opt/uv", "test"), {"PATH": "/usr/bin"})


def only(folder: Path):
    (project,) = scan_workspace(folder).projects
    return project


def test_dg_1_13_runs_the_projects_own_venv_whatever_python_environment_says(tmp_path, uv_bin):
    folder = project_with_dg(
        uv_bin,
        tmp_path / "finance",
        "dagster-dg-core",
        "1.13.27",
        '[tool.dg.project]\nroot_module = "finance"\npython_environment = "active"\n',
    )
    project = only(folder)
    assert project.error is None
    env = resolver(tmp_path).resolve(project)
    assert env.python == folder / ".venv" / "bin" / "python"
    assert env.dg_version == "1.13.27"
    assert env.described == "own .venv (dg 1.13 ignores python_environment)"
    assert env.dg_warnings == (
        "Setting `tool.dg.project.python_environment` is deprecated. This key can be removed.",
    )
    assert any("runs the project's code with <project>/.venv/bin/python" in line for line in env.why)


def test_dotenv_names_the_interpreter_for_today_s_dg(tmp_path, uv_bin):
    folder = project_with_dg(
        uv_bin, tmp_path / "sales", "dagster-dg-core", "1.13.27", '[tool.dg.project]\nroot_module = "sales"\n'
    )
    shared = tmp_path / "shared-env"
    uv(uv_bin, "venv", "-q", str(shared), cwd=tmp_path)
    (folder / ".env").write_text(f"# picked by dg\nDG_PROJECT_PYTHON_EXECUTABLE={shared}/bin/python\n")
    env = resolver(tmp_path).resolve(only(folder))
    assert env.python == shared / "bin" / "python" and env.venv == shared
    assert env.mode == "active"  # envboard does not manage an environment named from outside
    assert "set by DG_PROJECT_PYTHON_EXECUTABLE in .env" in env.described
    assert env.dg_warnings == ()


def test_a_sync_of_a_dotenv_environment_says_who_chose_it(tmp_path, uv_bin, make_board):
    from webapp.core.jobs.history import History
    from webapp.core.jobs.manager import JobManager

    folder = project_with_dg(
        uv_bin, tmp_path / "sales", "dagster-dg-core", "1.13.27", '[tool.dg.project]\nroot_module = "sales"\n'
    )
    (folder / ".env").write_text("DG_PROJECT_PYTHON_EXECUTABLE=/opt/team-env/bin/python\n")
    board = make_board(folder)
    jobs = JobManager(board, History(tmp_path / "state", folder), 1)
    try:
        reason = jobs.can_sync(board.workspace.projects[0])
    finally:
        jobs.close()
    assert reason == (
        "dg 1.13.27 runs this project with /opt/team-env/bin/python, named by DG_PROJECT_PYTHON_EXECUTABLE "
        "in its .env; envboard does not manage that environment"
    )


def test_dotenv_before_1_12_4_is_not_read(tmp_path, uv_bin):
    folder = project_with_dg(
        uv_bin, tmp_path / "old", "dagster-dg-core", "1.12.3", '[tool.dg.project]\nroot_module = "old"\n'
    )
    (folder / ".env").write_text("DG_PROJECT_PYTHON_EXECUTABLE=/elsewhere/bin/python\n")
    assert resolver(tmp_path).resolve(only(folder)).python == folder / ".venv" / "bin" / "python"


def test_a_table_is_an_error_for_dg_0_26_10_in_dg_s_words(tmp_path, uv_bin):
    folder = project_with_dg(
        uv_bin,
        tmp_path / "legacy",
        "dagster-dg",
        "0.26.10",
        "[tool.dg.project]\npython_environment = { uv_managed = true }\n",
    )
    project = only(folder)
    assert project.error is not None
    assert (
        "Invalid value for `tool.dg.project.python_environment`. "
        'Expected "active" | "persistent_uv", got `{\'uv_managed\': True}`'
    ) in project.error
    assert project.error_line == 9


def test_dg_0_26_10_reads_the_string_spelling(tmp_path, uv_bin):
    folder = project_with_dg(
        uv_bin,
        tmp_path / "legacy",
        "dagster-dg",
        "0.26.10",
        '[tool.dg.project]\npython_environment = "persistent_uv"\n',
    )
    env = resolver(tmp_path).resolve(only(folder))
    assert env.mode == "persistent_uv" and env.dg_version == "0.26.10" and env.dg_warnings == ()


def test_path_is_accepted_by_dg_0_26_17_and_runs_the_active_environment(tmp_path, uv_bin):
    folder = project_with_dg(
        uv_bin,
        tmp_path / "tables",
        "dagster-dg",
        "0.26.17",
        '[tool.dg.project]\npython_environment = { path = ".venv" }\n',
    )
    project = only(folder)
    assert project.error is None
    env = resolver(tmp_path).resolve(project)
    assert env.mode == "active" and env.python == tmp_path / "active" / "bin" / "python"
    assert "accepts path but does not use it" in env.described


def test_dg_0_26_17_warns_about_the_string_spelling_as_dg_does(tmp_path, uv_bin):
    folder = project_with_dg(
        uv_bin,
        tmp_path / "tables",
        "dagster-dg",
        "0.26.17",
        '[tool.dg.project]\npython_environment = "persistent_uv"\n',
    )
    env = resolver(tmp_path).resolve(only(folder))
    assert env.mode == "persistent_uv"
    assert env.dg_warnings == (
        'Setting `tool.dg.project.python_environment = "persistent_uv"` is deprecated. Please update to:\n\n'
        "    [tool.dg.project.python_environment]\n    uv_managed = true",
    )


@pytest.mark.parametrize(
    "body, kind",
    [
        (
            '[tool]\ndg.directory_type = "project"\n\n[tool.dg.project]\nroot_module = "x"\n',
            "OutOfOrderTableProxy",
        ),
        ('[tool]\ndg = { directory_type = "project" }\n', "InlineTable"),
    ],
)
def test_a_dg_table_dg_cannot_read_is_its_fatal_error(tmp_path, uv_bin, body, kind):
    folder = tmp_path / "dotted"
    folder.mkdir()
    (folder / "pyproject.toml").write_text('[project]\nname = "dotted"\nversion = "0.1.0"\n\n' + body)
    uv(uv_bin, "venv", "-q", ".venv", cwd=folder)
    wheel = stand_in_dg(tmp_path, "dagster-dg-core", "1.13.27")
    uv(uv_bin, "pip", "install", "-q", "--python", ".venv/bin/python", str(wheel), cwd=folder)
    project = only(folder)
    assert project.error is not None
    assert f"TypeError: Expected 'tool.dg' to be Table, but got {kind} instead." in project.error


def test_before_an_environment_exists_uv_lock_s_pin_decides(tmp_path):
    folder = tmp_path / "fresh"
    folder.mkdir()
    (folder / "pyproject.toml").write_text(
        HEADERS.format(name="fresh") + "[tool.dg.project]\npython_environment = { uv_managed = true }\n"
    )
    (folder / "uv.lock").write_text(
        textwrap.dedent("""\
            version = 1
            requires-python = ">=3.11"

            [[package]]
            name = "dagster-dg"
            version = "0.26.10"
            source = { registry = "https://pypi.org/simple" }
        """)
    )
    project = only(folder)
    assert project.error is not None and "Invalid value for" in project.error


def test_the_workspace_s_dg_reads_projects_without_their_own(tmp_path, uv_bin):
    root = write_workspace(tmp_path / "ws", ["projects/plain"])
    plain = root / "projects" / "plain"
    plain.mkdir(parents=True)
    (plain / "pyproject.toml").write_text(
        HEADERS.format(name="plain") + '[tool.dg.project]\nroot_module = "p"\n'
    )
    active = tmp_path / "active"
    uv(uv_bin, "venv", "-q", str(active), cwd=tmp_path)
    uv(
        uv_bin,
        "pip",
        "install",
        "-q",
        "--python",
        str(active / "bin" / "python"),
        str(stand_in_dg(tmp_path, "dagster-dg-core", "1.12.22")),
        cwd=tmp_path,
    )
    (project,) = scan_workspace(root, active_venv=active).projects
    env = resolver(tmp_path).resolve(project)
    assert env.dg_version == "1.12.22"
    assert env.python == plain / ".venv" / "bin" / "python"
    assert any("the workspace's (the active environment)" in line for line in env.why)


def _preview(folder: Path, target: str):
    from webapp.core.workspace import mode_preview

    return mode_preview.preview(only(folder), target)


@pytest.mark.parametrize(
    "package, version, written",
    [
        ("dagster-dg", "0.26.10", 'python_environment = "persistent_uv"\n'),
        ("dagster-dg", "0.26.17", "python_environment = { uv_managed = true }\n"),
    ],
)
def test_a_new_mode_key_is_written_in_the_spelling_that_dg_accepts(
    tmp_path, uv_bin, package, version, written
):
    folder = project_with_dg(
        uv_bin, tmp_path / "p", package, version, '[tool.dg.project]\nroot_module = "p"\n'
    )
    change = _preview(folder, "persistent_uv")
    assert change.new_text.endswith('root_module = "p"\n' + written)


def test_a_mode_change_for_dg_0_26_17_writes_the_table_it_accepts_without_a_warning(tmp_path, uv_bin):
    folder = project_with_dg(
        uv_bin,
        tmp_path / "tables",
        "dagster-dg",
        "0.26.17",
        '[tool.dg.project]\npython_environment = "active"  # why\n',
    )
    change = _preview(folder, "persistent_uv")
    assert "python_environment = { uv_managed = true }  # why" in change.new_text
    folder.joinpath("pyproject.toml").write_text(change.new_text)
    assert resolver(tmp_path).resolve(only(folder)).dg_warnings == ()


def test_today_s_dg_is_offered_removing_the_key_never_writing_it(tmp_path, uv_bin):
    from webapp.core.workspace import modes

    folder = project_with_dg(
        uv_bin,
        tmp_path / "now",
        "dagster-dg-core",
        "1.13.27",
        '[tool.dg.project]\nroot_module = "now"\npython_environment = "persistent_uv"\n\n[tool.other]\nz = 1\n',
    )
    with pytest.raises(modes.ModeChangeError, match="dg 1.13.27 ignores python_environment"):
        _preview(folder, "active")
    change = _preview(folder, "remove-key")
    assert (
        change.new_text
        == HEADERS.format(name="now") + '[tool.dg.project]\nroot_module = "now"\n\n[tool.other]\nz = 1\n'
    )
    modes.apply(change, change.file_hash)
    env = resolver(tmp_path).resolve(only(folder))
    assert env.dg_warnings == () and env.python == folder / ".venv" / "bin" / "python"
