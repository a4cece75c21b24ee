"""The definitions of a dagster-dg 0.26 project, counted as that dg counts them (needs the package index).

dagster-dg 0.26.17's `dg list defs --json` prints one flat list in which a job and a sensor are
both `{"name": ...}` and resources are not listed at all; its table (`dg list defs`) still says
which is which. envboard's counts must equal the table's, and resources must be unknown, not 0.
"""

import contextlib
import io
import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.dagster_projects import SHOP_DEFINITIONS, registry_env
from tests.shared_bytecode import share_bytecode
from webapp.cli import main as cli

pytestmark = [pytest.mark.dagster, pytest.mark.slow]

PINS = ("dagster==1.10.17", "dagster-dg==0.26.17")
# the shop's, with a sensor and a resource, and the explicit Definitions that era loads
DEFINITIONS = (
    SHOP_DEFINITIONS
    + """

class Warehouse(dg.ConfigurableResource):
    token: str = "local"


@dg.sensor(job=daily)
def new_files():
    return None


defs = dg.Definitions(
    assets=[orders, revenue],
    asset_checks=[orders_not_empty],
    jobs=[daily],
    schedules=[every_morning],
    sensors=[new_files],
    resources={"warehouse": Warehouse()},
)
"""
)
SECTIONS = {"Assets": "assets", "Asset Checks": "asset_checks", "Jobs": "jobs", "Schedules": "schedules"}
SECTIONS["Sensors"] = "sensors"


@pytest.fixture(scope="module")
def old(tmp_path_factory, uv_bin, package_index, bytecode_donors) -> Path:
    project = tmp_path_factory.mktemp("legacy") / "old"
    (project / "src" / "old" / "defs").mkdir(parents=True)  # dg 0.26's check needs the defs module
    (project / "src" / "old" / "__init__.py").write_text("")
    (project / "src" / "old" / "defs" / "__init__.py").write_text("")
    (project / "src" / "old" / "definitions.py").write_text(textwrap.dedent(DEFINITIONS))
    deps = ", ".join(f'"{pin}"' for pin in PINS)
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "old"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = [{deps}]\n\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        '[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "old"\n'
        "python_environment = { uv_managed = true }\n"
    )
    subprocess.run([uv_bin, "sync", "-q"], cwd=project, env=registry_env(), check=True, timeout=900)
    share_bytecode(project / ".venv", bytecode_donors)
    return project


def dg(project: Path, *args: str) -> str:
    env = {**registry_env(), "COLUMNS": "200", "DAGSTER_HOME": str(project.parent / "home")}
    (project.parent / "home").mkdir(exist_ok=True)
    (project.parent / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [str(project / ".venv" / "bin" / "dg"), *args], cwd=project, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def table_counts(table: str) -> dict[str, int]:
    """The rows of each section of `dg list defs`'s table: `│ Section │ │ row │` lines."""
    counts: dict[str, int] = {}
    section = None
    for line in table.splitlines():
        cells = line.split("│")
        if len(cells) < 3:
            continue
        section = SECTIONS.get(cells[1].strip(), section)
        if section and cells[2].strip() == "" and len(cells) > 4:  # a row of the nested table
            counts[section] = counts.get(section, 0) + 1
    return counts


def test_the_0_26_era_counts_each_kind_as_its_dg_does(old, tmp_path):
    printed = dg(old, "list", "defs", "--json")
    listed = json.loads(printed[printed.index("\n[") :])  # after a `Using ...` line
    assert sorted(item["name"] for item in listed if set(item) == {"name"}) == ["daily", "new_files"]
    expected = table_counts(dg(old, "list", "defs"))
    assert expected == {"assets": 2, "asset_checks": 1, "jobs": 1, "schedules": 1, "sensors": 1}

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(["check", "--workspace", str(old), "--state-dir", str(tmp_path), "--json"])
    (entry,) = json.loads(out.getvalue())["projects"]
    assert code == 0 and entry["loads"] is True
    assert entry["definitions"] == {**expected, "resources": None}  # 0.26 lists no resources
