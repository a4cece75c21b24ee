"""Property tests: the config reader never crashes, and the mode writer touches only the mode key.

For any document the writer either refuses with a clear message or writes a file that
tomllib parses, in which only python_environment changed, and every comment survives.
"""

import tomllib

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from webapp.core.workspace import mode_preview, modes
from webapp.core.workspace.config import ConfigError, read_dg_config
from webapp.core.workspace.scan import scan_workspace

KEYS = st.sampled_from(["a", "b", "name", "root_module", "x-y", "weird key", "é"])
SCALARS = st.one_of(
    st.integers(-1000, 1000),
    st.booleans(),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))
MODES = st.sampled_from(
    [
        None,
        '"active"',
        '"persistent_uv"',
        "'active'",
        "{ active = true }",
        "{ uv_managed = true }",
        "{active=true}",
        '"conda"',
        "{ active = true, uv_managed = true }",
    ]
)
COMMENTS = st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=15))


def key(name: str) -> str:
    return name if name.replace("-", "").replace("_", "").isalnum() and name.isascii() else f'"{name}"'


def value(item) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, str):
        return (
            '"'
            + item.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
            + '"'
        )
    if isinstance(item, float):
        return repr(item) if "e" in repr(item) or "." in repr(item) else repr(item) + ".0"
    if isinstance(item, list):
        return "[" + ", ".join(value(v) for v in item) + "]"
    return str(item)


@st.composite
def documents(draw):
    lines = []
    newline = draw(st.sampled_from(["\n", "\r\n"]))

    def comment():
        text = draw(COMMENTS)
        return "" if text is None else f"  # {text}"

    for name, item in draw(st.dictionaries(KEYS, VALUES, max_size=2)).items():
        lines.append(f"{key(name)} = {value(item)}{comment()}")
    lines.append("")
    style = draw(st.sampled_from(["tables", "dotted", "dg-dotted"]))
    mode = draw(MODES)
    extra = draw(st.dictionaries(KEYS, VALUES, max_size=3))
    if style == "tables":
        lines += ["[tool.dg]" + comment(), 'directory_type = "project"' + comment()]
        if mode is not None or extra or draw(st.booleans()):
            lines += ["", "[tool.dg.project]" + comment()]
            for name, item in extra.items():
                lines.append(f"{key(name)} = {value(item)}{comment()}")
            if mode is not None:
                lines.insert(
                    len(lines) - draw(st.integers(0, len(extra))), f"python_environment = {mode}{comment()}"
                )
    elif style == "dotted":
        lines += ["[tool.dg]", 'directory_type = "project"']
        for name, item in extra.items():
            lines.append(f"project.{key(name)} = {value(item)}")
        if mode is not None:
            lines.append(f"project.python_environment = {mode}{comment()}")
    else:
        lines.append('tool.dg.directory_type = "project"')
        if mode is not None:
            lines.append(f"tool.dg.project.python_environment = {mode}")
    if draw(st.booleans()):
        lines += ["", "[tool.other]", "# trailing table", f"z = {value(draw(VALUES))}"]
    return newline.join(lines) + newline


def comments_of(text: str) -> list[str]:
    return [
        line[line.index("#") :].rstrip("\r") for line in text.splitlines() if line.lstrip().startswith("#")
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=documents(), target=st.sampled_from(["active", "persistent_uv"]))
def test_the_writer_touches_only_the_mode_key(tmp_path_factory, document, target):
    folder = tmp_path_factory.mktemp("doc")
    try:
        tomllib.loads(document)
    except tomllib.TOMLDecodeError:
        event("invalid TOML generated")
        return  # the generator made invalid TOML (e.g. a duplicate key); the reader test covers it
    (folder / "pyproject.toml").write_bytes(document.encode())
    (project,) = scan_workspace(folder).projects
    if project.error:
        event("bad mode value: located error")
        assert project.error_file is not None  # e.g. "conda": a clear, located error
        return
    try:
        change = mode_preview.preview(project, target)
    except modes.ModeChangeError as refusal:
        event("refused")
        assert str(refusal)
        assert (folder / "pyproject.toml").read_bytes() == document.encode()
        return
    event("written")
    modes.apply(change, change.file_hash)
    written = (folder / "pyproject.toml").read_bytes().decode()
    new, old = tomllib.loads(written), tomllib.loads(document)
    assert new["tool"]["dg"]["project"]["python_environment"] in (
        target,
        {"active": True},
        {"uv_managed": True},
    )
    (reread,) = scan_workspace(folder).projects
    assert reread.mode.mode == target
    for data in (new, old):
        data["tool"]["dg"].get("project", {}).pop("python_environment", None)
        if not data["tool"]["dg"].get("project"):
            data["tool"]["dg"].pop("project", None)
    assert new == old
    for comment in comments_of(document):
        assert comment in written
    if "\r\n" in document:
        assert written.count("\r\n") == written.count("\n")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=300), documents().map(str.encode)))
def test_the_reader_never_crashes(tmp_path_factory, raw):
    folder = tmp_path_factory.mktemp("raw")
    (folder / "pyproject.toml").write_bytes(b"[tool.dg]\n" + raw)
    try:
        read_dg_config(folder)
    except ConfigError as error:
        assert error.path == folder / "pyproject.toml" and error.message
    (project,) = scan_workspace(folder).projects
    assert project.error is None or isinstance(project.error, str)
