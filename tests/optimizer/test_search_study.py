"""Stage B: warm start, reproducibility, samplers, resume, outputs and candidates."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from backtest_matrix.engine import backtest
from backtest_matrix.strategies import get_strategy
from optimizer import BEST_VIEWS, MAX_CANDIDATES, Constraints, run_search
from tests.optimizer._search_fixtures import LIVE, sp500
from tradeloop.errors import OptimizerError

EMA = get_strategy("ema_cross")


def _search(tmp_path: Path, **options: object):
    defaults: dict[str, object] = {
        "cadence": "weekly", "trials": 30, "seed": 0, "top_k": 5, "prescreen_n": 256,
        "storage": f"sqlite:///{tmp_path / 'optuna.db'}", "out_dir": tmp_path / "out",
    }  # fmt: skip
    defaults.update(options)
    return run_search(sp500(), "ema_cross", LIVE, **defaults)  # type: ignore[arg-type]


def test_warm_start_live_params_are_trial_0_and_stage_a_top_k_follow(tmp_path: Path) -> None:
    result = _search(tmp_path)
    trials = result.trials.set_index("number")
    names = result.space.names
    live = EMA.resolve(LIVE)
    assert {n: trials.loc[0, f"params_{n}"] for n in names} == {n: live[n] for n in names}
    assert result.stage_a is not None and len(result.stage_a.top) == 5
    for k, expected in enumerate(result.stage_a.top_params(names), start=1):
        assert {n: trials.loc[k, f"params_{n}"] for n in names} == pytest.approx(expected)
    # Trial 1 is Stage A's best, evaluated again by Stage B: the same KPIs.
    assert trials.loc[1, "sharpe"] == pytest.approx(result.stage_a.top.loc[0, "sharpe"])


def test_same_seed_one_worker_gives_the_same_best_params(tmp_path: Path) -> None:
    first = _search(tmp_path / "a", sampler="tpe", seed=7)
    second = _search(tmp_path / "b", sampler="tpe", seed=7)
    assert first.best_params == second.best_params
    assert first.best_value == second.best_value
    objectives = second.trials["objective"].tolist()
    assert first.trials["objective"].tolist() == pytest.approx(objectives, nan_ok=True)
    third = _search(tmp_path / "c", sampler="tpe", seed=8, top_k=0)
    assert third.trials["params_ema_fast"].tolist() != first.trials["params_ema_fast"].tolist()


def test_best_is_the_top_feasible_trial_and_reproduces_with_a_backtest(tmp_path: Path) -> None:
    constraints = Constraints(min_trades=30, max_drawdown_pct=30.0)
    result = _search(tmp_path, constraints=constraints)
    complete = result.trials[(result.trials["state"] == "COMPLETE") & result.trials["feasible"]]
    assert result.best_value == complete["objective"].max()
    again = backtest(sp500(), EMA, result.best_params)
    assert again.kpis["sharpe"] == pytest.approx(result.best_value)
    assert again.kpis["trades"] >= 30 and again.kpis["max_drawdown_pct"] <= 30.0
    infeasible = result.trials[(result.trials["state"] == "COMPLETE") & ~result.trials["feasible"]]
    assert ((infeasible["trades"] < 30) | (infeasible["max_drawdown_pct"] > 30.0)).all()


def test_candidates_are_distinct_best_first_and_exclude_the_live_params(tmp_path: Path) -> None:
    result = _search(tmp_path)
    objectives = [c["objective"] for c in result.candidates]
    assert objectives == sorted(objectives, reverse=True)
    keys = [tuple(sorted(c["params"].items())) for c in result.candidates]
    assert len(set(keys)) == len(keys) <= MAX_CANDIDATES
    assert tuple(sorted(EMA.resolve(LIVE).items())) not in keys
    assert result.candidates[0]["params"] == result.best_params or result.best_params == EMA.resolve(LIVE)


def test_outputs_best_folders_and_all_trials(tmp_path: Path) -> None:
    result = _search(tmp_path)
    out = result.out_dir
    csv_rows = (out / "trials.csv").read_text().strip().splitlines()
    assert len(csv_rows) == 1 + len(result.trials)
    assert len(json.loads((out / "trials.json").read_text())) == len(result.trials)
    complete = result.trials[(result.trials["state"] == "COMPLETE") & result.trials["feasible"]]
    for folder, (kpi, how) in BEST_VIEWS.items():
        config = json.loads((out / folder / "config.json").read_text())
        metrics = json.loads((out / folder / "metrics.json").read_text())
        best = complete[kpi].max() if how == "max" else complete[kpi].min()
        assert metrics["kpis"][kpi] == pytest.approx(best)
        assert config["strategy_name"] == "ema_cross" and set(config["params"]) == set(EMA.defaults())
        assert {"export_time", "ft_stratparam_v", "tradeloop_version"} <= set(config)


def test_resume_loads_the_study_and_adds_trials(tmp_path: Path) -> None:
    first = _search(tmp_path, trials=12, study_name="resume")
    second = _search(tmp_path, trials=20, study_name="resume")
    assert first.n_trials == 12 and second.n_trials == 20
    assert second.trials.iloc[:12]["objective"].tolist() == pytest.approx(
        first.trials["objective"].tolist(), nan_ok=True
    )
    study = optuna.load_study(study_name="resume", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert len(study.trials) == 20


@pytest.mark.parametrize("sampler", ["cmaes", "nsga2", "skopt-gp"])
def test_other_samplers_run_and_respect_the_space(tmp_path: Path, sampler: str) -> None:
    result = _search(tmp_path, sampler=sampler, trials=24, top_k=3)
    assert len(result.trials) == 24
    for dim in result.space.dimensions:
        column = result.trials[f"params_{dim.name}"]
        assert column.between(dim.low, dim.high).all(), dim
    if sampler == "nsga2":
        complete = result.trials[result.trials["state"] == "COMPLETE"]
        assert complete["objective_drawdown"].tolist() == pytest.approx(complete["max_drawdown_pct"].tolist())
    assert result.best_params["ema_fast"] < result.best_params["ema_slow"]


def test_gp_sampler_without_torch_names_the_fix(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    try:
        import torch  # noqa: F401
    except ImportError:
        with pytest.raises(OptimizerError, match="PyTorch"):
            _search(tmp_path, sampler="gp", trials=2, top_k=0)
    else:
        assert len(_search(tmp_path, sampler="gp", trials=12, top_k=2).trials) == 12


def test_bad_inputs_are_named(tmp_path: Path) -> None:
    with pytest.raises(OptimizerError, match="--sampler 'annealing'"):
        _search(tmp_path, sampler="annealing", trials=2, top_k=0)
    with pytest.raises(OptimizerError, match="--storage memory holds one process"):
        _search(tmp_path, storage="memory", workers=2)
    with pytest.raises(OptimizerError, match="--storage 'mysql://u:\\*\\*\\*@h/db'"):
        _search(tmp_path, storage="mysql://u:secret@h/db", top_k=0)
