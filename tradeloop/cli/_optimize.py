"""``tradeloop optimize``: Stage A prescreen and Stage B Optuna search for one strategy/symbol/timeframe."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from tradeloop._provenance import Provenance
from tradeloop.cli._backtest import DeviceOpt
from tradeloop.cli._context import CliContext, get_context, quiet_optuna
from tradeloop.errors import OptimizerError
from tradeloop.loop._checks import (
    check_optimizer_options,
    check_out_dir,
    check_positive_seconds,
    check_storage,
)

if TYPE_CHECKING:
    from gitops import LiveConstants
    from optimizer import Constraints, SearchResult

__all__ = ["optimize"]


def _current_params(constants: LiveConstants, strategy: str, symbol: str, timeframe: str) -> dict[str, Any]:
    """The pair's LIVE_PARAMS entry; an empty dict (strategy defaults) when the pair is not live."""
    entry = constants.live_params.get(strategy, {}).get(symbol)
    if entry is None:
        return {}
    if entry.get("timeframe", timeframe) != timeframe:
        raise OptimizerError(
            f"--timeframe {timeframe!r} differs from LIVE_PARAMS.{strategy}.{symbol}.timeframe "
            f"{entry.get('timeframe')!r}; pass --timeframe {entry.get('timeframe')}"
        )
    return {k: v for k, v in entry.items() if k != "timeframe"}


def _source(constants: LiveConstants, symbol: str, data: str | None, matrix: Path) -> str:
    if data:
        return data
    from backtest_matrix.matrix import load_matrix_spec

    spec = load_matrix_spec(matrix, live_params=constants.live_params)
    if symbol not in spec.sources:
        raise OptimizerError(
            f"{matrix}: symbols has no data source for {symbol!r}; add it there or pass --data"
        )
    return str(spec.sources[symbol])


def optimize(
    ctx: typer.Context,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="Strategy name.")],
    symbol: Annotated[str, typer.Option("--symbol", help="Symbol (its data source comes from matrix.yaml).")],
    timeframe: Annotated[str, typer.Option("--timeframe", "-t", help="Bar timeframe, e.g. 1d.")],
    cadence: Annotated[str, typer.Option("--cadence", help="6h, daily or weekly (see docs/optimizer.md).")],
    trials: Annotated[int, typer.Option("--trials", min=1, help="Stage B trials in total.")] = 100,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Stop asking for new trials after SEC seconds.")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            envvar="TRADELOOP_OPTUNA_STORAGE",
            help="Optuna storage URL (PostgreSQL for many runners). \\[default: sqlite <home>/optuna.db]",
            show_default=False,
        ),
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", help="Study name; the same name resumes it.")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of Stage A and the samplers.")] = 0,
    sampler: Annotated[str, typer.Option("--sampler", help="tpe, gp, cmaes, nsga2 or skopt-gp.")] = "tpe",
    objective: Annotated[
        str, typer.Option("--objective", help="sharpe, sortino, calmar, return_dd or sqn.")
    ] = "sharpe",
    top_k: Annotated[int, typer.Option("--top-k", min=0, help="Stage A rows that warm-start Stage B.")] = 10,
    prescreen_n: Annotated[
        int, typer.Option("--prescreen", min=1, help="Stage A combinations (Sobol).")
    ] = 20_000,
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Data source instead of matrix.yaml's.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder. \\[default: the run dir]")] = None,
    device: DeviceOpt = None,
) -> None:
    """Search better parameters: Stage A prescreen, Stage B Optuna study, best-of folders and all trials."""
    from backtest_matrix import load_bars
    from backtest_matrix.engine import EngineConfig, resolve_device
    from gitops import load_constants
    from optimizer import Constraints, default_storage_url, run_search
    from tradeloop.loop import matrix_path

    cli = get_context(ctx)
    quiet_optuna(cli)
    check_positive_seconds(timeout, "--timeout")
    check_optimizer_options(cadence=cadence, objective=objective, sampler=sampler)
    on = resolve_device(device or cli.settings.device)
    if out is not None:
        check_out_dir(out, "--out")
    storage = storage or default_storage_url(cli.settings.home)  # --home, not only TRADELOOP_HOME
    check_storage(storage)
    constants = load_constants(cli.settings.constants_path)
    current = _current_params(constants, strategy, symbol, timeframe)
    loaded = load_bars(
        _source(constants, symbol, data, matrix_path(cli.settings)),
        timeframe=timeframe,
        cache_dir=cli.settings.cache_dir,
    )
    provenance = Provenance.capture(cli.settings.repo)
    out_dir = out or cli.settings.run_dir(provenance.run_id)
    constraints = Constraints(
        min_trades=constants.min_trades, max_drawdown_pct=constants.max_drawdown_pct,
        min_win_rate_pct=constants.min_win_rate_pct,
    )  # fmt: skip
    result = run_search(
        loaded.bars, strategy, current, cadence=cadence, objective=objective, sampler=sampler, trials=trials,
        timeout=timeout, storage=storage, workers=workers, seed=seed, top_k=top_k, prescreen_n=prescreen_n,
        study_name=study or f"{strategy}.{symbol}.{timeframe}.{cadence}.{objective}.{sampler}",
        engine_config=EngineConfig(fee_bps=constants.fee_bps, slippage_bps=constants.slippage_bps),
        constraints=constraints, max_delta=constants.optimizer_max_delta, out_dir=out_dir,
        progress=not cli.json_output, console=cli.console, device=on,
    )  # fmt: skip
    summary = _summary(result, provenance, strategy, symbol, timeframe, loaded.data_hash, current)
    if cli.json_output:
        cli.emit_json(summary)
        return
    _print(cli, result, summary, constraints)


def _summary(
    result: SearchResult,
    provenance: Provenance,
    strategy: str,
    symbol: str,
    timeframe: str,
    data_hash: str,
    current: dict[str, Any],
) -> dict[str, Any]:
    states = result.trials["state"].value_counts().to_dict() if not result.trials.empty else {}
    feasible = 0
    if not result.trials.empty and "feasible" in result.trials:
        feasible = int(result.trials["feasible"].astype(bool).sum())
    return {
        **provenance.as_dict(),
        "strategy": strategy,
        "symbol": symbol,
        "timeframe": timeframe,
        "data_hash": data_hash,
        "current_params": current,
        "search": {
            "sampler": result.sampler,
            "objective": result.objective,
            "trials": result.n_trials,
            "seed": result.seed,
            "study": result.study_name,
            "storage": result.storage,
            "states": states,
            "feasible": feasible,
            "cadence": result.space.cadence,
        },
        "best_params": result.best_params,
        "best_value": result.best_value,
        "best_kpis": result.best_kpis,
        "stage_a": None
        if result.stage_a is None
        else {"generated": result.stage_a.generated, "passed": result.stage_a.passed},
        "candidates": len(result.candidates),
        "out_dir": str(result.out_dir),
    }


def _print(cli: CliContext, result: SearchResult, summary: dict[str, Any], constraints: Constraints) -> None:
    qualified = not math.isnan(result.best_value)  # NaN: no trial met the constraints
    title = (
        f"best {result.objective} {result.best_value:.4g}" if qualified else "no trial met the constraints"
    )
    table = Table("parameter", "current", "best", title=title)
    for name in result.space.names:
        current = summary["current_params"].get(name, "default")
        table.add_row(name, f"{current}", f"{result.best_params[name]:g}")
    cli.console.print(table)
    cli.console.print(
        f"{result.n_trials} trials in study {result.study_name!r} ({result.storage}); "
        f"outputs in {result.out_dir}"
    )
    if not qualified:
        limits = [f"at least {constraints.min_trades} trades (MIN_TRADES)"]
        if constraints.max_drawdown_pct is not None:
            limits.append(f"a drawdown of at most {constraints.max_drawdown_pct:g} % (MAX_DRAWDOWN_PCT)")
        if constraints.min_win_rate_pct is not None:
            limits.append(f"a win rate of at least {constraints.min_win_rate_pct:g} % (MIN_WIN_RATE_PCT)")
        most = result.trials["trades"].max() if "trades" in result.trials else float("nan")
        cli.console.print(
            f"no trial of {result.n_trials} met the constraints ({', '.join(limits)}) on the "
            f"{result.space.cadence} cadence's bars (the most trades: {most:g}), so the best is the current "
            "parameters; search more bars (--cadence weekly searches all of them) or see docs/optimizer.md",
            markup=False,
        )
