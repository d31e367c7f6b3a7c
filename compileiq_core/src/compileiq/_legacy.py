"""Upstream's legacy Lisp-like `.config` format: `(key . value)` per line, `;` comments."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path
from typing import Any

from compileiq.errors import ConfigurationError

_LINE = re.compile(r"^(?!;)\(\s*(.+) \. (.+)\s*\)")


def _parse_value(key: str, text: str) -> Any:
    text = text.strip()
    if text in ("#t", "#f"):
        return text == "#t"
    if text.startswith("((") and text.endswith("))"):
        text = text[1:-1]
    if text.startswith("(") and text.endswith(")"):
        text = "[" + ", ".join(text[1:-1].split()) + "]"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise ConfigurationError(
            f"Invalid value for legacy configuration field {key!r}: {text!r}. "
            "Write numbers, \"strings\", #t/#f or (lists)."
        ) from exc


def read_legacy_config(path: str | Path, valid: tuple[str, ...]) -> dict[str, Any]:
    """Parse a `.config` file into SearchConfiguration keyword arguments."""
    path = Path(path)
    if path.suffix != ".config" or not path.is_file():
        raise ConfigurationError(
            f"{str(path)!r} is missing the extension .config or does not exist; pass a "
            "SearchConfiguration, a dict, or the path of an existing legacy .config file."
        )
    fields: dict[str, Any] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        key, raw = match.group(1).strip(), match.group(2)
        value = _parse_value(key, raw)
        if key == "seek_minimum":
            fields["problem_type"] = "min" if value else "max"
        elif key == "qualitative":
            fields["normalize"] = not value
        elif key in valid:
            fields[key] = value
        else:
            warnings.warn(f"Configuration {key} is going to be ignored", UserWarning, stacklevel=4)
    return fields


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "#t" if value else "#f"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        inner = " ".join(_format(v) for v in value)
        return f"(({inner}))" if all(isinstance(v, (int, float)) for v in value) else f"({inner})"
    return repr(value)


def write_legacy_config(fields: dict[str, Any]) -> str:
    """Render SearchConfiguration fields in the legacy format."""
    from compileiq import __version__

    lines = [f";THIS FILE WAS GENERATED USING COMPILEIQ {__version__}"]
    for key, value in fields.items():
        if value is None:
            continue
        if key == "problem_type":
            lines.append(f"(seek_minimum . {_format(value == 'min')})")
        elif key == "normalize":
            lines.append(f"(qualitative . {_format(not value)})")
        else:
            lines.append(f"({key} . {_format(value)})")
    return "\n".join(lines) + "\n"
