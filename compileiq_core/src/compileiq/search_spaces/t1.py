"""Read a T1 kernel specification (Kernel Tuner, KTT, the BAT suite) into a space and constraints.

    from compileiq.search_spaces import from_t1

    space, constraints = from_t1("gemm.space.json")
    Search(objective_function=run_gemm, search_space=space, constraints=constraints, ...)

Each of `ConfigurationSpace.TuningParameters` becomes a choice over its `Values` (kept in
their order; the engine treats numeric choices as ordered); one with a single value becomes a
literal. Each of `ConfigurationSpace.Conditions` becomes an expression constraint, validated
like any other (`compileiq.search_spaces.constraints`).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compileiq.errors import SearchSpaceError
from compileiq.search_spaces import base as ss

__all__ = ["T1Space", "from_t1"]

_TYPES = {"int": int, "float": float, "string": str, "str": str, "bool": bool}


@dataclass(frozen=True)
class T1Space:
    """A T1 specification's search space and constraints; unpacks as `(search_space, constraints)`."""

    search_space: dict[str, Any]
    constraints: list[str]
    defaults: dict[str, Any] = field(default_factory=dict)
    """Each parameter's `Default`, where the specification gives one."""
    name: str = ""

    def __iter__(self) -> Iterator[Any]:
        return iter((self.search_space, self.constraints))


def _values(where: str, raw: Any, kind: str | None) -> list[Any]:
    values = raw
    if isinstance(raw, str):
        try:
            values = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            raise SearchSpaceError(
                f"{where}: Values {raw!r} is not a literal list; T1 values must be written as a list such as "
                "'[16, 32, 64]'."
            ) from None
    if isinstance(values, tuple):
        values = list(values)
    if not isinstance(values, list) or not values:
        raise SearchSpaceError(f"{where}: Values {raw!r} is not a non-empty list of values.")
    cast = _TYPES.get(str(kind).lower()) if kind is not None else None
    if cast is not None:
        try:
            values = [cast(v) for v in values]
        except (TypeError, ValueError):
            raise SearchSpaceError(f"{where}: Values {values!r} are not all of Type {kind!r}.") from None
    return values


def from_t1(spec: str | Path | dict[str, Any]) -> T1Space:
    """Read a T1 specification (a path to its JSON file, or the loaded dict).

    Raises SearchSpaceError naming the file and the entry when the specification is malformed;
    the conditions are validated when the space is used (`Search(constraints=...)`).
    """
    where = "T1 specification"
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        where = f"T1 specification {str(path)!r}"
        if not path.is_file():
            raise SearchSpaceError(f"{where} does not exist.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SearchSpaceError(f"{where} is not JSON ({exc}).") from None
    elif isinstance(spec, dict):
        data = spec
    else:
        raise SearchSpaceError(f"from_t1({spec!r}): pass a path to a T1 JSON file or its loaded dict.")
    space_data = data.get("ConfigurationSpace") if isinstance(data, dict) else None
    if not isinstance(space_data, dict) or not isinstance(space_data.get("TuningParameters"), list):
        raise SearchSpaceError(
            f"{where} has no ConfigurationSpace.TuningParameters list; is it a T1 kernel specification?"
        )
    space: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for position, param in enumerate(space_data["TuningParameters"]):
        if not isinstance(param, dict) or not isinstance(param.get("Name"), str) or "Values" not in param:
            raise SearchSpaceError(f"{where}: TuningParameters[{position}] needs a Name and Values; got {param!r}.")
        name = param["Name"]
        if name in space:
            raise SearchSpaceError(f"{where}: the parameter {name!r} is defined twice.")
        values = _values(f"{where}, parameter {name!r}", param["Values"], param.get("Type"))
        space[name] = ss.literal(values[0]) if len(values) == 1 else ss.choice(values)
        if "Default" in param:
            defaults[name] = param["Default"]
    constraints: list[str] = []
    for position, condition in enumerate(space_data.get("Conditions") or []):
        expression = condition.get("Expression") if isinstance(condition, dict) else condition
        if not isinstance(expression, str) or not expression.strip():
            raise SearchSpaceError(f"{where}: Conditions[{position}] has no Expression; got {condition!r}.")
        constraints.append(expression.strip())
    general = data.get("General") if isinstance(data.get("General"), dict) else {}
    kernel = data.get("KernelSpecification") if isinstance(data.get("KernelSpecification"), dict) else {}
    name = str(kernel.get("KernelName") or general.get("BenchmarkName") or "")
    return T1Space(space, constraints, defaults, name)
