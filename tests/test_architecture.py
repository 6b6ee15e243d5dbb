"""Imports point upstream only: each stage package may import the ones to its left, never to its right.

The composition root is the one place allowed to import every stage: the CLI (``tradeloop/cli``) and the
loop as library calls (``tradeloop/loop``) that the CLI renders. No stage imports the composition root.
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
COMPOSITION_ROOTS = (REPO_ROOT / "tradeloop" / "cli", REPO_ROOT / "tradeloop" / "loop")


def imported_top_level_names(source: str) -> set[tuple[str, int]]:
    names: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add((node.module.split(".")[0], node.lineno))
    return names


def imported_modules(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def downstream_imports(package: str, root: Path = REPO_ROOT) -> list[str]:
    allowed = set(PIPELINE[: PIPELINE.index(package) + 1])
    forbidden = set(PIPELINE) - allowed
    violations = []
    for path in sorted((root / package).rglob("*.py")):
        if any(
            path.is_relative_to(root / composition.relative_to(REPO_ROOT))
            for composition in COMPOSITION_ROOTS
        ):
            continue
        for name, line in imported_top_level_names(path.read_text()):
            if name in forbidden:
                violations.append(f"{path.relative_to(root)}:{line} imports downstream package {name!r}")
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


def test_only_the_composition_root_is_exempt(tmp_path: Path) -> None:
    """A downstream import in ``tradeloop/`` fails everywhere except ``tradeloop/cli`` and ``tradeloop/loop``:
    the shared documents, settings and helpers stay importable by every stage."""
    for where in ("documents/_x.py", "_x.py", "cli_helpers/_x.py", "loop_extra/_x.py"):
        scratch = tmp_path / where.replace("/", "_")
        (scratch / "tradeloop" / Path(where).parent).mkdir(parents=True)
        (scratch / "tradeloop" / where).write_text("from gitops import load_constants\n")
        assert downstream_imports("tradeloop", scratch) == [
            f"tradeloop/{where}:1 imports downstream package 'gitops'"
        ]
    for root in ("cli", "loop"):
        scratch = tmp_path / root
        (scratch / "tradeloop" / root).mkdir(parents=True)
        (scratch / "tradeloop" / root / "_x.py").write_text("from gitops import load_constants\n")
        assert downstream_imports("tradeloop", scratch) == []


def test_no_stage_imports_the_composition_root() -> None:
    """The stages are called by the composition root, never the other way round (``python -m tradeloop``
    runs the CLI)."""
    roots = ("tradeloop.cli", "tradeloop.loop")
    entry_point = REPO_ROOT / "tradeloop" / "__main__.py"
    found = [
        f"{path.relative_to(REPO_ROOT)} imports {name}"
        for package in PIPELINE
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        if path != entry_point and not any(path.is_relative_to(root) for root in COMPOSITION_ROOTS)
        for name in imported_modules(path.read_text())
        if name.startswith(roots)
    ]
    assert found == []


def test_architecture_doc_lists_every_package_in_pipeline_order() -> None:
    doc = (REPO_ROOT / "docs" / "architecture.md").read_text()
    positions = [doc.find(f"`{package}/`") for package in PIPELINE]
    assert all(position >= 0 for position in positions), dict(zip(PIPELINE, positions, strict=True))
    assert positions == sorted(positions), "docs/architecture.md must list the packages in import order"
