"""What every page shows, kept current: a project's state, the board that computes it from
cache or background checks, the monitor that publishes immutable snapshots, the folder
watch that tells it where to look."""
