"""The hook implementations of compileiq-mlflow (its `compileiq` entry point). Imports nothing heavy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compileiq import hookimpl

if TYPE_CHECKING:
    from compileiq.registry import Registrar


@hookimpl
def compileiq_register_trackers(registry: Registrar) -> None:
    """The `mlflow` tracker type (loaded, with mlflow, only when a search asks for it)."""
    registry.register("mlflow", "compileiq_mlflow:MLflowTracker")
