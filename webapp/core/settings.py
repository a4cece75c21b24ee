"""What one envboard process is configured with: decided once, by the command line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_state_path

REFRESH_INTERVAL = 2.0  # a change made outside envboard shows within this plus the page's poll
FULL_REFRESH_INTERVAL = 60.0  # everything re-read even without a file-system event (a lost one)
TERM_GRACE = 5.0  # seconds between TERM and KILL when a command is stopped


def default_state_dir() -> Path:
    """History, logs, locks and cache: `$XDG_STATE_HOME/envboard` (or the platform's equivalent)."""
    return user_state_path("envboard", appauthor=False)


def names_to_pass(environ: Mapping[str, str]) -> tuple[str, ...]:
    """ENVBOARD_PASS_ENV: names separated by commas or spaces."""
    return tuple(environ.get("ENVBOARD_PASS_ENV", "").replace(",", " ").split())


@dataclass(frozen=True)
class Settings:
    workspace: Path
    state_dir: Path = field(default_factory=default_state_dir)
    active_python: str | None = None
    uv: str | None = None
    cache_dir: Path | None = None
    workers: int = max(1, os.cpu_count() or 1)  # status checks and probes at once
    max_jobs: int = 2  # syncs at once
    refresh_interval: float = REFRESH_INTERVAL
    full_refresh_interval: float = FULL_REFRESH_INTERVAL
    watch: bool = True  # file-system events tell the monitor what changed (else it re-reads every pass)
    term_grace: float = TERM_GRACE
    outdated_lifetime: float = 6 * 3600.0  # seconds an index's answer on outdated packages is trusted
    # a job's replaced files stay kept (for "Roll back") for the last kept_jobs jobs of each
    # project and any job younger than kept_days (ENVBOARD_KEEP_JOBS, ENVBOARD_KEEP_DAYS)
    kept_jobs: int = 20
    kept_days: float = 14.0
    job_user: str | None = None  # project code runs as this user (envboard running as root)
    # variables passed to project code beyond the allow-list (--pass-env, ENVBOARD_PASS_ENV)
    pass_env: tuple[str, ...] = field(default_factory=lambda: names_to_pass(os.environ))
    private_paths: tuple[Path, ...] = ()  # hidden from project code besides the state dir (users file)
    dagster_url: str | None = None  # a running Dagster webserver told to reload code locations

    @property
    def hidden_paths(self) -> tuple[Path, ...]:
        """What project code must not read or write: envboard's state, cache and users file."""
        return (self.state_dir, self.resolved_cache_dir, *self.private_paths)

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or self.state_dir / "cache"
