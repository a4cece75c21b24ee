"""The example's Dagster project: one local component type, listed by envboard and by dg."""
