"""The workspace scan: dg's discovery rules, ids, and one bad project never hiding the others."""

import os

from tests.conftest import write_project, write_workspace
from webapp.core.workspace.scan import scan_workspace


def test_workspace_lists_projects_with_ids_names_and_paths(tmp_path):
    root = write_workspace(tmp_path / "ws", ["projects/alpha", "projects/Beta_Two"])
    write_project(root / "projects" / "alpha", "alpha-dist")
    write_project(root / "projects" / "Beta_Two", "beta")
    workspace = scan_workspace(root / "projects" / "alpha" / "..")
    # walking up from a folder inside finds the nearest config: here the workspace
    assert workspace.kind == "workspace"
    assert [(p.id, p.name, p.rel_path) for p in workspace.projects] == [
        ("projects-alpha", "alpha-dist", "projects/alpha"),
        ("projects-beta-two", "beta", "projects/Beta_Two"),
    ]
    assert all(p.error is None for p in workspace.projects)


def test_inline_array_spelling(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[tool.dg]\ndirectory_type = "workspace"\n[tool.dg.workspace]\nprojects = [{ path = "a" }]\n'
    )
    write_project(root / "a", "a")
    assert [p.id for p in scan_workspace(root).projects] == ["a"]


def test_project_root_alone_is_a_workspace_of_one(tmp_path):
    project = write_project(tmp_path / "solo", "solo", mode="persistent_uv")
    workspace = scan_workspace(project / "src" if (project / "src").exists() else project)
    assert workspace.kind == "project"
    assert [(p.id, p.mode.mode) for p in workspace.projects] == [("solo", "persistent_uv")]


def test_bad_projects_are_listed_with_their_errors(tmp_path):
    root = write_workspace(
        tmp_path / "ws", ["good", "broken", "missing", "weird", "noconfig", "../outside", "good"]
    )
    write_project(root / "good", "good")
    (root / "broken").mkdir()
    (root / "broken" / "pyproject.toml").write_text('[tool.dg]\ndirectory_type = "project"\nx = \n')
    (root / "weird").mkdir()
    (root / "weird" / "dg.toml").write_text('directory_type = "deployment"\n')
    (root / "noconfig").mkdir()
    (root / "noconfig" / "pyproject.toml").write_text('[project]\nname = "plain"\n')
    write_project(tmp_path / "outside", "outside")
    scanned = scan_workspace(root).projects
    assert len(scanned) == 7
    projects = {p.rel_path: p for p in reversed(scanned)}  # first of each path wins
    assert projects["good"].error is None
    assert "invalid TOML" in projects["broken"].error
    assert projects["broken"].error_line == 3
    assert projects["broken"].error_file == root / "broken" / "pyproject.toml"
    assert "does not exist" in projects["missing"].error
    assert '"deployment"' in projects["weird"].error
    assert "no dg config" in projects["noconfig"].error
    assert "outside the workspace" in projects["../outside"].error
    ids = [p.id for p in scan_workspace(root).projects]
    assert len(set(ids)) == len(ids), "ids must be unique even for duplicate entries"
    duplicates = [p for p in scan_workspace(root).projects if p.rel_path == "good"]
    assert duplicates[0].error is None and "duplicate" in duplicates[1].error


def test_discovery_without_dg_config_skips_venvs_hidden_folders_and_loops(tmp_path):
    base = tmp_path / "code"
    write_project(base / "one", "one")
    write_project(base / "group" / "two", "two")
    write_project(base / ".venv" / "lib" / "hidden", "in-venv")
    write_project(base / ".git" / "x", "in-git")
    write_project(base / "node_modules" / "y", "in-node")
    os.symlink(base, base / "group" / "loop")
    workspace = scan_workspace(base)
    assert workspace.kind == "discovered"
    assert sorted(p.name for p in workspace.projects) == ["one", "two"]


def test_find_by_id_name_or_path(tmp_path):
    root = write_workspace(tmp_path / "ws", ["projects/alpha"])
    write_project(root / "projects" / "alpha", "alpha-dist")
    workspace = scan_workspace(root)
    for reference in ("projects-alpha", "alpha-dist", "projects/alpha", str(root / "projects/alpha")):
        assert workspace.find(reference).id == "projects-alpha"
    assert workspace.find("nope") is None


def test_a_scan_parses_each_config_file_once_and_a_rescan_of_unchanged_files_none(tmp_path, monkeypatch):
    from webapp.core.disk import files

    root = tmp_path / "ws"
    root.mkdir()
    (root / "dg.toml").write_text(
        'directory_type = "workspace"\n'
        + "".join(f'[[workspace.projects]]\npath = "p{i}"\n' for i in range(5))
    )
    for i in range(5):
        (root / f"p{i}").mkdir()
        (root / f"p{i}" / "pyproject.toml").write_text(
            f'[project]\nname = "p{i}"\n[tool.dg]\ndirectory_type = "project"\n'
        )
    parsed = []
    real_parse = files._parse
    monkeypatch.setattr(files, "_parse", lambda path, size: parsed.append(path) or real_parse(path, size))
    assert len(scan_workspace(root).projects) == 5
    assert sorted(map(str, parsed)) == sorted({str(p) for p in parsed}), "a file was parsed twice"
    assert len(parsed) == 6
    parsed.clear()
    scan_workspace(root)
    assert parsed == []
    (root / "p3" / "pyproject.toml").write_text(
        '[project]\nname = "renamed"\n[tool.dg]\ndirectory_type = "project"\n'
    )
    names = [p.name for p in scan_workspace(root).projects]
    assert parsed == [root / "p3" / "pyproject.toml"] and "renamed" in names
