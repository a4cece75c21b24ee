"""A project's Python environment: which interpreter (the resolver), the one place that
starts processes, what uv says of it (status, plan, lock) and what commands print."""
