"""The dg workspace as dg reads it: its vocabulary, the config of a folder, finding the
projects, the scan (ids, located errors) and mode edits to a project's config."""
