"""What an upgrade aims at: one package, or the Dagster family, and which packages are in it.

Apart from the plan (which runs uv) so that the command line can name the family in its
help without loading the launcher and the resolver; what parsing a target needs is imported
when one is parsed, for the same reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

FAMILY = "dagster-family"  # the name a plan for the whole Dagster family goes by


@dataclass(frozen=True)
class Target:
    name: str  # a normalised distribution name, or FAMILY
    version: str | None  # None: the newest that fits

    @classmethod
    def parse(cls, text: str) -> Target:
        """`fixpkg`, `fixpkg==2.0`, `dagster-family==1.13.27`; ValueError with a message otherwise."""
        from packaging.version import InvalidVersion, Version

        from ..workspace.locked import normalise

        name, _, version = text.strip().partition("==")
        name, version = name.strip(), version.strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise ValueError(f"{text!r} is not a package name (NAME or NAME==VERSION)")
        if version:
            try:
                Version(version)
            except InvalidVersion:
                raise ValueError(f"{version!r} is not a version") from None
        return cls(normalise(name), version or None)

    @property
    def family(self) -> bool:
        return self.name == FAMILY

    @property
    def lead(self) -> str:
        """The package whose version the target names (dagster for the family)."""
        return "dagster" if self.family else self.name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}


def in_family(name: str) -> bool:
    return name == "dagster" or name.startswith("dagster-")
