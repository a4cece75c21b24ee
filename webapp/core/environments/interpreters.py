"""Interpreters: the one envboard was started in (the `active` environment), and any venv's version.

The active one is decided once, with the reason, from `--active-python`, `$VIRTUAL_ENV`
or the first python on PATH, as the seed describes. A venv's Python version is read from
its `pyvenv.cfg` (any other interpreter is asked), and again only when that file changed.
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..disk.files import MAX_SMALL_BYTES, ConfigError, read_regular
from ..disk.stamps import remembered
from .confinement import child_environment
from .processes import Invocation, run


@dataclass
class ActivePython:
    """The environment envboard was started in, decided once, with the reason."""

    python: Path | None
    reason: str
    venv: Path | None = None

    @functools.cached_property
    def version(self) -> str | None:
        """Asked of the interpreter on first use only (it may cost a subprocess)."""
        return python_version(self.python) if self.python else None

    @classmethod
    def detect(cls, cli_python: str | None, environ: dict[str, str] | None = None) -> ActivePython:
        environ = dict(os.environ if environ is None else environ)
        if cli_python:
            found = shutil.which(cli_python) or cli_python
            path = Path(found).absolute()
            return cls(path, "--active-python", _venv_of(path))
        if environ.get("VIRTUAL_ENV"):
            venv = Path(environ["VIRTUAL_ENV"])
            python = venv / "bin" / "python"
            return cls(python, "$VIRTUAL_ENV", venv)
        for name in ("python3", "python"):
            found = shutil.which(name, path=environ.get("PATH"))
            if found:
                path = Path(found)
                return cls(path, f"first {name} on PATH", _venv_of(path))
        return cls(None, "no python3 or python on PATH, and neither --active-python nor $VIRTUAL_ENV")


def _venv_of(python: Path) -> Path | None:
    candidate = python.parent.parent
    return candidate if (candidate / "pyvenv.cfg").is_file() else None


def python_version(python: Path) -> str | None:
    """The Python version of an interpreter: from pyvenv.cfg when it is a venv, else by asking it."""
    venv = _venv_of(python)
    if venv is not None:
        version = pyvenv_version(venv)
        if version:
            return version
    if not python.exists():
        return None
    # asked once per interpreter file and stamp, not once per envboard built in this process (a
    # pyenv shim answers for the shim: `pyenv global` changed meanwhile is seen by a new process)
    return remembered("python version", python.resolve(), lambda _: _ask_version(python))


def _ask_version(python: Path) -> str | None:
    invocation = Invocation(
        (str(python), "-c", "import platform; print(platform.python_version())"),
        Path.cwd(),
        child_environment(),
    )
    result = run(invocation, capture=True, timeout=30)
    return result.text.strip() or None if result.ok else None


def pyvenv_version(venv: Path) -> str | None:
    """The version pyvenv.cfg records, read again only when the file changed."""
    path = venv / "pyvenv.cfg"
    if not path.exists():
        return None
    return remembered("pyvenv version", path, _read_pyvenv_version)


def _read_pyvenv_version(path: Path) -> str | None:
    try:
        lines = read_regular(path, MAX_SMALL_BYTES).decode("utf-8").splitlines()
    except (ConfigError, UnicodeDecodeError):
        return None
    settings = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            settings[key.strip()] = value.strip()
    return settings.get("version_info") or settings.get("version")
