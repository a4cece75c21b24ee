"""envboard: a dashboard for the Python environments of a dg workspace."""

__version__ = "0.1.0"
