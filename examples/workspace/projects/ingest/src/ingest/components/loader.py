"""A project-local component module (importable once the project is installed)."""
