"""Changes to projects: the job manager (queue, join, cancel, recover, record), what a sync
is, the job log, the history, and the one cross-process lock per project."""
