"""The product imports only what ``pip install .`` (or a product extra) installs.

The test environment holds the ``dev`` extra as well, so an import of a test-only package (or of a
package that only a dev tool pulls in, as click was once typer stopped depending on it) passes every
other test and breaks the README's first command on a fresh machine. This reads every import of the
product packages and maps it to the distribution that provides it.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT_PACKAGES = ("tradeloop", "warehouse", "backtest_matrix", "optimizer", "validation", "gitops",
                    "deployment", "reports")  # fmt: skip
# Extras a user installs on purpose for a feature; the code that imports them says which extra is missing.
PRODUCT_EXTRAS = ("postgres", "skopt")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    extras = {_name(r) for extra in PRODUCT_EXTRAS for r in project["optional-dependencies"][extra]}
    return runtime, extras


def _imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def test_every_product_import_is_a_declared_runtime_dependency() -> None:
    runtime, extras = _declared()
    providers = packages_distributions()
    undeclared = []
    for package in PRODUCT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for module in sorted(_imports(path)):
                if module in sys.stdlib_module_names or module in PRODUCT_PACKAGES or module == "__future__":
                    continue
                dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
                if not dists & (runtime | extras):
                    undeclared.append(f"{path.relative_to(ROOT)}: import {module} (from {sorted(dists)})")
    assert not undeclared, "imports not in [project] dependencies:\n" + "\n".join(undeclared)


def test_the_check_sees_an_undeclared_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import click\nfrom vectorbt import Portfolio\nimport numpy\nfrom . import x\n")
    assert _imports(sample) == {"click", "vectorbt", "numpy"}
    runtime, _ = _declared()
    assert "numpy" in runtime and "vectorbt" not in runtime
