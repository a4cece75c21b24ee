"""One data function per resource: what its page, its htmx fragment, its JSON twin and its
command all show. Each reads the running envboard (never the request) and returns a plain
object; the web layer renders it as a page, a fragment or `to_json()`.

| resource | function | module |
|---|---|---|
| overview, "Sync all" | `overview()`, `needing_sync()` | `overview.py` |
| project, mode change | `project()`, `mode_preview()` | `project.py` |
| packages, definitions | `packages()`, `definitions()` | `project.py` |
| history, job | `history()`, `job()`, `log_chunk()` | `jobs.py` |
| versions | `versions()` (tables in `inventory.py`) | `versions.py` |
| outdated, upgrade plan | `outdated()`, `upgrade_plan()` | `upgrades.py` |
"""
