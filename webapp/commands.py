"""Subcommands that need the web layer or jobs; filled in as those land."""

from __future__ import annotations


def add_commands(commands, add_common) -> None:
    return None
