"""The house plan (ARCHITECTURE.md) holds: each floor imports only the floors below it, nothing
imports riskwatch/, bench/ or tests/, and no modules import each other in a cycle.

Read from the source with `ast` (tests/unit/import_graph.py), lazy imports included, so a
violation is found without importing anything. A failure lists every offending import as
"a.b -> c.d  (a/b.py:LINE)" and every cycle as a chain "a -> b -> a".
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from textwrap import dedent

import pytest

from tests.unit.import_graph import (
    Edge,
    cycles,
    find_modules,
    floor_violations,
    imports_of,
    scan,
)
from tests.unit.paths import REPO

PACKAGES = ("core", "detectors", "policies", "audit", "streams", "riskwatch")
OUTSIDERS = ("bench", "tests")
# Alembic revisions are generated files, run by alembic alone.
SKIP = ("audit/migrations/versions",)

#: Which packages each package may import (itself included). Nothing lists riskwatch/ but
#: riskwatch/ itself, so nothing else may import it.
ALLOWED = {
    "core": {"core"},
    "detectors": {"core", "detectors"},
    "policies": {"core", "policies"},
    "audit": {"core", "audit"},
    "streams": {"core", "detectors", "policies", "audit", "streams"},
    "riskwatch": set(PACKAGES),
}


def _fail_on(title: str, lines: list[str]) -> None:
    if lines:
        pytest.fail(f"{len(lines)} {title}:\n  " + "\n  ".join(lines), pytrace=False)


def _edges(root: Path = REPO) -> list[Edge]:
    return scan(root, PACKAGES, skip=SKIP, outsiders=OUTSIDERS)


def test_each_floor_imports_only_the_floors_below() -> None:
    _fail_on(
        "imports against the floor rules of ARCHITECTURE.md", floor_violations(_edges(), ALLOWED)
    )


def test_no_package_imports_bench_or_tests() -> None:
    _fail_on("imports of bench/ or tests/ from the packages", imports_of(_edges(), OUTSIDERS))


def test_no_import_cycles() -> None:
    _fail_on("import cycles (move the shared piece down a floor)", cycles(_edges()))


def test_every_installed_package_is_under_a_floor_rule() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    installed = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert installed == set(PACKAGES) == set(ALLOWED), "a new package needs its floor in ALLOWED"


def test_no_package_imports_by_name_at_run_time() -> None:
    # importlib.import_module("x") and __import__("x") hide an edge from the scan above
    dynamic = []
    for module, path in find_modules(REPO, PACKAGES, SKIP).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = node.func if isinstance(node, ast.Call) else None
            name = getattr(called, "attr", None) or getattr(called, "id", None)
            if name in ("import_module", "__import__"):
                dynamic.append(f"{module}  ({path.relative_to(REPO)}:{node.lineno})")
    _fail_on("imports by name, invisible to the import rules", dynamic)


def test_the_scan_sees_the_whole_tree() -> None:
    sources = {e.source for e in _edges()}
    assert {"core.findings", "streams.worker", "riskwatch.cli", "audit.api.app"} <= sources
    assert not any(s.startswith("audit.migrations.versions") for s in sources)


# The checker itself, on small trees with known faults, so that the tests above can fail.


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text), encoding="utf-8")
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").touch()
    return root


def test_an_upward_import_is_reported(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "core/ground.py": """
                def late():
                    from detectors.upstairs import thing
                    return thing
            """,
            "detectors/upstairs.py": "from core import ground\nthing = 1\n",
            "audit/sideways.py": "from policies import rules\n",
            "policies/rules.py": "",
            "streams/fine.py": "import audit.sideways\nfrom detectors import upstairs\n",
            "audit/leans_on_cli.py": "from riskwatch.cli import main\n",
            "riskwatch/cli.py": "import streams.fine\nmain = 1\n",
        },
    )
    assert floor_violations(_edges(root), ALLOWED) == [
        "audit.leans_on_cli -> riskwatch.cli  (audit/leans_on_cli.py:1): "
        "audit may import only audit, core",
        "audit.sideways -> policies.rules  (audit/sideways.py:1): "
        "audit may import only audit, core",
        "core.ground -> detectors.upstairs  (core/ground.py:3): core may import only core",
    ]


def test_imports_of_bench_and_tests_are_reported(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "detectors/cheat.py": "from tests.unit.paths import REPO\n",
            "streams/bench_hook.py": "def f():\n    import bench.pipeline\n",
        },
    )
    assert imports_of(_edges(root), OUTSIDERS) == [
        "detectors.cheat -> tests.unit.paths  (detectors/cheat.py:1)",
        "streams.bench_hook -> bench.pipeline  (streams/bench_hook.py:2)",
    ]


def test_a_cycle_through_a_lazy_import_is_reported_as_a_chain(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "audit/chain.py": "from audit.hooks import send\n",
            "audit/hooks.py": "def send():\n    from .verify import check\n",
            "audit/verify.py": "from audit import chain\n",
            "audit/alone.py": "from audit import chain\n",
            "policies/a.py": "from policies.b import x\n",
            "policies/b.py": "def x():\n    from . import a\n",
        },
    )
    assert cycles(_edges(root)) == [
        "audit.chain -> audit.hooks -> audit.verify -> audit.chain"
        "  (audit/chain.py:1, audit/hooks.py:2, audit/verify.py:1)",
        "policies.a -> policies.b -> policies.a  (policies/a.py:1, policies/b.py:2)",
    ]


def test_an_init_importing_its_submodules_is_no_cycle(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "audit/__init__.py": "from . import store\nfrom audit.api import app\n",
            "audit/store.py": "from audit import models\nimport audit.api.schemas\n",
            "audit/models.py": "",
            "audit/api/__init__.py": "from .app import make_app\n",
            "audit/api/app.py": "from audit.api import schemas\nfrom audit import store\n",
            "audit/api/schemas.py": "",
        },
    )
    edges = _edges(root)
    assert {(e.source, e.target) for e in edges} == {
        ("audit", "audit.store"),
        ("audit", "audit.api.app"),
        ("audit.store", "audit.models"),
        ("audit.store", "audit.api.schemas"),
        ("audit.api", "audit.api.app"),
        ("audit.api.app", "audit.api.schemas"),
        ("audit.api.app", "audit.store"),
    }
    assert cycles(edges) == []


def test_an_init_that_really_is_on_a_cycle_is_reported(tmp_path: Path) -> None:
    # `from audit import helper` where helper is a name the __init__ defines: the module needs
    # the package's __init__, which imports the module back.
    root = _tree(
        tmp_path,
        {
            "audit/__init__.py": "from .store import Store\nhelper = 1\n",
            "audit/store.py": "from audit import helper\nStore = 1\n",
        },
    )
    assert cycles(_edges(root)) == [
        "audit -> audit.store -> audit  (audit/__init__.py:1, audit/store.py:1)"
    ]
