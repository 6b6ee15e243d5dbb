"""A home with something in every panel: a warehouse of hourly cycles (proposals and their outcomes,
rollouts and their checks, paper and live equity, trades, matrix results, regimes), a git repository whose
live state was changed and reverted, an Optuna study and the latest matrix run's flags.

Shared by the dashboard tests (a few pairs, a few weeks) and ``benchmarks/dashboard.py`` (20 pairs, a year):
the rows go in with bulk inserts through the warehouse's engine, so a year of hourly data loads in seconds.
Texts that come from git or the forge carry HTML, so that the tests can see them escaped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from warehouse import Base, Warehouse

REPO_ROOT = Path(__file__).resolve().parents[2]
#: A PR title / commit subject that would run script if a page wrote it unescaped.
HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
END = datetime(2025, 6, 30, 23, 0, tzinfo=UTC)
PARAMETERS = ("ema_fast", "stop_loss_pct")


@dataclass(frozen=True)
class FixtureSize:
    """How much history: ``pairs`` strategy/symbol pairs over ``hours`` hourly cycles."""

    pairs: int = 3
    hours: int = 24 * 45
    proposal_every: int = 24
    check_every: int = 6


def pair_names(count: int) -> list[tuple[str, str]]:
    """The two live pairs of the shipped constants first, then made-up symbols."""
    names = [("ema_cross", "SP500"), ("ema_cross", "NASDAQ")]
    names += [("ema_cross", f"SYM{i:02d}") for i in range(count)]
    return names[:count]


def _insert(warehouse: Warehouse, model: type[Base], rows: list[dict[str, Any]]) -> None:
    table = Base.metadata.tables[model.__tablename__]
    with warehouse.engine.begin() as connection:
        for start in range(0, len(rows), 20_000):
            connection.execute(table.insert(), rows[start : start + 20_000])


def _walk(rng: np.random.Generator, hours: int, drift: float) -> np.ndarray:
    return 1_000.0 * np.exp(np.cumsum(rng.normal(drift, 0.004, hours)))


def fill_warehouse(warehouse: Warehouse, size: FixtureSize = FixtureSize(), *, seed: int = 7) -> None:
    """Every table the dashboard reads: ``size.pairs`` pairs over ``size.hours`` hours up to :data:`END`."""
    from warehouse import Equity, OptimizationProposal, RegimeDetection, RolloutCheck, Trade

    rng = np.random.default_rng(seed)
    times = [END - timedelta(hours=size.hours - 1 - i) for i in range(size.hours)]
    warehouse.start_run("matrix", git_sha="f" * 40, run_id="RUN-MATRIX", started_at=times[0])
    equity, trades, proposals, checks, regimes = [], [], [], [], []
    for index, (strategy, symbol) in enumerate(pair_names(size.pairs)):
        live, candidate = f"live{index:02d}" + "0" * 58, f"cand{index:02d}" + "1" * 58
        for mode, config, drift in (("live", live, 0.0001), ("paper", candidate, 0.0002)):
            curve = _walk(rng, size.hours, drift)
            equity += [
                {"run_id": "RUN-DEPLOY", "strategy": strategy, "symbol": symbol, "timeframe": "1h",
                 "config_hash": config, "mode": mode, "ts": t, "equity_usd": float(v), "created_at": t}
                for t, v in zip(times, curve, strict=True)
            ]  # fmt: skip
            trades += _trades(rng, strategy, symbol, config, mode, times)
        proposals += _proposals(rng, strategy, symbol, candidate, times, size.proposal_every, index)
        warehouse.start_run(  # the validation of the pair's last proposal (tradeloop validate's record)
            "validate", git_sha="f" * 40, run_id=f"RUN-VALIDATE-{index}", started_at=times[0],
            params={"proposal_hash": proposals[-1]["proposal_hash"], "holdout_delta_sharpe": 0.25 + index,
                    "holdout_delta_return_pct": -1.5},
        )  # fmt: skip
        checks += _checks(rng, strategy, symbol, candidate, times, size.check_every)
        regimes += _regimes(rng, symbol, times)
        warehouse.upsert_rollout(
            strategy, symbol, config_hash=candidate, stage="WARM" if index % 2 else "LIMITED",
            canary_fraction=0.0 if index % 2 else 0.1, status="in_progress", reason=f"analysis {index}",
            pr_number=100 + index, at=times[-1], previous_config_hash=live, stage_since=times[-72],
        )  # fmt: skip
    _insert(warehouse, Equity, equity)
    _insert(warehouse, Trade, trades)
    _insert(warehouse, OptimizationProposal, proposals)
    _insert(warehouse, RolloutCheck, checks)
    _insert(warehouse, RegimeDetection, regimes)
    warehouse.add_backtest_results(_backtests(rng, size.pairs, times[-1]))


def _trades(rng: np.random.Generator, strategy: str, symbol: str, config: str, mode: str,
            times: list[datetime]) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for i in range(0, len(times) - 12, 12):
        entry, pnl_pct = 100.0 + rng.normal(0, 5), float(rng.normal(0.1, 1.0))
        rows.append({
            "run_id": "RUN-DEPLOY", "strategy": strategy, "symbol": symbol, "timeframe": "1h",
            "side": "long" if i % 24 else "short", "entry_time": times[i], "exit_time": times[i + 6],
            "entry_price": entry, "exit_price": entry * (1 + pnl_pct / 100), "size": 1.0,
            "pnl": entry * pnl_pct / 100, "pnl_pct": pnl_pct, "fees": 0.01, "exit_reason": "signal",
            "trade_id": f"{mode}-{symbol}-{config[:6]}-{i}", "config_hash": config, "mode": mode,
        })  # fmt: skip
    return rows


def _proposals(rng: np.random.Generator, strategy: str, symbol: str, config: str, times: list[datetime],
               every: int, index: int) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    value = {"ema_fast": 12.0, "stop_loss_pct": 2.0}
    outcomes = ("proposed", "opened", "merged", "declined", "reverted")
    for number, i in enumerate(range(0, len(times), every)):
        outcome = outcomes[number % len(outcomes)]
        digest = f"p{index:02d}{number:06d}" + "0" * 55
        before = {"overall": {"sharpe": float(rng.normal(0.8, 0.2)), "return_pct": float(rng.normal(5, 2))}}
        after = {"overall": {k: v + abs(float(rng.normal(0.1, 0.05))) for k, v in before["overall"].items()}}
        for parameter in PARAMETERS:
            current = value[parameter]
            proposed = current * (1 + float(rng.uniform(-0.2, 0.2)))
            rows.append({
                "run_id": f"RUN-OPT-{number}", "strategy": strategy, "symbol": symbol, "timeframe": "1h",
                "parameter": parameter, "current_value": current, "proposed_value": proposed,
                "delta_pct": (proposed / current - 1) * 100, "bound": "±20 %", "rationale": "search",
                "kpis_before": before, "kpis_after": after, "config_hash": config, "outcome": outcome,
                "pr_url": None if outcome == "proposed" else f"https://github.com/acme/bot/pull/{number + 1}",
                "created_at": times[i], "decided_at": None if outcome == "proposed" else times[i],
                "proposal_hash": digest, "pr_number": None if outcome == "proposed" else number + 1,
                "commit_sha": None,
            })  # fmt: skip
            if outcome == "merged":
                value[parameter] = proposed
    return rows


def _checks(rng: np.random.Generator, strategy: str, symbol: str, config: str, times: list[datetime],
            every: int) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    stages = ("COLD", "WARM", "LIMITED")
    for number, i in enumerate(range(0, len(times), every)):
        stage = stages[min(2, number * 3 // max(1, len(times) // every))]
        analysis = f"{strategy}-{symbol}-{number}"
        for name, threshold in (("trades", 30.0), ("sharpe", 0.5), ("drawdown_pct", 10.0)):
            figure = float(abs(rng.normal(threshold, threshold / 3)))
            rows.append({
                "analysis_id": analysis, "strategy": strategy, "symbol": symbol, "config_hash": config,
                "stage": stage, "mode": "paper", "checked_at": times[i], "interval_index": number,
                "name": name, "outcome": "pass" if figure >= threshold else "fail", "figure": figure,
                "threshold": threshold, "comparator": ">=", "unit": "", "detail": f"{name} over the interval",
                "analysis_outcome": "pass", "decision": "hold", "failed_checks": 0, "reason": "hold",
            })  # fmt: skip
    return rows


def _regimes(rng: np.random.Generator, symbol: str, times: list[datetime]) -> list[dict[str, Any]]:
    labels = ("bull", "bear", "sideways", "high_vol")
    regime = 0
    rows = []
    for i, t in enumerate(times):
        if rng.random() < 0.01:
            regime = (regime + 1) % len(labels)
        rows.append({
            "run_id": "RUN-REGIME", "symbol": symbol, "timeframe": "1h",
            "window_start": t - timedelta(days=7), "window_end": t, "regime": labels[regime],
            "confidence": 0.6 + 0.3 * (i % 2),
            "momentum_pct_per_day": 0.1, "volatility": 0.02, "volume_strength": 1.0, "detected_at": t,
        })  # fmt: skip
    return rows


def _backtests(rng: np.random.Generator, pairs: int, at: datetime) -> list[dict[str, Any]]:
    rows = []
    for strategy, symbol in pair_names(pairs):
        for window in ("90d", "full"):
            for param_set in ("live", "base"):
                rows.append({
                    "run_id": "RUN-MATRIX", "cell_hash": f"{strategy}-{symbol}-{window}-{param_set}",
                    "strategy": strategy, "symbol": symbol, "timeframe": "1h", "window": window,
                    "params": {"ema_fast": 12}, "status": "ok", "created_at": at,
                    "kpis": {"sharpe": float(rng.normal(0.5, 0.8)), "_param_set": param_set},
                })  # fmt: skip
    return rows


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def make_history_repo(repo: Path, *, changes: bool = True) -> Path:
    """A repository with the shipped state files and (``changes``) one change of SP500's ``ema_fast``
    (12 → 13) whose subject is :data:`HOSTILE`, and its revert."""
    (repo / "config").mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / "config" / "constants.py", repo / "config" / "constants.py")
    shutil.copyfile(REPO_ROOT / "feature_flags.json", repo / "feature_flags.json")
    git(repo, "init", "-q", "-b", "main")
    for key, value in (("user.email", "bot@example.com"), ("user.name", "bot")):
        git(repo, "config", key, value)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Initial state")
    if not changes:
        return repo
    constants = repo / "config" / "constants.py"
    text = constants.read_text()
    marker = '"SP500": {\n            "timeframe": "1d",\n            "ema_fast": 12,'
    assert marker in text, "the shipped constants changed: update the fixture's edit"
    constants.write_text(text.replace(marker, marker.replace('"ema_fast": 12', '"ema_fast": 13')))
    git(repo, "commit", "-q", "-am", f"Tune SP500 {HOSTILE} (#7)")
    git(repo, "revert", "--no-edit", "HEAD")
    return repo


def make_study(home: Path, trials: int = 25) -> None:
    """A finished Optuna study (two parameters) in the home's ``optuna.db``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{home / 'optuna.db'}"
    study = optuna.create_study(study_name="ema_cross-SP500-1d", storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=3))  # fmt: skip
    study.optimize(
        lambda t: -((t.suggest_float("ema_fast", 5, 20) - 12) ** 2) + t.suggest_float("stop", 1, 3),
        n_trials=trials,
    )


def write_flags(home: Path, run_id: str = "RUN-MATRIX") -> None:
    """The latest matrix run's flags, as ``tradeloop matrix merge`` writes them next to its report."""
    run_dir = home / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    flag = {"kind": "underperformance", "strategy": "ema_cross", "symbol": "SP500", "timeframe": "1h",
            "window": "90d", "param_set": "live", "cell_hash": "ema_cross-SP500-90d-live", "metric": "sharpe",
            "figure": 0.1, "baseline": 1.2, "threshold": 0.5, "score": 1.1, "nights": 7,
            "message": "Sharpe 0.10 < baseline 1.20 - 0.5"}  # fmt: skip
    (run_dir / "flags.json").write_text(json.dumps([flag]))
