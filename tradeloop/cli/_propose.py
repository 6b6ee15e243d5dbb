"""``tradeloop propose``: a bounded, re-backtested parameter proposal for one live strategy/symbol."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from tradeloop._atomic import atomic_write_text
from tradeloop._provenance import Provenance, json_safe
from tradeloop.cli._checks import check_options_first
from tradeloop.cli._context import CliContext, get_context, quiet_optuna
from tradeloop.errors import OptimizerError

if TYPE_CHECKING:
    from gitops import GuardrailMemory, LiveConstants
    from optimizer import CellAnalysis, ProposalOutcome

__all__ = ["propose"]


def _live_entry(constants: LiveConstants, strategy: str, symbol: str, timeframe: str) -> dict[str, Any]:
    entry = constants.live_params.get(strategy, {}).get(symbol)
    if entry is None:
        live = sorted(f"{s}/{x}" for s, symbols in constants.live_params.items() for x in symbols)
        raise OptimizerError(
            f"LIVE_PARAMS has no entry {strategy}/{symbol}; propose works on live pairs ({', '.join(live)}); "
            "add the pair to config/constants.py through a pull request first"
        )
    if entry.get("timeframe") != timeframe:
        raise OptimizerError(
            f"--timeframe {timeframe!r} differs from LIVE_PARAMS.{strategy}.{symbol}.timeframe "
            f"{entry.get('timeframe')!r}; pass --timeframe {entry.get('timeframe')}"
        )
    return dict(entry)


def _source(constants: LiveConstants, symbol: str, data: str | None, matrix: Path | None) -> str:
    if data:
        return data
    from backtest_matrix.matrix import DEFAULT_MATRIX_PATH, load_matrix_spec

    spec = load_matrix_spec(matrix or DEFAULT_MATRIX_PATH, live_params=constants.live_params)
    if symbol not in spec.sources:
        raise OptimizerError(
            f"{spec.source}: symbols has no data source for {symbol!r}; add it there or pass --data SOURCE"
        )
    return str(spec.sources[symbol])


def guardrail_history(cli: CliContext, base: str, forge: str | None) -> GuardrailMemory:
    """The guardrail memory the cooldown, the change budget and the refusals are read from: the history of
    the live state on ``base`` and the forge's closed pull requests, never the warehouse (which only mirrors
    them), so it holds on a fresh runner."""
    from tradeloop.cli._memory import guardrail_memory, reading_forge

    return guardrail_memory(cli, base=base, forge=reading_forge(cli, forge))


def _analysis(cli: CliContext, strategy: str, symbol: str, timeframe: str) -> CellAnalysis:
    from optimizer import analyze_history
    from warehouse import get_warehouse

    with get_warehouse(cli.settings.warehouse_url) as warehouse:
        history = warehouse.backtest_history(strategy, symbol, timeframe)
        regimes = warehouse.regime_history(symbol, timeframe)
    return analyze_history(
        history, strategy=strategy, symbol=symbol, timeframe=timeframe, regime_history=regimes
    )


def _config_hasher(constants: LiveConstants, strategy: str, symbol: str, entry: Mapping[str, Any]) -> Any:
    """Config hash of the whole constants file with this pair's changed parameters replaced (gitops-style).

    A parameter enters the live entry only when it differs from the live value (or, for a parameter the
    entry leaves at its default, from the default), so the hash of the live set is the file's own.
    """
    from backtest_matrix.strategies import get_strategy

    cls = get_strategy(strategy)
    baseline = cls.resolve({k: v for k, v in entry.items() if k != "timeframe"})
    ints = {param.name for param in cls.space() if param.kind == "int"}

    def hash_of(params: Mapping[str, float]) -> str:
        updated = dict(entry)
        for name, value in params.items():
            if value != baseline.get(name):
                # As gitops writes it: an int parameter is written as an int, whether or not it was live.
                updated[name] = int(value) if name in ints else value
        live = {s: {x: dict(p) for x, p in symbols.items()} for s, symbols in constants.live_params.items()}
        live[strategy][symbol] = updated
        return dataclasses.replace(constants, live_params=live).config_hash

    return hash_of


def propose(
    ctx: typer.Context,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="A live strategy.")],
    symbol: Annotated[str, typer.Option("--symbol", help="A live symbol of that strategy.")],
    timeframe: Annotated[str, typer.Option("--timeframe", "-t", help="Its live bar timeframe.")],
    cadence: Annotated[str, typer.Option("--cadence", help="6h, daily or weekly.")],
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the proposal JSON (.md beside it).")
    ] = Path("proposal.json"),
    trials: Annotated[int, typer.Option("--trials", min=1, help="Stage B trials.")] = 50,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the search.")] = 0,
    storage: Annotated[
        str | None,
        typer.Option("--storage", help="Optuna storage URL or 'memory'. \\[default: SQLite in home]"),
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Data source. \\[default: matrix.yaml symbols]")
    ] = None,
    objective: Annotated[str, typer.Option("--objective", help="Objective to maximise.")] = "sharpe",
    sampler: Annotated[str, typer.Option("--sampler", help="tpe, gp, cmaes, nsga2 or skopt-gp.")] = "tpe",
    matrix: Annotated[
        Path | None, typer.Option("--matrix", help="Matrix definition for the data sources.", dir_okay=False)
    ] = None,
    base: Annotated[
        str, typer.Option("--base", help="Branch whose history holds the cooldowns, budgets and rollbacks.")
    ] = "HEAD",
    forge: Annotated[
        str | None,
        typer.Option(
            "--forge",
            help="github or local: whose closed PRs count as declined. \\[default: auto]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Analyse, search, bound and re-backtest: write proposal.json (contract 2) and proposal.md."""
    from backtest_matrix.engine import EngineConfig
    from gitops import guardrails_from, load_constants
    from optimizer import (
        CADENCE_HOURS,
        ProposalRequest,
        default_storage_url,
        make_proposal,
    )
    from tradeloop.cli._data import _load
    from tradeloop.cli._memory import settle_proposal

    cli = get_context(ctx)
    quiet_optuna(cli)
    if cadence not in CADENCE_HOURS:
        raise OptimizerError(f"--cadence {cadence!r} is unknown; use one of {', '.join(CADENCE_HOURS)}")
    check_options_first(out, objective, sampler, storage or default_storage_url(cli.settings.home))
    constants = load_constants(cli.settings.constants_path)
    entry = _live_entry(constants, strategy, symbol, timeframe)
    source = _source(constants, symbol, data, matrix)
    loaded = _load(
        cli, source, check=True, timeframe=timeframe, days=None, bars=None, seed=0, start=None,
        mapping=None, timestamp_column=None, unit="auto", tz="UTC",
    )  # fmt: skip
    analysis = _analysis(cli, strategy, symbol, timeframe)
    memory = guardrail_history(cli, base, forge)
    provenance = Provenance.capture(cli.settings.repo)
    run_dir = cli.settings.run_dir(provenance.run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    request = ProposalRequest(
        strategy=strategy, symbol=symbol, timeframe=timeframe, cadence=cadence, bars=loaded.bars,
        data={"source": loaded.source, "timeframe": loaded.timeframe, "data_hash": loaded.data_hash},
        current={k: v for k, v in entry.items() if k != "timeframe"}, run_id=provenance.run_id,
        git_sha=provenance.git_sha, now=cli.settings.current_time(), objective=objective, sampler=sampler,
        trials=trials,
        seed=seed, storage=storage or default_storage_url(cli.settings.home), out_dir=run_dir / "search",
        study_name=f"{strategy}-{symbol}-{timeframe}-{cadence}-{objective}-{sampler}-s{seed}-{loaded.data_hash[:12]}"
        f"-h{constants.validation_holdout_fraction:g}",
        record_name=f"{out.stem}.search_record.json.gz",
    )  # fmt: skip
    guardrails = guardrails_from(constants)
    outcome = make_proposal(
        request, guardrails=guardrails, history=memory.applied_changes(), flags=analysis.flags,
        has_history=not analysis.nights.empty,
        engine_config=EngineConfig(fee_bps=constants.fee_bps, slippage_bps=constants.slippage_bps),
        config_hash_of=_config_hasher(constants, strategy, symbol, entry),
        progress=not cli.json_output, console=cli.console,
    )  # fmt: skip
    outcome = dataclasses.replace(outcome, document=settle_proposal(cli, outcome.document, memory))
    _write(cli, outcome, out, run_dir)


def _write(cli: CliContext, outcome: ProposalOutcome, out: Path, run_dir: Path) -> None:
    """proposal.json, proposal.md and the search record, beside ``out`` and in the run directory."""
    from optimizer import render_proposal_markdown

    proposal = outcome.document
    text = json.dumps(json_safe(proposal), indent=2, allow_nan=False) + "\n"
    markdown = render_proposal_markdown(proposal)
    markdown_path = out.with_suffix(".md")
    for folder in (out.parent, run_dir):
        folder.mkdir(parents=True, exist_ok=True)
        if outcome.record is not None:
            outcome.record.write(folder / proposal["search_record"]["path"])
    for path, content in ((out, text), (markdown_path, markdown)):
        atomic_write_text(path, content)
    atomic_write_text(run_dir / "proposal.json", text)
    atomic_write_text(run_dir / "proposal.md", markdown)
    summary = {
        "ok": True, "status": proposal["status"], "reason": proposal["reason"],
        "proposal_hash": proposal["proposal_hash"], "proposal": str(out), "markdown": str(markdown_path),
        "run_id": proposal["run_id"], "changes": proposal["changes"],
    }  # fmt: skip
    if cli.json_output:
        cli.emit_json(summary)
        return
    table = Table("parameter", "current", "proposed", "Δ %", "cap %", "bound", "binding", title="proposal")
    for c in proposal["changes"]:
        table.add_row(
            c["parameter"], f"{c['current']:g}", f"{c['proposed']:g}", f"{c['delta_pct']:+.2f}",
            f"±{c['cap_pct']:g}", c["bound"], c["binding"],
        )  # fmt: skip
    cli.console.print(proposal["rationale"]["summary"])
    if proposal["changes"]:
        cli.console.print(table)
    cli.console.print(f"{proposal['status']}: written to {out} and {markdown_path}")
