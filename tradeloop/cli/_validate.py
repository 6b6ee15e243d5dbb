"""``tradeloop validate``: confirmatory validation of a proposal; exit 0 on pass, 1 on fail, 2 on error."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from tradeloop._atomic import atomic_write_text
from tradeloop._provenance import data_hash, json_safe
from tradeloop.cli._context import CliContext, get_context
from tradeloop.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from optimizer import SearchRecord
    from validation import ProposalInput, Verdict

__all__ = ["validate"]

EXIT_FAIL = 1


def validate(
    ctx: typer.Context,
    proposal: Annotated[
        Path,
        typer.Option("--proposal", help="The proposal.json written by `tradeloop propose`.", dir_okay=False),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Directory for verdict.json and verdict.md. (default: the proposal's folder)"
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the bootstraps and the walk-forward search.")
    ] = 0,
    reps: Annotated[
        int | None,
        typer.Option("--reps", help="Bootstrap replications. (default: BOOTSTRAP_REPLICATIONS)", min=10),
    ] = None,
    capital_usd: Annotated[
        float | None,
        typer.Option(
            "--capital-usd",
            help="Capital the bot trades: the backtests' initial cash, and the base that turns the worst "
            "day's % loss into USD for the MAX_DAILY_LOSS_USD gate. (default: TRADING_CAPITAL_USD)",
        ),
    ] = None,
    search_record: Annotated[
        Path | None,
        typer.Option(
            "--search-record",
            help="The search record the proposal names (checked against its SHA-256). "
            "(default: search_record.path beside the proposal)",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Validate a proposal: holdout test and StepM, DSR/PBO of the search, re-optimising walk-forward."""
    from gitops import load_constants
    from validation import Thresholds, load_proposal, validate_proposal

    cli = get_context(ctx)
    parsed = load_proposal(proposal)
    record = _search_record(parsed, proposal, search_record)
    constants = load_constants(cli.settings.constants_path)
    capital = constants.trading_capital_usd if capital_usd is None else capital_usd
    thresholds = Thresholds.from_constants(constants.guardrails, capital_usd=capital)
    bars = _proposal_bars(cli, parsed, str(proposal))
    looks = earlier_looks(cli, parsed, bars)
    status = contextlib.nullcontext() if cli.json_output else cli.console.status("validating")
    with status:
        verdict = validate_proposal(
            parsed, bars, thresholds, search_record=record, seed=seed, reps=reps, earlier_looks=looks
        )
    record_look(cli, parsed, verdict, seed)
    paths = _write(verdict, out or proposal.parent)
    _report(cli, verdict, paths)
    if not verdict.passed:
        raise typer.Exit(EXIT_FAIL)


def _proposal_bars(cli: CliContext, parsed: ProposalInput, where: str) -> pd.DataFrame:
    """The proposal's bars: its source and timeframe, checked against its data hash, cut to start..end.

    The hash may be of the whole source (``tradeloop propose`` hashes what it loaded, then optimises on a
    cadence window) or of the start..end window; either must match.
    """
    import pandas as pd

    from tradeloop.cli._data import _load

    data = parsed.data
    loaded = _load(
        cli, data["source"], check=True, timeframe=data["timeframe"], days=None, bars=None,
        seed=int(data.get("seed", 0)), start=None, mapping=None, timestamp_column=None, unit="auto", tz="UTC",
    )  # fmt: skip
    start, end = (_timestamp(data[key], f"{where}: data.{key}") for key in ("start", "end"))
    window = loaded.bars.loc[(loaded.bars.index >= start) & (loaded.bars.index <= end)]
    expected = data["data_hash"]
    window_hash = data_hash(window) if len(window) else "no bars"
    if expected not in (loaded.data_hash, window_hash):
        raise ValidationError(
            f"{where}: data.data_hash is {expected!r} but {data['source']} ({data['timeframe']}) hashes to "
            f"{loaded.data_hash!r} ({window_hash!r} from {start} to {end}); the data changed since the "
            "proposal was made; re-run `tradeloop propose`"
        )
    if "bars" in data and data["bars"] != len(window):
        raise ValidationError(
            f"{where}: data.bars is {data['bars']!r} but {data['source']} has {len(window)} bars from "
            f"{start} to {end}; re-run `tradeloop propose`"
        )
    return pd.DataFrame(window)


def _search_record(parsed: ProposalInput, proposal: Path, given: Path | None) -> SearchRecord | None:
    """The search record the proposal names, checked against its SHA-256; None when it names none."""
    from optimizer import SearchRecord

    reference = parsed.search_record
    if reference is None:
        if given is not None:
            raise ValidationError(
                f"{proposal}: search_record is null, so --search-record {given} cannot be its record; "
                "re-run `tradeloop propose` to get a proposal with a search record"
            )
        return None
    path = given or proposal.parent / reference["path"]
    if not path.is_file():
        raise ValidationError(
            f"{proposal}: names the search record {reference['path']!r} (SHA-256 "
            f"{reference['sha256'][:16]}…) but {path} does not exist; pass --search-record PATH (the "
            "optimizer job uploads it with the proposal) or re-run `tradeloop propose`"
        )
    return SearchRecord.read(path, expected_sha256=reference["sha256"])


VALIDATE_KIND = "validate"


def earlier_looks(cli: CliContext, parsed: ProposalInput, bars: pd.DataFrame) -> int:
    """Validations of the same pair recorded in the warehouse whose holdout overlaps this one."""
    from validation import split_at_holdout
    from warehouse import get_warehouse

    _, holdout = split_at_holdout(bars, parsed)
    start, end = holdout.index[0].isoformat(), holdout.index[-1].isoformat()
    with get_warehouse(cli.settings.warehouse_url) as warehouse:
        runs = warehouse.runs(VALIDATE_KIND)
    pair = (parsed.strategy, parsed.symbol, parsed.timeframe)
    return sum(
        1
        for run in runs
        if run.params
        and (run.params.get("strategy"), run.params.get("symbol"), run.params.get("timeframe")) == pair
        and str(run.params.get("holdout_start")) <= end
        and str(run.params.get("holdout_end")) >= start
    )


def record_look(cli: CliContext, parsed: ProposalInput, verdict: Verdict, seed: int) -> None:
    """Record this validation (its holdout bars and decision), so later ones can count repeated looks."""
    from tradeloop._provenance import Provenance
    from warehouse import get_warehouse

    provenance = Provenance.capture(cli.settings.repo)
    params = {
        "strategy": parsed.strategy, "symbol": parsed.symbol, "timeframe": parsed.timeframe,
        "proposal_hash": parsed.proposal_hash, "holdout_start": verdict.holdout["start"],
        "holdout_end": verdict.holdout["end"], "decision": verdict.decision,
    }  # fmt: skip
    with get_warehouse(cli.settings.warehouse_url) as warehouse:
        run_id = warehouse.start_run(
            VALIDATE_KIND, git_sha=provenance.git_sha, run_id=provenance.run_id,
            data_hash=parsed.data["data_hash"], seed=seed, params=params,
        )  # fmt: skip
        warehouse.finish_run(run_id, "ok", notes=verdict.summary)


def _timestamp(text: str, where: str) -> Any:
    import pandas as pd

    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise ValidationError(
            f"{where} {text!r} is not an ISO-8601 time; e.g. 2018-12-31T00:00:00+00:00"
        ) from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _write(verdict: Verdict, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"verdict": out_dir / "verdict.json", "markdown": out_dir / "verdict.md"}
    text = json.dumps(json_safe(verdict.to_json()), indent=2, allow_nan=False) + "\n"
    atomic_write_text(paths["verdict"], text)
    atomic_write_text(paths["markdown"], verdict.to_markdown())
    return paths


def _report(cli: CliContext, verdict: Verdict, paths: dict[str, Path]) -> None:
    if cli.json_output:
        cli.emit_json(
            {
                "ok": True,
                "decision": verdict.decision,
                "summary": verdict.summary,
                "proposal_hash": verdict.proposal_hash,
                "verdict": str(paths["verdict"]),
                "markdown": str(paths["markdown"]),
                "gates": [gate.as_dict() for gate in verdict.gates],
            }
        )
        return
    table = Table(
        "gate", "bars", "figure", "threshold", "result", title=f"verdict: {verdict.decision.upper()}"
    )
    for gate in verdict.gates:
        figure = "n/a" if gate.figure is None else f"{gate.figure:.3g} {gate.unit}"
        result = ("pass" if gate.passed else "FAIL") + ("" if gate.gating else " (info)")
        table.add_row(gate.name, gate.bars, figure, f"{gate.op} {gate.threshold:.3g}", result)
    cli.console.print(table)
    cli.console.print(f"{verdict.summary}; written to {paths['verdict']} and {paths['markdown']}")
