"""The worker image is built from the Dockerfile with `pip install .`, which finds only the
packages copied in: every package pyproject.toml installs must have its COPY line (Docker does not
run here, so the file is read)."""

from __future__ import annotations

import re
import tomllib

from tests.unit.paths import REPO


def _installed_packages() -> set[str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return {p.rstrip("*") for p in patterns}


def test_the_image_copies_every_installed_package() -> None:
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (REPO / "Dockerfile").read_text(), re.M))
    packages = _installed_packages()
    assert "core" in packages
    assert packages <= copied, f"Dockerfile lacks COPY for {sorted(packages - copied)}"
    assert all((REPO / name / "__init__.py").is_file() for name in packages)
