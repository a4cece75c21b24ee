"""Each project as its own dg sees it, checked against real dg from PyPI in one workspace:
dagster-dg 0.26.10 (strings only), 0.26.17 and dagster-dg-cli 1.10.19 (tables), 1.11.16,
1.12.22 and 1.13.27 (the key ignored, the project's own .venv, a .env from 1.12.4). For
each spelling, what envboard says (valid or not, dg's warnings, the interpreter) must equal
what that dg says and does.

Building the six environments takes about half a minute from a warm uv cache, minutes
from a cold one; it is done once per module. Without the package index these tests skip.
"""

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.dagster_projects import registry_env
from tests.shared_bytecode import share_bytecode
from webapp.core.live.board import Board
from webapp.core.settings import Settings

pytestmark = [pytest.mark.dagster, pytest.mark.slow]

PROJECTS = {
    "legacy": ("dagster==1.10.10", "dagster-dg==0.26.10", "click<8.2"),
    "tables": ("dagster==1.10.17", "dagster-dg==0.26.17"),
    "core19": ("dagster==1.10.19", "dagster-dg-cli==1.10.19"),
    "mid11": ("dagster==1.11.16", "dagster-dg-cli==1.11.16"),
    "mid12": ("dagster==1.12.22", "dagster-dg-cli==1.12.22"),
    "today": ("dagster==1.13.27", "dagster-dg-cli==1.13.27"),
}
# a definitions module that says which interpreter loaded it
DEFINITIONS = textwrap.dedent("""\
    import os
    import sys

    import dagster as dg

    if os.environ.get("ERAS_RECORD"):
        with open(os.environ["ERAS_RECORD"], "a") as record:
            record.write(__name__.split(".")[0] + " " + sys.executable + "\\n")
    defs = dg.Definitions()
""")


def pyproject(name: str, dg_table: str) -> str:
    deps = ", ".join(f'"{d}"' for d in PROJECTS[name])
    return (
        f'[project]\nname = "{name}"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        f"dependencies = [{deps}]\n\n"
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n' + dg_table
    )


def dg_table(name: str, setting: str | None) -> str:
    line = f"python_environment = {setting}\n" if setting else ""
    return f'[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "{name}"\n{line}'


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, uv_bin, package_index, bytecode_donors) -> Path:
    root = tmp_path_factory.mktemp("eras") / "ws"
    root.mkdir()
    entries = ", ".join(f'{{ path = "projects/{name}" }}' for name in PROJECTS)
    (root / "dg.toml").write_text(f'directory_type = "workspace"\n\n[workspace]\nprojects = [{entries}]\n')
    for name in PROJECTS:
        folder = root / "projects" / name
        (folder / "src" / name).mkdir(parents=True)
        (folder / "src" / name / "__init__.py").write_text("")
        (folder / "src" / name / "definitions.py").write_text(DEFINITIONS)
        (folder / "pyproject.toml").write_text(pyproject(name, dg_table(name, '"persistent_uv"')))
        subprocess.run([uv_bin, "sync", "-q"], cwd=folder, env=registry_env(), check=True, timeout=900)
        share_bytecode(folder / ".venv", bytecode_donors)
    return root


def dg(folder: Path, *args: str, cwd: Path | None = None, record: Path | None = None):
    env = registry_env()
    env["DAGSTER_HOME"] = str(folder.parent / ".dagster-home")
    os.makedirs(env["DAGSTER_HOME"], exist_ok=True)
    if record is not None:
        env["ERAS_RECORD"] = str(record)
    return subprocess.run(
        [str(folder / ".venv" / "bin" / "dg"), *args],
        cwd=cwd or folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def config_error(text: str, path: Path) -> str:
    """dg's message for a config it rejects: `... file <path>: <message>` (in a traceback, whose
    source lines say the same words first) or `... file:\n    <path>\n<message>`."""
    rest = text.rsplit("Error in configuration file", 1)[1].replace(str(path), "", 1)
    return rest.lstrip(": \n").splitlines()[0].rstrip(".:")


# The project-level command each dg answers after reading its config: its list of the
# project's .env variables. Every dg command reads and validates the config alike (dg's
# `from_file_discovery_and_command_line_config`; a project command then requires a project),
# so this says the same errors and warnings, word for word, as `dg list plugins/components
# --json` on every case here (checked by hand), without importing every component type
# (0.2-0.7 s of CPU instead of 2-5 s). What follows the config (dagster 0.26.17 finds no
# `tables.defs` module to list) is not what these tests compare.
LOOK = {"legacy": ("env", "list")}  # dagster-dg 0.26.10 has no `dg list envs` yet
LOOK.update({name: ("list", "envs") for name in ("tables", "core19", "mid11", "mid12", "today")})


def envboard_sees(workspace: Path, tmp_path: Path, name: str):
    board = Board(Settings(workspace=workspace, state_dir=tmp_path / f"state-{name}"))
    try:
        project = next(p for p in board.workspace.projects if p.name == name)
        env = None if project.error else board.resolve(project)
        return project, env
    finally:
        board.close()


@pytest.mark.parametrize(
    "name, setting",
    [
        ("legacy", '"persistent_uv"'),
        ("legacy", "{ uv_managed = true }"),
        ("tables", '"persistent_uv"'),
        ("tables", '{ path = ".venv" }'),
        ("tables", "{ uv_managed = true }"),
        ("tables", "{ active = true, uv_managed = true }"),
        ("core19", '"persistent_uv"'),
        ("core19", '{ path = ".venv" }'),
        ("core19", "{ active = false, uv_managed = false }"),
        ("mid11", '"active"'),
        ("mid12", "{ uv_managed = true }"),
        ("today", '"active"'),
        ("today", None),
    ],
)
def test_validity_and_warnings_are_dg_s_own(workspace, tmp_path, name, setting):
    folder = workspace / "projects" / name
    original = (folder / "pyproject.toml").read_text()
    (folder / "pyproject.toml").write_text(pyproject(name, dg_table(name, setting)))
    try:
        result = dg(folder, *LOOK[name])
        project, env = envboard_sees(workspace, tmp_path, name)
    finally:
        (folder / "pyproject.toml").write_text(original)
    said = result.stdout + result.stderr  # dg 0.26.17 prints a config error on stdout
    rejected = "Error in configuration file" in said
    assert (project.error is not None) == rejected, (project.error, said[-2000:])
    if rejected:
        assert config_error(said, folder / "pyproject.toml") in project.error
        return
    for warning in env.dg_warnings:
        assert warning in result.stderr
    said = [w for w in ("is deprecated",) if w in result.stderr]
    assert bool(said) == bool(env.dg_warnings), result.stderr[-2000:]


def test_dotted_keys_are_fatal_for_dg_1_13_as_envboard_says(workspace, tmp_path):
    folder = workspace / "projects" / "today"
    original = (folder / "pyproject.toml").read_text()
    dotted = dg_table("today", None).replace(
        '[tool.dg]\ndirectory_type = "project"\n', '[tool]\ndg.directory_type = "project"\n'
    )
    (folder / "pyproject.toml").write_text(pyproject("today", dotted))
    try:
        result = dg(folder, *LOOK["today"])
        project, _ = envboard_sees(workspace, tmp_path, "today")
    finally:
        (folder / "pyproject.toml").write_text(original)
    fatal = result.stderr.strip().splitlines()[-1]
    assert result.returncode != 0 and fatal.startswith("TypeError: Expected 'tool.dg' to be Table")
    assert fatal in project.error


def test_the_interpreter_dg_runs_each_project_with_is_envboard_s(workspace, tmp_path):
    """`dg check defs` at the workspace root loads every project; each definitions module
    writes down its interpreter. A 1.13 project says python_environment = "active" here:
    dg ignores it, and so must envboard."""
    today = workspace / "projects" / "today"
    original = (today / "pyproject.toml").read_text()
    (today / "pyproject.toml").write_text(pyproject("today", dg_table("today", '"active"')))
    record = tmp_path / "record"
    try:
        result = dg(today, "check", "defs", cwd=workspace, record=record)
        assert result.returncode == 0, result.stderr[-3000:]
        ran = dict(line.split(" ", 1) for line in record.read_text().splitlines())
        for name in ("legacy", "core19", "mid11", "mid12", "today"):  # uv's .venv, or the own .venv
            _, env = envboard_sees(workspace, tmp_path, name)
            assert str(env.python) == ran[name], name
        _, env = envboard_sees(workspace, tmp_path, "today")
        assert env.described == "own .venv (dg 1.13 ignores python_environment)"
    finally:
        (today / "pyproject.toml").write_text(original)


def test_a_dotenv_interpreter_is_the_one_dg_runs(workspace, tmp_path):
    """From 1.12.4, DG_PROJECT_PYTHON_EXECUTABLE in a project's .env names its interpreter.

    dg reads it where it runs a workspace's projects; it loads them one after another (each
    code server seconds of CPU), so its check runs in a workspace of mid12 alone."""
    mid12 = workspace / "projects" / "mid12"
    (mid12 / "alt-env").symlink_to(mid12 / ".venv")
    (mid12 / ".env").write_text("DG_PROJECT_PYTHON_EXECUTABLE=alt-env/bin/python\n")
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "dg.toml").write_text(
        f'directory_type = "workspace"\n\n[workspace]\nprojects = [{{ path = "{mid12}" }}]\n'
    )
    record = tmp_path / "record"
    try:
        result = dg(workspace / "projects" / "today", "check", "defs", cwd=alone, record=record)
        assert result.returncode == 0, result.stderr[-3000:]
        ran = dict(line.split(" ", 1) for line in record.read_text().splitlines())
        _, env = envboard_sees(workspace, tmp_path, "mid12")
        assert ran["mid12"] == str(env.python) == str(mid12 / "alt-env" / "bin" / "python")
        assert "set by DG_PROJECT_PYTHON_EXECUTABLE in .env" in env.described
    finally:
        (mid12 / ".env").unlink()
        (mid12 / "alt-env").unlink()
