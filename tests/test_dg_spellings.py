"""The dg table in every spelling TOML allows: the scan finds the same settings, and the
mode writer either writes exactly the target mode or refuses with a clear message.

Each example draws one set of settings and writes it in one spelling (headers, dotted
keys under [tool], top-level dotted keys, quoted and escaped keys, inline tables,
dg.toml). Whatever the spelling, the scan must read the same project.
"""

import tomllib

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from webapp.core.workspace import mode_preview, modes
from webapp.core.workspace.config import has_dg_config
from webapp.core.workspace.scan import scan_workspace

MODE_VALUES = {
    "active": ['"active"', "{ active = true }"],
    "persistent_uv": ['"persistent_uv"', "{ uv_managed = true }", "'persistent_uv'"],
}
MODULES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
PATTERNS = st.lists(
    st.builds(lambda a, b: f"{a}.{b}", MODULES, st.sampled_from(["*", "components", "components.*"])),
    max_size=2,
)
DG_KEYS = ["dg", '"dg"', "'dg'", '"d\\u0067"']
TOOL_KEYS = ["tool", '"tool"', "'tool'"]
SPELLINGS = [
    "headers",
    "dotted under [tool]",
    "top-level dotted",
    "inline under [tool]",
    "inline at top level",
    "project inline under [tool.dg]",
    "dg.toml",
]


@st.composite
def settings_and_spelling(draw):
    wanted = {"directory_type": "project"}
    project = {}
    if draw(st.booleans()):
        project["root_module"] = draw(MODULES)
    if draw(st.booleans()):
        project["registry_modules"] = draw(PATTERNS)
    mode = draw(st.sampled_from([None, "active", "persistent_uv"]))
    if mode is not None:
        project["python_environment"] = draw(st.sampled_from(MODE_VALUES[mode]))
    if project:
        wanted["project"] = project
    spelling = draw(st.sampled_from(SPELLINGS))
    dg, tool = draw(st.sampled_from(DG_KEYS)), draw(st.sampled_from(TOOL_KEYS))
    dot = draw(st.sampled_from([".", " . "]))
    trailers = ["", '\n[project]\nname = "p"\n']
    if spelling != "inline at top level":  # an inline `tool` table cannot be extended
        trailers.append("\n[tool.other]\nz = 1\n")
    trailer = draw(st.sampled_from(trailers))
    return wanted, mode, spelling, render(wanted, spelling, dg, tool, dot) + trailer


def _value(item) -> str:
    if isinstance(item, list):
        return "[" + ", ".join(f'"{v}"' for v in item) + "]"
    if isinstance(item, str) and (item.startswith(("{", '"', "'"))):
        return item  # a mode value, already spelled
    return f'"{item}"'


def _inline(table: dict) -> str:
    parts = []
    for name, item in table.items():
        parts.append(f"{name} = {_inline(item) if isinstance(item, dict) else _value(item)}")
    return "{ " + ", ".join(parts) + " }"


def render(wanted: dict, spelling: str, dg: str, tool: str, dot: str) -> str:
    project = wanted.get("project", {})
    lines: list[str] = []
    if spelling == "headers":
        lines += [f"[{tool}{dot}{dg}]", 'directory_type = "project"']
        if project:
            lines += ["", f"[{tool}{dot}{dg}{dot}project]"]
            lines += [f"{k} = {_value(v)}" for k, v in project.items()]
    elif spelling == "dotted under [tool]":
        lines += [f"[{tool}]", f'{dg}{dot}directory_type = "project"']
        lines += [f"{dg}{dot}project{dot}{k} = {_value(v)}" for k, v in project.items()]
    elif spelling == "top-level dotted":
        lines += [f'{tool}{dot}{dg}{dot}directory_type = "project"']
        lines += [f"{tool}{dot}{dg}{dot}project{dot}{k} = {_value(v)}" for k, v in project.items()]
    elif spelling == "inline under [tool]":
        lines += [f"[{tool}]", f"{dg} = {_inline(wanted)}"]
    elif spelling == "inline at top level":
        lines += [f"{tool} = {{ {dg} = {_inline(wanted)} }}"]
    elif spelling == "project inline under [tool.dg]":
        lines += [f"[{tool}{dot}{dg}]", 'directory_type = "project"']
        if project:
            lines.append(f"project = {_inline(project)}")
    return "\n".join(lines) + "\n"


def render_dg_toml(wanted: dict) -> str:
    lines = ['directory_type = "project"']
    if wanted.get("project"):
        lines += ["", "[project]"] + [f"{k} = {_value(v)}" for k, v in wanted["project"].items()]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=settings_and_spelling(), target=st.sampled_from(["active", "persistent_uv"]))
def test_every_spelling_scans_the_same_and_the_writer_agrees(tmp_path_factory, case, target):
    wanted, mode, spelling, text = case
    event(spelling)
    folder = tmp_path_factory.mktemp("spelled")
    if spelling == "dg.toml":
        name, text = "dg.toml", render_dg_toml(wanted)
        (folder / "pyproject.toml").write_text('[project]\nname = "p"\n')
    else:
        name = "pyproject.toml"
    path = folder / name
    path.write_text(text)
    assert has_dg_config(folder), text
    (project,) = scan_workspace(folder).projects
    assert project.error is None, (text, project.error)
    assert project.config_file == path
    assert project.mode.mode == (mode or "active")
    assert project.root_module == wanted.get("project", {}).get("root_module")
    assert project.registry_modules == wanted.get("project", {}).get("registry_modules", [])

    try:
        change = mode_preview.preview(project, target)
    except modes.ModeChangeError as refusal:
        event(f"refused: {spelling}")
        assert "nothing was written" in str(refusal)
        assert path.read_text() == text
        return
    modes.apply(change, change.file_hash)
    written = path.read_text()
    (reread,) = scan_workspace(folder).projects
    assert reread.error is None, written
    assert reread.mode.mode == target
    assert (reread.root_module, reread.registry_modules) == (project.root_module, project.registry_modules)
    old, new = tomllib.loads(text), tomllib.loads(written)
    for data in (old, new):
        section = data if name == "dg.toml" else data["tool"]["dg"]
        section.get("project", {}).pop("python_environment", None)
        if not section.get("project"):
            section.pop("project", None)
    assert old == new, written


@pytest.mark.parametrize(
    "text",
    [
        '[project]\nname = "p"\ndependencies = ["dagster-dg", "dg"]\n',
        "[tool.dgx]\na = 1\n[tool.other]\ndg = 1\n",
        '[tool.other]\n"d\\u0067" = 1\n',
        '[project]\nname = "dg"\n',
    ],
)
def test_files_that_only_mention_dg_are_not_projects(tmp_path, text):
    (tmp_path / "pyproject.toml").write_text(text)
    assert not has_dg_config(tmp_path)


def test_a_broken_file_that_may_hold_a_dg_table_is_reported(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool]\ndg.directory_type = "project"\nbroken = \n')
    assert has_dg_config(tmp_path)
    (project,) = scan_workspace(tmp_path).projects
    assert project.error and "invalid TOML" in project.error and project.error_line == 3


def test_a_header_inside_a_multiline_string_is_not_a_dg_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\ndescription = """\n[tool.dg]\n"""\n')
    assert not has_dg_config(tmp_path)


def test_an_oversized_pyproject_with_a_dg_table_is_reported_not_skipped(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.dg]\ndirectory_type = "project"\n' + "# pad\n" * 800_000)
    assert has_dg_config(tmp_path)
    (project,) = scan_workspace(tmp_path).projects
    assert "larger than a config file" in project.error
