"""The search entry point: Stage A prescreen, then Stage B on shared storage, then the outputs."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from backtest_matrix.engine import EngineConfig, periods_per_year
from backtest_matrix.strategies import Strategy, get_strategy
from optimizer._constraints import Constraints
from optimizer._outputs import PARAM_PREFIX, params_of, trials_frame, write_outputs
from optimizer._prescreen import PrescreenMethod, PrescreenResult, prescreen
from optimizer._search_record import SearchRecord
from optimizer._space import SearchSpace, cadence_window, current_values, search_space
from optimizer._storage import MEMORY_STORAGE, HeartbeatSettings, default_storage_url, mask_url
from optimizer._study import StudyConfig, count_trials, create_study, run_worker
from optimizer.objectives import get_objective
from tradeloop._provenance import new_run_id
from tradeloop._settings import Settings
from tradeloop.errors import OptimizerError

__all__ = ["MAX_CANDIDATES", "SearchResult", "run_search"]

MAX_CANDIDATES = 200


@dataclass(frozen=True)
class SearchResult:
    """The outcome of :func:`run_search`.

    Attributes
    ----------
    best_params
        Full parameters (strategy + risk) of the best completed trial that meets the constraints, or the
        current parameters when none does.
    best_value
        Its objective (NaN when no trial qualified).
    trials
        Every trial (see :func:`optimizer._outputs.trials_frame`).
    candidates
        Up to 200 distinct parameter sets, best first, ``{"params": ..., "objective": ...}``; the current
        parameters are not among them (contract 2: ``proposal.candidates``).
    record
        Every configuration Stage A and Stage B evaluated, with its Sharpe on the searched bars.
    out_dir
        Where the outputs were written; None when ``keep_outputs`` was off.
    """

    best_params: dict[str, float]
    best_value: float
    best_kpis: dict[str, float]
    trials: pd.DataFrame
    candidates: list[dict[str, Any]]
    n_trials: int
    out_dir: Path | None
    study_name: str
    storage: str
    space: SearchSpace
    stage_a: PrescreenResult | None
    sampler: str
    objective: str
    seed: int
    record: SearchRecord


def run_search(
    bars: pd.DataFrame,
    strategy: str | type[Strategy],
    current_params: Mapping[str, Any] | None,
    *,
    cadence: str = "daily",
    objective: str = "sharpe",
    sampler: str = "tpe",
    trials: int = 100,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    workers: int = 1,
    seed: int = 0,
    top_k: int = 10,
    prescreen_n: int = 20_000,
    prescreen_method: PrescreenMethod = "sobol",
    batch_size: int = 8,
    engine_config: EngineConfig | None = None,
    constraints: Constraints | None = None,
    max_delta: float = 0.2,
    heartbeat: HeartbeatSettings | None = None,
    out_dir: Path | None = None,
    keep_outputs: bool = True,
    progress: bool = False,
    console: Console | None = None,
    device: str | None = None,
) -> SearchResult:
    """Search parameters of ``strategy`` around ``current_params`` on the cadence's window of ``bars``.

    Stage A (``top_k > 0``) prescreens ``prescreen_n`` combinations; Stage B runs ``trials`` Optuna trials
    in ``workers`` processes on ``storage`` (SQLite ``<home>/optuna.db`` by default, a PostgreSQL URL, or
    ``"memory"`` for one in-process worker), starting from the current parameters (trial 0) and Stage A's
    top K. The same inputs and seed with one worker give the same best parameters. With ``keep_outputs``
    off nothing is written (validation's walk-forward folds search this way, on in-memory storage).
    Stage A sweeps on ``device`` (``auto``, ``cpu``, ``cuda``; ``None``: the ``TRADELOOP_DEVICE`` setting);
    Stage B's batches of a few trials stay on the CPU.
    """
    if trials < 1 or workers < 1 or batch_size < 1:
        raise OptimizerError(
            f"trials ({trials}), workers ({workers}) and batch size ({batch_size}) must all be >= 1"
        )
    cls = get_strategy(strategy) if isinstance(strategy, str) else strategy
    scorer = get_objective(objective)
    constraints = constraints or Constraints()
    engine_config = engine_config or EngineConfig()
    settings = Settings.from_env()
    out_dir = (out_dir or settings.run_dir(new_run_id())) if keep_outputs else None
    storage_url = storage or default_storage_url(settings.home)
    if storage_url == MEMORY_STORAGE and workers > 1:
        raise OptimizerError(
            "--storage memory holds one process only; use SQLite or PostgreSQL for --workers > 1"
        )
    space = search_space(cls, current_params, cadence, max_delta=max_delta)
    current = current_values(cls, current_params)
    if not space.dimensions:
        raise OptimizerError(
            f"{cls.name}: nothing to search at cadence {cadence!r} (every parameter's range around its "
            "current value is a single point); use --cadence weekly for the full hard bounds"
        )
    window = cadence_window(bars, cadence)
    stage_a = None
    if top_k > 0:
        stage_a = prescreen(
            window, cls, space, scorer, n=prescreen_n, method=prescreen_method, seed=seed, top_k=top_k,
            constraints=constraints, engine_config=engine_config, out_dir=out_dir, device=device,
        )  # fmt: skip
    study_name = study_name or f"{cls.name}-{cadence}-{objective}-{sampler}-s{seed}"
    config = StudyConfig(
        storage_url=storage_url, study_name=study_name,
        strategy=cls.name, space=space, objective=objective, sampler=sampler, seed=seed, n_trials=trials,
        timeout=timeout, batch_size=batch_size, constraints=constraints, engine_config=engine_config,
        heartbeat=heartbeat or HeartbeatSettings(),
    )  # fmt: skip
    warm = [current, *(stage_a.top_params(space.names) if stage_a is not None else [])]
    study = create_study(config, warm)
    _run_workers(config, window, workers, study, progress and not _quiet(console), console)
    frame = trials_frame(study, space)
    if out_dir is not None:
        write_outputs(out_dir, frame, strategy=cls.name, study_name=config.study_name, objective=objective)
    record = _search_record(cls, window, stage_a, frame, constraints)
    return _result(config, frame, current, out_dir, stage_a, scorer.direction, record)


def _search_record(
    cls: type[Strategy],
    window: pd.DataFrame,
    stage_a: PrescreenResult | None,
    frame: pd.DataFrame,
    constraints: Constraints,
) -> SearchRecord:
    """Stage A's evaluated rows, then every Stage B trial the engine evaluated (its KPIs are stored).

    ``feasible`` is re-derived from each row's KPIs with the search's constraints, for both stages alike.
    """
    names = [param.name for param in cls.space()]
    stage_b = pd.DataFrame(columns=[*names, "sharpe", "trades", "feasible"])
    if "trades" in frame:
        evaluated = frame[frame["trades"].notna()]
        stage_b = evaluated.rename(columns=lambda c: str(c).removeprefix(PARAM_PREFIX))
        stage_b = stage_b.assign(feasible=constraints.passes(stage_b))
    index = pd.DatetimeIndex(window.index)
    bars = {
        "start": index[0].isoformat(),
        "end": index[-1].isoformat(),
        "bars": len(window),
        "periods_per_year": float(periods_per_year(index.as_unit("ns").asi8)),
    }
    stage_a_rows = pd.DataFrame()
    if stage_a is not None and len(stage_a.evaluated):
        stage_a_rows = stage_a.evaluated.assign(feasible=constraints.passes(stage_a.evaluated))
    return SearchRecord.from_frames(cls.name, names, {"A": stage_a_rows, "B": stage_b}, bars)


def _quiet(console: Console | None) -> bool:
    return not (console or Console()).is_terminal


def _run_workers(
    config: StudyConfig,
    bars: pd.DataFrame,
    workers: int,
    study: optuna.Study,
    show: bool,
    console: Console | None,
) -> None:
    with _Progress(config, show, console) as update:
        if workers == 1:
            run_worker(config, bars, 0, on_batch=update, storage=study._storage)
            return
        context = multiprocessing.get_context("spawn")
        processes = [
            context.Process(target=run_worker, args=(config, bars, index), name=f"optimizer-worker-{index}")
            for index in range(workers)
        ]
        for process in processes:
            process.start()
        while any(process.is_alive() for process in processes):
            update(study)
            time.sleep(1.0)
        for process in processes:
            process.join()
        update(study)
    failed = [(p.name, p.exitcode) for p in processes if p.exitcode != 0]
    if failed:
        raise OptimizerError(
            f"study {config.study_name!r}: worker processes exited abnormally {failed}; their trials are "
            "retried on the next run (same --study and --storage resume it)"
        )


class _Progress:
    """A rich progress bar of the trials told, showing the current best; a no-op when hidden."""

    def __init__(self, config: StudyConfig, show: bool, console: Console | None) -> None:
        self._config = config
        self._bar = Progress(
            TextColumn("stage B"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[best]}"),
            TimeElapsedColumn(), console=console, disable=not show, transient=True,
        )  # fmt: skip
        self._task = self._bar.add_task("trials", total=config.n_trials, best="")
        self._show = show

    def __enter__(self) -> Callable[[optuna.Study], None]:
        self._bar.__enter__()
        return self._update

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def _update(self, study: optuna.Study) -> None:
        if not self._show:
            return
        done = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished() and t.values]
        values = [t.values[0] for t in done if t.values]
        if values:
            best = max(values) if self._config.directions[0] == "maximize" else min(values)
            self._bar.update(self._task, best=f"best {self._config.objective} {best:.4g}")
        self._bar.update(self._task, completed=min(count_trials(study), self._config.n_trials))


def _result(
    config: StudyConfig,
    frame: pd.DataFrame,
    current: dict[str, float],
    out_dir: Path | None,
    stage_a: PrescreenResult | None,
    direction: str,
    record: SearchRecord,
) -> SearchResult:
    ranked = pd.DataFrame()
    if not frame.empty and "feasible" in frame:
        ok = frame[
            (frame["state"] == "COMPLETE") & frame["feasible"].astype(bool) & frame["objective"].notna()
        ]
        # Ties keep the lowest trial number first, so the best is the same whatever the worker timing.
        ranked = ok.sort_values(
            ["objective", "number"], ascending=[direction == "minimize", True], kind="stable"
        )
    best_row = ranked.iloc[0].to_dict() if len(ranked) else None
    return SearchResult(
        best_params=params_of(best_row) if best_row else dict(current),
        best_value=float(best_row["objective"]) if best_row else float("nan"),
        best_kpis=_kpis(best_row) if best_row else {},
        trials=frame,
        candidates=_candidates(ranked, current),
        n_trials=_told(frame),
        out_dir=out_dir,
        study_name=config.study_name,
        storage=mask_url(config.storage_url),
        space=config.space,
        stage_a=stage_a,
        sampler=config.sampler,
        objective=config.objective,
        seed=config.seed,
        record=record,
    )


def _kpis(row: Mapping[Any, Any]) -> dict[str, float]:
    from backtest_matrix.engine import KPI_NAMES

    return {name: float(row[name]) for name in KPI_NAMES}


def _candidates(ranked: pd.DataFrame, current: Mapping[str, float]) -> list[dict[str, Any]]:
    seen = {tuple(sorted(current.items()))}
    candidates: list[dict[str, Any]] = []
    for row in ranked.to_dict("records"):
        params = params_of(row)
        key = tuple(sorted(params.items()))
        if key in seen:
            continue
        seen.add(key)
        candidates.append({"params": params, "objective": float(row["objective"])})
        if len(candidates) == MAX_CANDIDATES:
            break
    return candidates


def _told(frame: pd.DataFrame) -> int:
    """Trials evaluated and told (complete or pruned); a dead run's failed trials are not among them."""
    return 0 if frame.empty else int(frame["state"].isin(["COMPLETE", "PRUNED"]).sum())
