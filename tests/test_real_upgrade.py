"""A real Dagster upgrade, 1.12 -> 1.13, planned and applied across two projects (needs the index).

`north` asks for `dagster` and `dagster-dg-cli` (its load check is dg's `dg check defs`);
`south` asks for `dagster>=1.12,<1.13` and no dg (its load check is Dagster's own
`dagster definitions validate`), so its plan is blocked by that pin and names the edit that
allows the upgrade. Both are locked at 1.12.22 first. The plan writes nothing; the apply
edits south's pin, relocks and syncs both, and each still loads as envboard checks it.

Every uv here shares the user's uv cache, and both projects resolve to the same wheels, so
from a warm cache this costs two lockings, four syncs and the load checks.
"""

import contextlib
import io
import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.dagster_projects import registry_env
from tests.shared_bytecode import share_bytecode
from webapp.cli import main

pytestmark = [pytest.mark.dagster, pytest.mark.slow]

BEFORE, AFTER = "1.12.22", "1.13.27"  # a dagster-dg-cli release exists for each
DEFINITIONS = textwrap.dedent("""\
    import dagster as dg


    @dg.asset
    def orders():
        return 1


    defs = dg.Definitions(assets=[orders])
""")


def write_project(folder: Path, name: str, requirements: list[str]) -> None:
    (folder / "src" / name).mkdir(parents=True, exist_ok=True)
    (folder / "src" / name / "__init__.py").write_text("")
    (folder / "src" / name / "definitions.py").write_text(DEFINITIONS)
    deps = ", ".join(json.dumps(r) for r in requirements)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        f"# what {name} needs\ndependencies = [{deps}]\n\n"
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        f'[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "{name}"\n'
        'python_environment = "persistent_uv"\n'
    )


def sync(folder: Path, uv_bin: str, donors: Path) -> None:
    subprocess.run([uv_bin, "sync", "-q"], cwd=folder, env=registry_env(), check=True, timeout=900)
    share_bytecode(folder / ".venv", donors)


@pytest.fixture
def workspace(tmp_path, uv_bin, package_index, bytecode_donors) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "dg.toml").write_text(
        'directory_type = "workspace"\n\n[workspace]\nprojects = [{ path = "north" }, { path = "south" }]\n'
    )
    north, south = root / "north", root / "south"
    # north asks for the family without a pin; its lock is made at 1.12 first, then the pins go
    write_project(north, "north", [f"dagster=={BEFORE}", f"dagster-dg-cli=={BEFORE}"])
    sync(north, uv_bin, bytecode_donors)
    write_project(north, "north", ["dagster", "dagster-dg-cli"])
    write_project(south, "south", ["dagster>=1.12,<1.13"])
    subprocess.run(
        [uv_bin, "lock", "-q", "--upgrade-package", f"dagster=={BEFORE}"],
        cwd=south,
        env=registry_env(),
        check=True,
        timeout=900,
    )
    sync(south, uv_bin, bytecode_donors)
    sync(north, uv_bin, bytecode_donors)  # the unpinned project reads the same lock: nothing moves
    return root


def locked(folder: Path, package: str) -> str:
    found = re.search(rf'\nname = "{package}"\nversion = "([^"]+)"', (folder / "uv.lock").read_text())
    return found.group(1) if found else ""


def envboard(root: Path, state: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args[:1], "--workspace", str(root), "--state-dir", str(state), *args[1:]])
    return code, out.getvalue(), err.getvalue()


def test_a_dagster_upgrade_is_planned_applied_and_both_projects_still_load(workspace, tmp_path):
    north, south = workspace / "north", workspace / "south"
    assert locked(north, "dagster") == locked(south, "dagster") == BEFORE
    assert locked(north, "dagster-dg-cli") == BEFORE
    before = {p: (p / "pyproject.toml").read_bytes() + (p / "uv.lock").read_bytes() for p in (north, south)}
    state = tmp_path / "state"
    target = f"dagster-family=={AFTER}"

    code, out, err = envboard(workspace, state, "upgrade", target, "--plan", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["target"] == {"name": "dagster-family", "version": AFTER}
    by_id = {p["id"]: p for p in plan["projects"]}
    assert by_id["north"]["blocked"] is None
    moved = {c["name"]: (c["from"], c["to"]) for c in by_id["north"]["changes"]}
    assert moved["dagster"] == (BEFORE, AFTER) and moved["dagster-dg-cli"] == (BEFORE, AFTER)
    assert "dagster>=1.12,<1.13" in by_id["south"]["blocked"]  # the pin is named...
    assert f"'dagster>=1.12,>={AFTER}'" in by_id["south"]["blocked"]  # ...with the edit allowing it
    assert {p: (p / "pyproject.toml").read_bytes() + (p / "uv.lock").read_bytes() for p in before} == before

    # without a version, the family goes to the newest release dagster-dg-cli has too (some
    # dagster releases have none), so north's plan is not blocked by a release dg skipped
    code, out, err = envboard(workspace, state, "upgrade", "dagster-family", "--plan", "--json")
    assert code == 0, err
    newest = json.loads(out)
    north_plan = next(p for p in newest["projects"] if p["id"] == "north")
    assert north_plan["blocked"] is None, north_plan["blocked"]
    moved = {c["name"]: c["to"] for c in north_plan["changes"]}
    assert moved["dagster"] == moved["dagster-dg-cli"] == newest["target"]["version"]

    code, log, err = envboard(workspace, state, "upgrade", target, "--apply")
    assert code == 0, log + err
    for folder in (north, south):
        assert locked(folder, "dagster") == AFTER, err
    assert locked(north, "dagster-dg-cli") == AFTER
    assert f'"dagster>=1.12,>={AFTER}"' in (south / "pyproject.toml").read_text()
    assert "# what south needs" in (south / "pyproject.toml").read_text()  # the layout kept
    assert log.count("step: verify: definitions still load") == 2  # each job checked before it ended

    # and envboard's own load check, asked afresh, says each loads on 1.13
    code, out, err = envboard(workspace, state, "check", "--json")
    assert code == 0, err
    verdicts = {entry["id"]: entry for entry in json.loads(out)["projects"]}
    assert verdicts["north"]["loads"] is True and verdicts["north"]["definitions"]["assets"] == 1
    assert verdicts["south"]["loads"] is True
    installed = subprocess.run(
        [str(south / ".venv" / "bin" / "python"), "-c", "import dagster; print(dagster.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert installed.stdout.strip() == AFTER
