"""The hook implementations of compileiq-mlflow (its `compileiq` entry point). Imports nothing heavy."""

from __future__ import annotations

from compileiq import hookimpl


@hookimpl
def compileiq_tracker_types() -> dict[str, str]:
    """The `mlflow` tracker type (loaded, with mlflow, only when a search asks for it)."""
    return {"mlflow": "compileiq_mlflow:MLflowTracker"}
