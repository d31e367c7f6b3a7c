"""Write docs/hooks.md from the hookspec docstrings: `python docs/gen_hooks.py [--check]`."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from compileiq import hookspecs

TARGET = Path(__file__).with_name("hooks.md")


def render() -> str:
    lines = [
        "# Hook reference",
        "",
        "Generated from `compileiq.hookspecs` by `docs/gen_hooks.py`; do not edit by hand.",
        "Implement a hook with `@compileiq.hookimpl` on a function of the same name, in a module",
        "registered under the `compileiq` entry-point group or with `compileiq.register_plugin()`.",
        "",
    ]
    for name, func in sorted(vars(hookspecs).items()):
        if not name.startswith("compileiq_") or not callable(func):
            continue
        signature = str(inspect.signature(func)).replace("'", "")
        lines += [f"## `{name}`", "", "```text", f"{name}{signature}", "```", ""]
        lines += [inspect.cleandoc(func.__doc__ or "").replace(".. versionadded::", "Added in"), ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print("docs/hooks.md is out of date: run python docs/gen_hooks.py")
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
