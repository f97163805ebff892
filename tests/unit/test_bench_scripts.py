"""Every benchmark script starts as its docstring says (`python bench/X.py`).

Run as a script, a benchmark has `bench/` first on its import path, so a file there named like one
of our packages (a `bench/policies.py` once hid `policies`) breaks every other benchmark's imports;
`--help` imports everything and parses the arguments without running the benchmark.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(
    p for p in (REPO / "bench").glob("*.py") if "__main__" in p.read_text(encoding="utf-8")
)
PACKAGES = {p.name for p in REPO.iterdir() if (p / "__init__.py").is_file()}


def test_the_benchmarks_are_found() -> None:
    assert {p.name for p in SCRIPTS} >= {
        "pipeline.py",
        "policy_engine.py",
        "drift.py",
        "pii.py",
        "anomaly_nab.py",
    }


def test_no_benchmark_module_is_named_like_a_package() -> None:
    clashes = {p.stem for p in (REPO / "bench").glob("*.py")} & PACKAGES
    assert not clashes, f"bench/ modules hide packages of the same name: {sorted(clashes)}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_script_starts(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script), "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
