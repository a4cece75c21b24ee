"""`JobError`: a job cannot be started, and the message says why.

A module of its own because the queue (`manager.py`) and what it gathers from beside it
(`mode_change.py`, `checks.py`) all raise it, and the pages and the command line catch it,
without any of them importing the manager for it.
"""


class JobError(Exception):
    """A job cannot be started; the message says why."""
