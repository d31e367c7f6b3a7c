"""Score validation, at upstream's import path `compileiq.utils.validation`."""

from compileiq.score import (
    BASELINE_CONFIG,
    INVALID_SCORE,
    MultiScore,
    Score,
    SingleScore,
    validate_inf_nan,
    validate_scores,
)

__all__ = [
    "BASELINE_CONFIG",
    "INVALID_SCORE",
    "MultiScore",
    "Score",
    "SingleScore",
    "validate_inf_nan",
    "validate_scores",
]
