"""Tracker configurations (`Search(tracker_config=...)`): plain objects, cheap to import.

Re-exported from `compileiq.types` and `compileiq.tracker`. Every config accepts extra fields
(kept in `extra` and as attributes), as upstream's pydantic models with `extra="allow"` do.
"""

from __future__ import annotations

import copy
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

__all__ = [
    "DefaultTrackerConfig",
    "DisabledTrackerConfig",
    "LoguruTrackerConfig",
    "MLflowTrackerConfig",
    "TrackerConfig",
    "TrackerTypes",
]


class TrackerTypes(StrEnum):
    """The trackers by name; `DEFAULT` is `DISABLED`."""

    LOGURU = "loguru"
    MLFLOW = "mlflow"
    DISABLED = "disabled"
    DEFAULT = "disabled"


class TrackerConfig:
    """Base of tracker configurations: `type` (a tracker name), `enqueue`, and any extra field."""

    defaults: ClassVar[dict[str, Any]] = {"type": TrackerTypes.DISABLED.value, "enqueue": True}
    type: str
    enqueue: bool

    if TYPE_CHECKING:  # every other field is an attribute too (set in __init__)

        def __getattr__(self, name: str) -> Any: ...

    def __init__(self, **fields: Any) -> None:
        values = {**copy.deepcopy(type(self).defaults), **fields}
        kind = values.get("type")
        values["type"] = kind.value if isinstance(kind, TrackerTypes) else str(kind).strip().lower()
        self.extra = {k: v for k, v in values.items() if k not in type(self).defaults}
        for key, value in values.items():
            setattr(self, key, value)

    def model_dump(self) -> dict[str, Any]:
        """Every field (defaults, given and extra) as a dict."""
        return {k: getattr(self, k) for k in [*type(self).defaults, *self.extra]}

    def model_copy(self) -> TrackerConfig:
        """A deep copy."""
        return type(self)(**copy.deepcopy(self.model_dump()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrackerConfig) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.model_dump().items())
        return f"{type(self).__name__}({fields})"


class DisabledTrackerConfig(TrackerConfig):
    """No tracking (the default)."""


class DefaultTrackerConfig(DisabledTrackerConfig):
    """The default tracker configuration: disabled."""


class LoguruTrackerConfig(TrackerConfig):
    """Log the search with Loguru (`pip install compileiq-core[loguru]`).

    Fields: `sink` (a path, stream or list of them; None: stdout), `level`, `format`, `enqueue`;
    any other field goes to `logger.add()`.
    """

    sink: str | TextIO | list[Any] | None
    defaults: ClassVar[dict[str, Any]] = {
        "type": TrackerTypes.LOGURU.value,
        "sink": None,
        "enqueue": True,
        "level": "INFO",
        "format": "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {extra[task_id]} | {message}",
    }

    def __init__(self, **fields: Any) -> None:
        super().__init__(**fields)
        sink = self.sink
        self.sink = [] if sink is None else list(sink) if isinstance(sink, (list, tuple)) else [sink]


class MLflowTrackerConfig(TrackerConfig):
    """Log the search to MLflow (`pip install compileiq-mlflow`): one parent run, a nested run per evaluation.

    Fields: `experiment_name` (None: "<user>-ciq-search"), `run_name`, `tracking_uri`,
    `description`, `score_names` (metric names instead of score_1..N), `log_config`.
    """

    defaults: ClassVar[dict[str, Any]] = {
        "type": TrackerTypes.MLFLOW.value,
        "enqueue": True,
        "experiment_name": None,
        "run_name": None,
        "tracking_uri": None,
        "description": None,
        "score_names": [],
        "log_config": True,
    }


CONFIG_CLASSES: dict[str, type[TrackerConfig]] = {
    TrackerTypes.DISABLED.value: DisabledTrackerConfig,
    TrackerTypes.LOGURU.value: LoguruTrackerConfig,
    TrackerTypes.MLFLOW.value: MLflowTrackerConfig,
}
