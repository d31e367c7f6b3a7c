"""Development sessions: `nox -s tests` runs every test of every package."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).parent
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
EXAMPLES = ["examples/threads_worker"]
"""Example third-party plugins: installed and tested like the real ones, on public core APIs only."""
STRICT = {"COMPILEIQ_STRICT_PLUGINS": "1", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def install_editable(session: nox.Session, *plugins: str, extras: str = "testing", pins: tuple[str, ...] = ()) -> None:
    """Core (with `extras`) and the given plugins, editable, then a check that they load.

    `pins` are requirements resolved together with them (e.g. `("pandas==2.2.*",)`).
    """
    args = [*pins, "-e", f"compileiq_core[{extras}]" if extras else "compileiq_core"]
    for plugin in plugins:
        args += ["-e", f"plugins/{plugin}"]
    session.install(*args)
    session.run("python", "-c", "import compileiq, sys; assert 'ray' not in sys.modules")
    session.run("compileiq", "workers", env=STRICT)


def install_browser(session: nox.Session) -> None:
    """Selenium, and Chromium with its driver from the OS packages (apt, as root) for the dashboard tests."""
    session.install("selenium")
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-qq", external=True, env=env)
        session.run("apt-get", "install", "-y", "-qq", "chromium", "chromium-driver", external=True, env=env)
    else:
        session.warn("chromium/chromedriver missing and apt unavailable: the dashboard browser tests will be skipped.")
PANDAS = {"2.2": "pandas==2.2.*", "3": "pandas>=3,<4"}
"""The pandas lines the tests run on: the oldest supported minor and the newest major."""


@nox.session
@nox.parametrize("pandas", list(PANDAS))
def tests(session: nox.Session, pandas: str) -> None:
    """Every package installed editable; every test of core and plugins, on pandas 2.2 and on pandas 3.

    `nox -s tests` runs both; `nox -s "tests(pandas='3')"` runs one.
    """
    install_editable(session, *PLUGINS, pins=(PANDAS[pandas],))
    session.install("-e", ".", "--no-deps")
    for example in EXAMPLES:
        session.install("-e", example, "--no-deps")
    session.install("uv")  # test_packaging builds wheels and fresh environments with it
    install_browser(session)
    paths = ["tests", *(f"plugins/{p}/tests" for p in PLUGINS), *(f"{e}/tests" for e in EXAMPLES)]
    session.run("pytest", *(session.posargs or paths), env=STRICT)


@nox.session
def soak(session: nox.Session) -> None:
    """The long chaos soak (10 minutes; `nox -s soak -- --minutes 30` for longer): every fault in every
    process worker while the driver is SIGKILLed and resumed; prints its figures (see docs/reliability.md)."""
    install_editable(session, *PLUGINS)
    args = session.posargs or ["--minutes", "10"]
    session.run("python", "tests/chaos_soak.py", *args, env=STRICT)


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
def typecheck(session: nox.Session) -> None:
    """mypy: strict on the core's public modules (the configuration is in pyproject.toml)."""
    install_editable(session)  # with [testing]: the conformance kits import pytest
    session.install("mypy>=1.10", "pandas-stubs")
    session.run("mypy", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Install everything and run the demo: tune GCC flags for a real C kernel (about a minute)."""
    install_editable(session, *PLUGINS, extras="report")
    session.run("python", "examples/gcc_flags/tune.py", *session.posargs)


@nox.session
def bench_import(session: nox.Session) -> None:
    """Import time and memory of compileiq against bare Python."""
    install_editable(session, *PLUGINS, extras="")
    session.run("python", "benchmarks/import_cost/run.py", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site with warnings as errors (hook reference regenerated first)."""
    install_editable(session, *PLUGINS, extras="")
    session.install("mkdocs>=1.6")
    session.run("python", "docs/gen_hooks.py")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"))


DISTRIBUTIONS = ["compileiq_core", *(f"plugins/{p}" for p in PLUGINS), "."]


@nox.session
def build(session: nox.Session) -> None:
    """Build every distribution (sdist + wheel) into dist/ and check their metadata."""
    session.install("build", "twine")
    out = ROOT / "dist"
    for path in out.glob("*"):
        path.unlink()
    for source in DISTRIBUTIONS:
        session.run("python", "-m", "build", "--outdir", str(out), source)
    session.run("twine", "check", "--strict", *map(str, sorted(out.glob("*"))))


@nox.session
def bench_journal(session: nox.Session) -> None:
    """Journal cost per evaluation vs none, 100k-evaluation run memory, SearchResult build time."""
    install_editable(session, *PLUGINS, extras="")
    session.run("python", "benchmarks/journal/run.py", *session.posargs)


@nox.session
def bench_output(session: nox.Session) -> None:
    """Output-flood overhead of the process workers: candidates printing MBs against quiet ones."""
    install_editable(session, *PLUGINS, extras="")
    session.run("python", "benchmarks/output_flood/run.py", *session.posargs)


@nox.session
def bench_dispatch(session: nox.Session) -> None:
    """Dispatch overhead of each local worker beside its raw executor; writes docs/benchmarks-dispatch.md."""
    install_editable(session, *PLUGINS, extras="")
    session.run("python", "benchmarks/dispatch/run.py", *session.posargs)


@nox.session
def bench_per_score(session: nox.Session) -> None:
    """The driver's time per Score at 1k, 10k and 50k Scores (dump_results and progress bar on and
    off): flat means constant work per Score; writes docs/benchmarks-per-score.md."""
    install_editable(session, *PLUGINS, extras="")
    session.run("python", "benchmarks/dispatch/per_score.py", *session.posargs)


@nox.session
def bench_scheduling(session: nox.Session) -> None:
    """Generational against asynchronous scheduling beside a raw as-completed loop; writes
    docs/benchmarks-scheduling.md."""
    install_editable(session, *PLUGINS, extras="")
    session.run("python", "benchmarks/dispatch/scheduling.py", *session.posargs)


@nox.session
def bench_quality(session: nox.Session) -> None:
    """Search quality of the genetic engine against upstream CompileIQ 1.1, Optuna and random.

    Ours, random and Optuna share this session's venv; upstream `compileiq==1.1.0` uses the
    same import name, so it gets a venv of its own next to it. Writes docs/benchmarks.md,
    docs/img/quality_*.png and the committed traces benchmarks/quality/traces.jsonl.gz (about
    15-20 minutes on 2 idle cores). Extra arguments go to run.py, e.g.
    `nox -s bench_quality -- --report-only` (rebuilds the report from the committed traces).
    """
    install_editable(session, extras="")
    session.install("optuna", "matplotlib")
    upstream = Path(session.virtualenv.location).parent / "bench_quality_upstream"
    python = upstream / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    args = []
    if "--report-only" not in session.posargs:
        if not python.exists():
            session.run(sys.executable, "-m", "venv", str(upstream), external=True)
        try:
            session.run(str(python), "-m", "pip", "install", "-q", "compileiq==1.1.0", external=True)
            args += ["--upstream-python", str(python)]
        except nox.command.CommandFailed:
            session.warn("compileiq==1.1.0 could not be installed; upstream is left out of the report.")
    session.run("python", "benchmarks/quality/run.py", *args, *session.posargs,
                env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})


@nox.session
def bench_ray(session: nox.Session) -> None:
    """RayWorker against raw Ray tasks on a local loopback Ray; writes docs/benchmarks-ray.md."""
    install_editable(session, "compileiq-ray", extras="")
    session.run("python", "benchmarks/dispatch/ray_bench.py", *session.posargs,
                env={**STRICT, "RAY_USAGE_STATS_ENABLED": "0"})


@nox.session
def bench_kernels(session: nox.Session) -> None:
    """Replay measured GPU kernel spaces: our engine beside Kernel Tuner, Optuna and random.

    Kernel Tuner and Optuna are installed in this session only. The spaces are read from
    `../shared/data/kernels` (or `--data PATH`); writes docs/benchmarks-kernels.md and
    docs/img/kernels_*.png. Extra arguments go to run.py, e.g. `-- --seeds 0-4 --only ours`.
    """
    install_editable(session, extras="")
    session.install("kernel_tuner==1.5.0", "scikit-learn", "optuna", "matplotlib", "scipy")
    session.run("python", "benchmarks/kernels/run.py", *session.posargs,
                env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
