"""Development sessions: `nox -s tests` runs every test of every package."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).parent
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
STRICT = {"COMPILEIQ_STRICT_PLUGINS": "1", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def install_editable(session: nox.Session, *plugins: str, extras: str = "testing") -> None:
    """Core (with `extras`) and the given plugins, editable, then a check that they load."""
    args = ["-e", f"compileiq_core[{extras}]" if extras else "compileiq_core"]
    for plugin in plugins:
        args += ["-e", f"plugins/{plugin}"]
    session.install(*args)
    session.run("python", "-c", "import compileiq, sys; assert 'ray' not in sys.modules")
    session.run("compileiq", "workers", env=STRICT)


@nox.session
def tests(session: nox.Session) -> None:
    """Every package installed editable; every test of core and plugins."""
    install_editable(session, *PLUGINS)
    session.install("-e", ".", "--no-deps")
    session.run("pytest", *(session.posargs or ["tests", *(f"plugins/{p}/tests" for p in PLUGINS)]), env=STRICT)


@nox.session
@nox.parametrize("plugin", PLUGINS, ids=PLUGINS)
def plugin(session: nox.Session, plugin: str) -> None:
    """One plugin alone against core HEAD."""
    install_editable(session, plugin)
    session.run("pytest", f"plugins/{plugin}/tests", *session.posargs, env=STRICT)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff over the whole repository."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def demo(session: nox.Session) -> None:
    """Install everything and run the demo tuning job."""
    install_editable(session, *PLUGINS, extras="")
    session.run("python", "examples/quickstart.py", *session.posargs)


@nox.session
def bench_import(session: nox.Session) -> None:
    """Import time and memory of compileiq against bare Python."""
    install_editable(session, *PLUGINS, extras="")
    session.run("python", "benchmarks/import_cost/run.py", *session.posargs)


@nox.session
def bench_ray(session: nox.Session) -> None:
    """RayWorker against raw Ray tasks on a local loopback Ray; writes docs/benchmarks-ray.md."""
    install_editable(session, "compileiq-ray", extras="")
    session.run("python", "benchmarks/dispatch/ray_bench.py", *session.posargs,
                env={**STRICT, "RAY_USAGE_STATS_ENABLED": "0"})
