"""The structure ARCHITECTURE.md promises, read from the code's own imports.

These read source files only (nothing is imported or run), so they cost milliseconds and
fail the moment a change breaks a layer, adds a cycle or grows a module past a page.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "webapp"
CORE_ORDER = ["disk", "workspace", "environments", "probe", "live", "jobs", "upgrades", "pages"]
MAX_LINES = 300
LONGER_ALLOWED = {"core/probe/script.py"}  # one stand-alone file: it runs inside each environment


def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports (relative imports resolved), at any depth of
    the file, type-checking imports included: a cycle there is a cycle of ideas all the same."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if c in known and c != name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def test_the_core_imports_no_flask_and_nothing_of_the_web_or_the_command_line():
    for path in (PACKAGE / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for imported in names:
                assert not imported.startswith(("flask", "werkzeug", "jinja2", "markupsafe")), path
                assert not imported.lstrip(".").startswith(("web", "cli")), path


def test_no_module_imports_itself_round_about(graph):
    """No import cycle anywhere in the package (depth-first search for a back edge)."""
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if target.startswith(name + "."):
                continue  # a package importing its own modules is its face, not a cycle
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if state.get(target) is None:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if state.get(name) is None:
            visit(name)


def test_core_folders_import_only_the_folders_before_them(graph):
    """Data flows up: disk, workspace, environments, probe, live, jobs, pages (access on disk alone)."""
    allowed = {folder: set(CORE_ORDER[:i]) for i, folder in enumerate(CORE_ORDER)}
    allowed["access"] = {"disk"}
    for name, targets in graph.items():
        parts = name.split(".")
        if len(parts) < 3 or parts[1] != "core" or parts[2] not in allowed:
            continue
        for target in targets:
            tparts = target.split(".")
            if len(tparts) < 3 or tparts[1] != "core":
                continue
            folder = tparts[2]
            if folder in (parts[2], "settings") or (folder == "app" and parts[2] == "pages"):
                continue  # settings are read by all; the pages read the envboard app.py builds
            assert folder in allowed[parts[2]], (
                f"{name} imports {target}: core/{parts[2]} comes before core/{folder}"
            )


def test_blueprints_import_no_other_blueprint(graph):
    blueprints = {
        name
        for name, path in modules().items()
        if name.startswith("webapp.web.") and "Blueprint(" in path.read_text(encoding="utf-8")
    }
    for name in blueprints:
        assert not (graph[name] & blueprints), f"{name} imports {graph[name] & blueprints}"


def test_every_module_fits_on_a_page():
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if relative not in LONGER_ALLOWED:
            assert lines <= MAX_LINES, f"{relative} has {lines} lines (at most {MAX_LINES})"
