"""Malformed and hostile workspaces: every bad project is a located error, the rest still works."""

import os

from tests.conftest import write_project


def hostile_workspace(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    outside = write_project(tmp_path / "outside", "outside")
    entries = {
        "good": None,
        "badtoml": b'[tool.dg]\ndirectory_type = "project"\nmode = = 1\n',
        "bom": b'\xef\xbb\xbf[tool.dg]\ndirectory_type = "project"\n',
        "latin1": b'[tool.dg]\n# caf\xe9\ndirectory_type = "project"\n',
        "huge": b'[tool.dg]\ndirectory_type = "project"\n' + b"# padding\n" * 500_000,
        "deep": b'[tool.dg]\ndirectory_type = "project"\nx = ' + b"[" * 5000 + b"]" * 5000 + b"\n",
        "unknown": b'[tool.dg]\ndirectory_type = "deployment"\n',
    }
    for name, content in entries.items():
        folder = root / name
        if content is None:
            write_project(folder, name)
        else:
            folder.mkdir()
            (folder / "pyproject.toml").write_bytes(content)
    os.symlink(outside, root / "link-out")
    os.symlink(root / "loop-b", root / "loop-a")
    os.symlink(root / "loop-a", root / "loop-b")
    paths = [*entries, "link-out", "loop-a", "../outside", "/etc", "good", "missing"]
    (root / "dg.toml").write_text(
        'directory_type = "workspace"\n' + "".join(f'[[workspace.projects]]\npath = "{p}"\n' for p in paths)
    )
    return root


def test_each_bad_project_is_its_own_error(tmp_path, make_app):
    root = hostile_workspace(tmp_path)
    client = make_app(root).test_client()
    report = client.get("/api/projects").get_json()
    errors = [(p["path"].rsplit("/", 1)[-1], p["error"]) for p in report["projects"]]
    by_path = {}
    for path, error in errors:
        by_path.setdefault(path, error)
    assert by_path["good"] is None
    assert by_path["bom"] is None  # a UTF-8 BOM is tolerated
    assert "invalid TOML" in by_path["badtoml"]
    assert "not valid UTF-8" in by_path["latin1"]
    assert "larger than a config file can be" in by_path["huge"]
    assert "nested too deeply" in by_path["deep"] or "invalid TOML" in by_path["deep"]
    assert '"deployment"' in by_path["unknown"]
    assert "outside the workspace" in by_path["link-out"]
    assert "symlink loop" in by_path["loop-a"]
    assert "outside the workspace" in by_path["outside"]
    assert "absolute" in by_path["etc"]
    assert "does not exist" in by_path["missing"]
    duplicates = [p for p in report["projects"] if p["path"].endswith("/good")]
    assert duplicates[1]["error"].startswith("duplicate")
    page = client.get("/")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count('class="project-row"') == len(report["projects"])
    for project in report["projects"]:
        assert client.get(f"/projects/{project['id']}").status_code == 200


def test_the_command_line_lists_them_too(tmp_path, capsys):
    from webapp.cli import main

    root = hostile_workspace(tmp_path)
    assert main(["list", "--workspace", str(root), "--state-dir", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "not valid UTF-8" in out and "outside the workspace" in out
