"""Every Python example in docs/ runs, and the hook reference matches the hookspecs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[1] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
SKIP = "# not run:"


def examples() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for index, code in enumerate(BLOCK.findall(page.read_text())):
            found.append((f"{page.name}#{index}", code))
    return found


@pytest.mark.parametrize(("where", "code"), examples(), ids=[w for w, _ in examples()])
def test_docs_example_runs(where: str, code: str, tmp_path: Path) -> None:
    if code.lstrip().startswith(SKIP):
        pytest.skip(code.lstrip().splitlines()[0][len(SKIP):].strip() or "marked not run")
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {**os.environ, "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=120)
    assert out.returncode == 0, f"{where} failed:\n{out.stderr}"


def test_hook_reference_is_current() -> None:
    out = subprocess.run([sys.executable, str(DOCS / "gen_hooks.py"), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
