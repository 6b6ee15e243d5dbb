"""Changing any kernel source invalidates every cached kernel (numba only watches a function's own file)."""

from __future__ import annotations

from pathlib import Path

from backtest_matrix.engine._kernel_cache import invalidate_stale_kernel_caches, kernel_source_hash


def make_package(root: Path, name: str) -> Path:
    package = root / name
    (package / "__pycache__").mkdir(parents=True)
    (package / "kernel.py").write_text("x = 1\n")
    (package / "__pycache__" / "kernel.f-1.py311.nbi").write_text("index")
    (package / "__pycache__" / "kernel.f-1.py311.1.nbc").write_text("code")
    return package


def cache_files(*packages: Path) -> list[Path]:
    return sorted(p for package in packages for p in package.glob("__pycache__/*.nb[ic]"))


def test_a_source_change_in_one_package_clears_the_caches_of_all(tmp_path: Path) -> None:
    engine, strategies = make_package(tmp_path, "engine"), make_package(tmp_path, "strategies")
    packages = (engine, strategies)
    assert invalidate_stale_kernel_caches(packages) is True  # no stamp yet: treated as stale
    assert cache_files(*packages) == []
    (engine / "__pycache__" / "kernel.f-1.py311.nbi").write_text("fresh index")
    assert invalidate_stale_kernel_caches(packages) is False  # unchanged sources keep the cache
    assert len(cache_files(*packages)) == 1
    before = kernel_source_hash(packages)
    (strategies / "kernel.py").write_text("x = 2\n")
    assert kernel_source_hash(packages) != before
    assert invalidate_stale_kernel_caches(packages) is True
    assert cache_files(*packages) == []
