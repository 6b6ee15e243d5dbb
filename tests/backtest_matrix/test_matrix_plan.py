"""The planner: deterministic, complete and balanced shards; cell hashes; the GitHub Actions matrix JSON."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from backtest_matrix.matrix import (
    DEFAULT_MATRIX_PATH,
    OVERHEAD_BARS,
    Plan,
    cell_hash,
    engine_version,
    load_matrix_spec,
    parse_shard,
    plan,
    window_slice,
)
from gitops import load_constants
from tradeloop.errors import SettingsError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def default_plans(cache_dir: Path) -> dict[int, Plan]:
    live = load_constants(REPO / "config" / "constants.py").live_params
    spec = load_matrix_spec(DEFAULT_MATRIX_PATH, live_params=live)
    return {shards: plan(spec, shards, cache_dir=cache_dir) for shards in (1, 3, 4)}


def test_every_unit_is_in_exactly_one_shard(default_plans: dict[int, Plan]) -> None:
    for shards, planned in default_plans.items():
        assert sorted(set(planned.assignment)) == list(range(1, shards + 1))
        dealt = [unit.key for i in range(1, shards + 1) for unit in planned.shard(i)]
        assert sorted(dealt) == sorted(unit.key for unit in planned.units)
        # 4 strategies x 3 symbols x 1d x 4 windows, and the demo pair (live) at its own 15m x 4 windows
        assert len(set(dealt)) == len(dealt) == 52
        assert planned.cells == 52 * 9  # the base set and 8 neighbours


def test_the_same_inputs_give_the_same_plan(default_plans: dict[int, Plan], cache_dir: Path) -> None:
    live = load_constants(REPO / "config" / "constants.py").live_params
    again = plan(load_matrix_spec(DEFAULT_MATRIX_PATH, live_params=live), 3, cache_dir=cache_dir)
    first = default_plans[3]
    assert again.assignment == first.assignment
    assert again.units == first.units
    assert again.to_json() == first.to_json()


def test_shards_are_balanced_by_cost(default_plans: dict[int, Plan]) -> None:
    for shards in (3, 4):
        planned = default_plans[shards]
        costs = [planned.shard_cost(i) for i in range(1, shards + 1)]
        biggest_unit = max(unit.cost for unit in planned.units)
        assert max(costs) <= sum(costs) / shards + biggest_unit  # the greedy rule's guarantee
        assert max(costs) / min(costs) < 1.25


def test_costs_count_bars_and_parameter_sets(default_plans: dict[int, Plan]) -> None:
    units = {unit.key: unit for unit in default_plans[1].units}
    full = units["ema_cross/SP500/1d/full"]
    month = units["ema_cross/SP500/1d/30d"]
    assert full.cost == 9 * (full.bars + OVERHEAD_BARS)
    assert full.bars > 4_000 and 18 <= month.bars <= 23  # S&P 500 trading days: ~21 in 30 calendar days
    assert month.window_end == full.window_end == "2018-12-31T00:00:00+00:00"
    assert [cell.param_set for cell in full.cells] == ["live", *(f"n{i:02d}" for i in range(1, 9))]
    assert units["mtf_ema/BTC/1d/full"].cells[0].param_set == "base"
    demo = units["rsi_reversion/DEMO/15m/full"]  # the live demo pair joins at its own timeframe only
    assert demo.cells[0].param_set == "live" and demo.bars == 35_040
    assert not any(key.startswith("rsi_reversion/DEMO/1d/") for key in units)


def test_json_is_a_github_actions_matrix(default_plans: dict[int, Plan]) -> None:
    document = default_plans[3].to_json()
    assert set(document) == {"shard", "include"}  # any other key would become a matrix axis
    assert document["shard"] == ["1/3", "2/3", "3/3"]
    assert [entry["shard"] for entry in document["include"]] == document["shard"]
    assert sum(entry["cells"] for entry in document["include"]) == 468
    assert sum(entry["units"] for entry in document["include"]) == 52
    assert all(
        entry["cost"] == default_plans[3].shard_cost(i) for i, entry in enumerate(document["include"], 1)
    )


def test_cell_hashes_do_not_depend_on_sharding_and_are_unique(default_plans: dict[int, Plan]) -> None:
    def hashes(planned: Plan) -> set[str]:
        return {cell.cell_hash for unit in planned.units for cell in unit.cells}

    assert hashes(default_plans[1]) == hashes(default_plans[3]) == hashes(default_plans[4])
    assert len(hashes(default_plans[1])) == 468


def test_cell_hash_covers_its_inputs_only() -> None:
    inputs = {
        "strategy": "ema_cross", "symbol": "SP500", "timeframe": "1d", "window": "30d",
        "params": {"ema_fast": 12.0, "ema_slow": 26.0}, "data_hash": "abc", "engine_version": "1",
    }  # fmt: skip
    key = cell_hash(**inputs)  # type: ignore[arg-type]
    assert len(key) == 32 and key == cell_hash(**inputs)  # type: ignore[arg-type]
    for name, other in [("window", "90d"), ("data_hash", "abd"), ("engine_version", "2"),
                        ("params", {"ema_fast": 13.0, "ema_slow": 26.0}), ("symbol", "BTC")]:  # fmt: skip
        assert cell_hash(**{**inputs, name: other}) != key, name  # type: ignore[arg-type]
    assert engine_version().startswith("0.") and "+kernels." in engine_version()


def test_window_slice_keeps_the_last_days() -> None:
    index = pd.date_range("2024-01-01", periods=100, freq="1D", tz="UTC")
    assert len(index[window_slice(index, 30)]) == 30
    assert index[window_slice(index, 30)][0] == pd.Timestamp("2024-03-11", tz="UTC")
    assert len(index[window_slice(index, None)]) == 100
    assert len(index[window_slice(index, 1000)]) == 100


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0", "-1/2", ""])
def test_bad_shard_text_is_refused(text: str) -> None:
    with pytest.raises(SettingsError, match="is not i/N"):
        parse_shard(text)
    assert parse_shard("2/4") == (2, 4)


def test_bad_shard_count_is_refused(default_plans: dict[int, Plan]) -> None:
    with pytest.raises(SettingsError, match=r"--shards must be a whole number from 1 to 256 .*, got 0"):
        plan(default_plans[1].spec, 0)
