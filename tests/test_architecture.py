"""Imports point upstream only: each stage package may import the ones to its left, never to its right.

The CLI (``tradeloop/cli``) is the composition root and the one place allowed to import every stage.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PIPELINE = (
    "tradeloop",
    "warehouse",
    "backtest_matrix",
    "optimizer",
    "validation",
    "gitops",
    "deployment",
    "reports",
)
COMPOSITION_ROOT = REPO_ROOT / "tradeloop" / "cli"


def imported_top_level_names(source: str) -> set[tuple[str, int]]:
    names: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add((node.module.split(".")[0], node.lineno))
    return names


def downstream_imports(package: str) -> list[str]:
    allowed = set(PIPELINE[: PIPELINE.index(package) + 1])
    forbidden = set(PIPELINE) - allowed
    violations = []
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        if path.is_relative_to(COMPOSITION_ROOT):
            continue
        for name, line in imported_top_level_names(path.read_text()):
            if name in forbidden:
                violations.append(f"{path.relative_to(REPO_ROOT)}:{line} imports downstream package {name!r}")
    return violations


@pytest.mark.parametrize("package", PIPELINE)
def test_package_imports_only_upstream(package: str) -> None:
    assert (REPO_ROOT / package / "__init__.py").is_file(), f"{package}/ is not a package"
    assert downstream_imports(package) == []


def test_the_checker_catches_a_downstream_import(tmp_path: Path) -> None:
    source = "from gitops import load_feature_flags\nimport reports.markdown\nimport numpy\n"
    names = {name for name, _ in imported_top_level_names(source)}
    assert names == {"gitops", "reports", "numpy"}
    allowed = set(PIPELINE[: PIPELINE.index("backtest_matrix") + 1])
    assert names & (set(PIPELINE) - allowed) == {"gitops", "reports"}


def test_architecture_doc_lists_every_package_in_pipeline_order() -> None:
    doc = (REPO_ROOT / "docs" / "architecture.md").read_text()
    positions = [doc.find(f"`{package}/`") for package in PIPELINE]
    assert all(position >= 0 for position in positions), dict(zip(PIPELINE, positions, strict=True))
    assert positions == sorted(positions), "docs/architecture.md must list the packages in import order"
