"""What a sync or an upgrade changed in an environment: two plugin lists, before and after,
compared (the job's record and its page show the result)."""

from __future__ import annotations

from .runner import PluginList


def plugin_diff(before: PluginList | None, after: PluginList) -> dict[str, list]:
    """Modules and components added, removed or changed between two lists (a sync's effect)."""
    if before is None or before.failure or after.failure:
        return {"unknown": ["no earlier plugin list to compare with"]} if before is None else {}
    old_modules = {m["module"] for m in before.registry_modules}
    new_modules = {m["module"] for m in after.registry_modules}
    old_components = {c["key"]: c.get("summary") for c in before.components}
    new_components = {c["key"]: c.get("summary") for c in after.components}
    return {
        "modules_added": sorted(new_modules - old_modules),
        "modules_removed": sorted(old_modules - new_modules),
        "components_added": sorted(set(new_components) - set(old_components)),
        "components_removed": sorted(set(old_components) - set(new_components)),
        "components_changed": sorted(
            k for k in set(old_components) & set(new_components) if old_components[k] != new_components[k]
        ),
    }


def package_diff(before: PluginList | None, after: PluginList) -> dict[str, list]:
    """Distributions a sync added, removed or changed, from the probe's lists before and after.

    `{"added": [{"name", "version"}], "removed": [{"name", "version"}],
    "changed": [{"name", "from", "to"}]}`, each by name; `{"unknown": [why]}` without a before.
    """
    if before is None:
        return {"unknown": ["no earlier package list to compare with"]}
    if before.failure or after.failure:
        return {}
    old = {p["name"]: p["version"] for p in before.packages}
    new = {p["name"]: p["version"] for p in after.packages}
    return {
        "added": [{"name": n, "version": new[n]} for n in sorted(set(new) - set(old))],
        "removed": [{"name": n, "version": old[n]} for n in sorted(set(old) - set(new))],
        "changed": [
            {"name": n, "from": old[n], "to": new[n]} for n in sorted(set(old) & set(new)) if old[n] != new[n]
        ],
    }
