"""Widgets for the example workspace. With Dagster installed its component types would list here."""
