"""Reading the environment mode in every spelling dg ever accepted, and rejecting the rest."""

from pathlib import Path

import pytest

from webapp.core.workspace.config import ConfigError, read_dg_config
from webapp.core.workspace.reading import read_mode


def mode_of(tmp_path: Path, body: str, filename: str = "pyproject.toml"):
    (tmp_path / filename).write_text(body)
    config = read_dg_config(tmp_path)
    assert config is not None
    return read_mode(config)


@pytest.mark.parametrize(
    ("value", "mode", "spelling"),
    [
        ('"active"', "active", "string"),
        ('"persistent_uv"', "persistent_uv", "string"),
        ("{ active = true }", "active", "table"),
        ("{ uv_managed = true }", "persistent_uv", "table"),
        ("{ active = false, uv_managed = true }", "persistent_uv", "table"),
    ],
)
def test_mode_spellings(tmp_path, value, mode, spelling):
    body = f'[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\npython_environment = {value}\n'
    setting = mode_of(tmp_path, body)
    assert (setting.mode, setting.spelling) == (mode, spelling)
    assert setting.line == 5
    assert setting.key == "tool.dg.project.python_environment"


def test_absent_mode_is_active_by_default(tmp_path):
    setting = mode_of(tmp_path, '[tool.dg]\ndirectory_type = "project"\n')
    assert (setting.mode, setting.spelling, setting.file) == ("active", "default", None)


def test_dotted_and_dg_toml_spellings(tmp_path):
    setting = mode_of(
        tmp_path,
        'directory_type = "project"\nproject.python_environment.uv_managed = true\n',
        "dg.toml",
    )
    assert setting.mode == "persistent_uv"
    assert setting.key == "project.python_environment"
    assert setting.line == 2


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ('"conda"', '"conda"'),
        ("{ active = true, uv_managed = true }", "both are true"),
        ("{ }", "no mode is true"),
        ("{ poetry = true }", "'poetry'"),
        ("42", "42"),
    ],
)
def test_unknown_or_conflicting_mode_is_a_clear_error(tmp_path, value, quoted):
    body = f'[tool.dg]\ndirectory_type = "project"\n[tool.dg.project]\npython_environment = {value}\n'
    with pytest.raises(ConfigError) as caught:
        mode_of(tmp_path, body)
    assert quoted in caught.value.message
    assert caught.value.line == 4
    assert str(caught.value).startswith(str(tmp_path / "pyproject.toml") + ":4:")


def test_dg_toml_wins_over_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dg]\ndirectory_type = "project"\n[tool.dg.project]\npython_environment = "active"\n'
    )
    (tmp_path / "dg.toml").write_text(
        'directory_type = "project"\n[project]\npython_environment = "persistent_uv"\n'
    )
    config = read_dg_config(tmp_path)
    assert config.path.name == "dg.toml"
    assert read_mode(config).mode == "persistent_uv"


def test_broken_toml_names_file_and_line(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.dg]\ndirectory_type = "project"\nbroken = =1\nok = 1\n')
    with pytest.raises(ConfigError) as caught:
        read_dg_config(tmp_path)
    assert caught.value.line == 3
    assert "invalid TOML" in caught.value.message


def test_non_utf8_names_the_line(tmp_path):
    (tmp_path / "pyproject.toml").write_bytes(b'[tool.dg]\n# caf\xe9\ndirectory_type = "project"\n')
    with pytest.raises(ConfigError) as caught:
        read_dg_config(tmp_path)
    assert caught.value.line == 2
    assert "UTF-8" in caught.value.message


def test_utf8_bom_is_accepted(tmp_path):
    (tmp_path / "pyproject.toml").write_bytes(b'\xef\xbb\xbf[tool.dg]\ndirectory_type = "project"\n')
    assert read_dg_config(tmp_path).directory_type == "project"


def test_pyproject_without_dg_table_is_no_config(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert read_dg_config(tmp_path) is None
