"""envboard's core: workspace scan, config, resolver, launcher, plugins, cache, jobs.

Nothing here knows about HTTP or Flask.
"""
