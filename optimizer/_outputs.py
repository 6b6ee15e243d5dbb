"""What a search leaves behind: all trials as CSV/JSON and one folder per "best of" view.

::

    <out>/stage_a_top.json          Stage A's top K (see optimizer._prescreen)
    <out>/trials.csv, trials.json   every trial: state, objective, parameters, KPIs, worker, retry of
    <out>/best_sharpe/              config.json (parameters, like freqtrade's exported strategy params)
    <out>/best_return/                + metrics.json (KPIs, objective, trial number)
    <out>/lowest_drawdown/
    <out>/best_win_rate/

The "best of" views consider completed trials that meet every constraint; a view with no such trial is not
written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from backtest_matrix.engine import KPI_NAMES
from optimizer._space import SearchSpace
from tradeloop._atomic import atomic_write_text
from tradeloop._provenance import json_safe

__all__ = ["BEST_VIEWS", "PARAM_PREFIX", "trials_frame", "write_outputs"]

PARAM_PREFIX = "params_"
#: folder -> (KPI, "max" | "min")
BEST_VIEWS: dict[str, tuple[str, str]] = {
    "best_sharpe": ("sharpe", "max"),
    "best_return": ("return_pct", "max"),
    "lowest_drawdown": ("max_drawdown_pct", "min"),
    "best_win_rate": ("win_rate_pct", "max"),
}


def trials_frame(study: optuna.Study, space: SearchSpace) -> pd.DataFrame:
    """One row per trial: number, state, objective(s), timing, worker, full parameters and KPIs."""
    rows = [_trial_row(trial, space) for trial in study.get_trials(deepcopy=False)]
    columns = ["number", "state", "objective"]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    return frame.sort_values("number").reset_index(drop=True)


def _trial_row(trial: optuna.trial.FrozenTrial, space: SearchSpace) -> dict[str, Any]:
    values = trial.values or []
    constraints = list(trial.constraints.values())
    row: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state.name,
        "objective": values[0] if values else np.nan,
    }
    if len(values) > 1:
        row["objective_drawdown"] = values[1]
    row.update(
        {
            "feasible": bool(constraints) and all(v <= 0 for v in constraints),
            "worker": trial.user_attrs.get("worker"),
            "retry_of": trial.system_attrs.get("failed_trial"),
            "datetime_start": trial.datetime_start.isoformat() if trial.datetime_start else None,
            "datetime_complete": trial.datetime_complete.isoformat() if trial.datetime_complete else None,
            "duration_s": trial.duration.total_seconds() if trial.duration else np.nan,
        }
    )
    params = space.full_params(trial.params) if trial.params else {}
    row.update({PARAM_PREFIX + name: value for name, value in params.items()})
    kpis = trial.user_attrs.get("kpis") or {}
    row.update({name: (np.nan if kpis.get(name) is None else kpis[name]) for name in KPI_NAMES})
    return row


def params_of(row: Mapping[Any, Any]) -> dict[str, float]:
    """The full parameter dict of a ``trials_frame`` row."""
    return {str(k)[len(PARAM_PREFIX) :]: float(v) for k, v in row.items() if str(k).startswith(PARAM_PREFIX)}


def write_outputs(
    out_dir: Path, trials: pd.DataFrame, *, strategy: str, study_name: str, objective: str
) -> dict[str, Path]:
    """Write ``trials.csv``, ``trials.json`` and the best-of folders; return the folders written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "trials.csv", trials.to_csv(index=False))
    records = json_safe(trials.to_dict("records"))
    atomic_write_text(out_dir / "trials.json", json.dumps(records, indent=1, allow_nan=False) + "\n")
    written: dict[str, Path] = {}
    if trials.empty or "feasible" not in trials:
        return written
    complete = trials[(trials["state"] == TrialState.COMPLETE.name) & trials["feasible"].astype(bool)]
    for folder, (kpi, how) in BEST_VIEWS.items():
        column = complete[kpi].astype(float)
        if column.notna().sum() == 0:
            continue
        values = column.to_numpy()
        position = int(np.nanargmax(values) if how == "max" else np.nanargmin(values))
        row = {str(k): v for k, v in complete.iloc[position].items()}
        written[folder] = _write_best(out_dir / folder, row, strategy, study_name, objective)
    return written


def _write_best(folder: Path, row: Mapping[str, Any], strategy: str, study_name: str, objective: str) -> Path:
    from tradeloop import __version__

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    config = {
        "strategy_name": strategy,
        "params": params_of(row),
        "ft_stratparam_v": 1,
        "export_time": now,
        "tradeloop_version": __version__,
        "study": study_name,
        "trial": int(row["number"]),
    }
    metrics = {
        "trial": int(row["number"]),
        "objective": {"name": objective, "value": row["objective"]},
        "kpis": {name: row[name] for name in KPI_NAMES},
    }
    atomic_write_text(folder / "config.json", json.dumps(json_safe(config), indent=2, allow_nan=False) + "\n")
    atomic_write_text(
        folder / "metrics.json", json.dumps(json_safe(metrics), indent=2, allow_nan=False) + "\n"
    )
    return folder
