"""Engines propose configurations (ask) and learn from their scores (tell)."""

from compileiq.engines.base import PLUGIN_API, Engine, EngineConfig, Evaluation

__all__ = ["PLUGIN_API", "Engine", "EngineConfig", "Evaluation"]
