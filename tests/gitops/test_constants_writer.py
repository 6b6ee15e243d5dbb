"""Writing config/constants.py: whole-file rendering, byte-stable round trips, importable and ruff-clean."""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from gitops import RegimeLoadouts, load_constants, parse_constants, render_constants, save_constants
from tests.gitops.conftest import REPO_ROOT, SHIPPED_CONSTANTS
from tradeloop import Provenance, orphaned_temp_files
from tradeloop.errors import StateFileError

NEW_PROVENANCE = Provenance(
    run_id="20300101T000000Z-0badc0de", git_sha="f" * 40, written_at="2030-01-01T00:00:00+00:00"
)
LOADOUTS: RegimeLoadouts = {
    "ema_cross": {
        "SP500": {
            "bull": {"ema_fast": 9, "ema_slow": 21, "stop_loss_pct": 1.5, "exit_tp0_pct": 6.0},
            "high_vol": {"trade_fraction": 0.05},
        },
        "NASDAQ": {"sideways": {"timeframe": "1d", "ema_fast": 14}},
    }
}


def import_module_from(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"rendered_constants_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ruff() -> Path:
    executable = Path(sys.executable).with_name("ruff")
    if not executable.exists():
        found = shutil.which("ruff")
        if found is None:
            pytest.skip("ruff is not installed")
        executable = Path(found)
    return executable


def test_rendering_the_shipped_object_gives_the_shipped_bytes() -> None:
    constants = load_constants(SHIPPED_CONSTANTS)
    assert render_constants(constants).encode() == SHIPPED_CONSTANTS.read_bytes()


def test_a_rewrite_changes_only_the_provenance(constants_file: Path) -> None:
    before = constants_file.read_text()
    original = load_constants(constants_file)
    written = save_constants(constants_file, original, NEW_PROVENANCE)
    after = constants_file.read_text()
    changed = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed, "the provenance must change"
    old = original.provenance
    for line in changed:
        assert any(
            value in line
            for value in (
                old.run_id,
                old.git_sha,
                old.written_at,
                NEW_PROVENANCE.run_id,
                NEW_PROVENANCE.git_sha,
                NEW_PROVENANCE.written_at,
            )
        ), line
    reread = load_constants(constants_file)
    assert reread == written == dataclasses.replace(original, provenance=NEW_PROVENANCE)
    assert reread.config_hash == original.config_hash


def test_read_write_read_round_trip_with_loadouts(constants_file: Path) -> None:
    constants = dataclasses.replace(load_constants(constants_file), regime_loadouts=LOADOUTS, max_pbo=0.25)
    save_constants(constants_file, constants, NEW_PROVENANCE)
    first = load_constants(constants_file)
    assert first == constants.with_provenance(NEW_PROVENANCE)
    text = constants_file.read_text()
    save_constants(constants_file, first, NEW_PROVENANCE)
    assert load_constants(constants_file) == first
    assert constants_file.read_text() == text


def test_rendering_is_independent_of_dict_order() -> None:
    constants = dataclasses.replace(parse_constants(SHIPPED_CONSTANTS.read_text()), regime_loadouts=LOADOUTS)
    reordered = {
        strategy: {symbol: dict(list(params.items())[::-1]) for symbol, params in list(symbols.items())[::-1]}
        for strategy, symbols in list(constants.live_params.items())[::-1]
    }
    assert render_constants(dataclasses.replace(constants, live_params=reordered)) == render_constants(
        constants
    )
    lines = render_constants(constants).splitlines()
    sp500 = lines.index('        "SP500": {', lines.index('    "ema_cross": {'))
    assert lines[sp500 + 1].strip() == '"timeframe": "1d",'


def test_the_rendered_file_imports_as_a_module_with_the_same_values(tmp_path: Path) -> None:
    constants = dataclasses.replace(load_constants(SHIPPED_CONSTANTS), regime_loadouts=LOADOUTS)
    path = tmp_path / "config" / "constants.py"
    save_constants(path, constants, NEW_PROVENANCE)
    module = import_module_from(path)
    expected = constants.with_provenance(NEW_PROVENANCE).constants()
    for name, value in expected.items():
        assert getattr(module, name) == value, name
    assert module.__doc__ and "never runs it" in module.__doc__


def test_the_rendered_file_is_ruff_clean(tmp_path: Path) -> None:
    constants = dataclasses.replace(load_constants(SHIPPED_CONSTANTS), regime_loadouts=LOADOUTS)
    path = tmp_path / "constants.py"
    path.write_text(render_constants(constants.with_provenance(NEW_PROVENANCE)))
    config = str(REPO_ROOT / "pyproject.toml")
    for command in (["format", "--check", "--diff"], ["check"]):
        result = subprocess.run(
            [str(ruff()), *command, "--config", config, str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_an_invalid_object_is_never_written(constants_file: Path) -> None:
    before = constants_file.read_bytes()
    constants = load_constants(constants_file)
    for bad in (
        dataclasses.replace(constants, optimizer_max_delta=1.5),
        dataclasses.replace(constants, live_params={"ema_cross": {"SP500": {"ema_fast": 12}}}),
        dataclasses.replace(
            constants,
            live_params={"ema_cross": {"SP500": {"timeframe": "1d", "x": {1, 2}}}},  # type: ignore[dict-item]
        ),
    ):
        with pytest.raises(StateFileError, match="refusing to write"):
            save_constants(constants_file, bad, NEW_PROVENANCE)
    assert constants_file.read_bytes() == before
    assert orphaned_temp_files(constants_file) == []


def test_the_exact_refusal_names_the_constant(constants_file: Path) -> None:
    bad = dataclasses.replace(load_constants(constants_file), optimizer_max_delta=1.5)
    with pytest.raises(StateFileError, match=r"OPTIMIZER_MAX_DELTA must be a float in \(0, 1\], got 1.5"):
        save_constants(constants_file, bad, NEW_PROVENANCE)


def test_provenance_cannot_inject_code(constants_file: Path) -> None:
    sneaky = Provenance(run_id="x\nMIN_TRADES = 1", git_sha="abc", written_at="2030-01-01T00:00:00+00:00")
    written = save_constants(constants_file, load_constants(constants_file), sneaky)
    reread = load_constants(constants_file)
    assert reread == written
    assert reread.min_trades == 30
    assert reread.provenance.run_id == "x\nMIN_TRADES = 1"


def test_saving_creates_the_config_directory_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "config" / "constants.py"
    save_constants(path, load_constants(SHIPPED_CONSTANTS), NEW_PROVENANCE)
    assert load_constants(path).provenance == NEW_PROVENANCE
    assert orphaned_temp_files(path) == []
