"""dg's vocabulary, written once: file names, environment modes and plugin entry-point groups."""

from __future__ import annotations

DG_TOML = "dg.toml"
PYPROJECT = "pyproject.toml"
CONFIG_FILES = (DG_TOML, PYPROJECT)

MODE_ACTIVE = "active"
MODE_UV = "persistent_uv"
MODES = (MODE_ACTIVE, MODE_UV)

# Where dg finds plugins: the current group first, then the older ones Dagster still reads.
# The probe gets this list in its request, so it is never written twice.
ENTRY_POINT_GROUPS = (
    "dagster_dg_cli.registry_modules",
    "dagster_dg.library",
    "dagster_dg.plugin",
    "dagster_dg_cli.plugin",
)
