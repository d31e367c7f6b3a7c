"""Utilities kept at upstream's import paths."""
