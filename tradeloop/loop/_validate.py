"""``validate`` as a call: the confirmatory validation of a proposal, its verdict written and recorded.

The proposal arrives typed (from :func:`propose` in the same process, or read once from ``proposal.json``
by :func:`read_for_validation`). Its bars are loaded again from its data source (or handed over by the
caller) and checked against its data hash; the thresholds come from ``config/constants.py``; earlier
validations that looked at the same holdout are counted from the warehouse, and this one is recorded there.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeloop._atomic import atomic_write_text
from tradeloop._provenance import Provenance, data_hash, json_safe
from tradeloop._settings import Settings
from tradeloop.documents import Proposal, Verdict
from tradeloop.errors import ValidationError
from tradeloop.loop._common import QUIET, Feedback, load_source

if TYPE_CHECKING:
    import pandas as pd

    from backtest_matrix.data import LoadedBars
    from optimizer import SearchRecord

__all__ = [
    "VALIDATE_KIND",
    "ValidateOptions",
    "ValidateResult",
    "earlier_looks",
    "proposal_bars",
    "read_for_validation",
    "validate",
    "validate_file",
]

VALIDATE_KIND = "validate"


@dataclass(frozen=True)
class ValidateOptions:
    """Where the verdict goes and how validation runs (``tradeloop validate``'s options)."""

    out: Path | None = None
    seed: int = 0
    reps: int | None = None
    capital_usd: float | None = None


@dataclass(frozen=True)
class ValidateResult:
    """The verdict and the files it was written to (``verdict.json``, ``verdict.md``)."""

    verdict: Verdict
    verdict_path: Path
    markdown_path: Path

    def to_json(self) -> dict[str, Any]:
        """``tradeloop validate --json``."""
        verdict = self.verdict
        return {
            "ok": True,
            "decision": verdict.decision,
            "summary": verdict.summary,
            "proposal_hash": verdict.proposal_hash,
            "verdict": str(self.verdict_path),
            "markdown": str(self.markdown_path),
            "gates": [gate.as_dict() for gate in verdict.gates],
        }


def read_for_validation(
    path: Path, search_record: Path | None = None
) -> tuple[Proposal, SearchRecord | None]:
    """The proposal in ``path`` and the search record it names (``search_record``, else the file beside it),
    checked against the SHA-256 the proposal names; None when it names none."""
    proposal = Proposal.read(path)
    return proposal, search_record_of(proposal, search_record)


def search_record_of(proposal: Proposal, given: Path | None = None) -> SearchRecord | None:
    """The search record ``proposal`` names, read from ``given`` or beside the proposal's file."""
    from optimizer import SearchRecord

    reference = proposal.search_record
    if reference is None:
        if given is not None:
            raise ValidationError(
                f"{proposal.source}: search_record is null, so --search-record {given} cannot be its record; "
                "re-run `tradeloop propose` to get a proposal with a search record"
            )
        return None
    path = given or Path(proposal.source).parent / reference.path
    if not path.is_file():
        raise ValidationError(
            f"{proposal.source}: names the search record {reference.path!r} (SHA-256 "
            f"{reference.sha256[:16]}…) but {path} does not exist; pass --search-record PATH (the "
            "optimizer job uploads it with the proposal) or re-run `tradeloop propose`"
        )
    return SearchRecord.read(path, expected_sha256=reference.sha256)


def validate_file(
    settings: Settings,
    proposal: Path,
    search_record: Path | None = None,
    options: ValidateOptions = ValidateOptions(),
    feedback: Feedback = QUIET,
) -> ValidateResult:
    """:func:`validate` on a ``proposal.json`` file and the search record it names (each read and checked
    once here; see :func:`read_for_validation`)."""
    parsed, record = read_for_validation(proposal, search_record)
    return validate(settings, parsed, record, options, feedback=feedback)


def validate(
    settings: Settings,
    proposal: Proposal,
    record: SearchRecord | None,
    options: ValidateOptions = ValidateOptions(),
    *,
    bars: LoadedBars | None = None,
    feedback: Feedback = QUIET,
) -> ValidateResult:
    """Validate ``proposal``: holdout test and StepM, DSR/PBO of the search, re-optimising walk-forward.

    ``bars`` are the proposal's source as loaded by the caller (``propose`` in the same process); without
    them the source is loaded again. Either way they must hash to the proposal's data hash. The verdict is
    written to ``options.out`` (default: the proposal's folder) and recorded in the warehouse.
    """
    from gitops import load_constants
    from validation import Thresholds, require_validatable, validate_proposal, verdict_markdown

    require_validatable(proposal)  # before the bars load: a proposal with nothing to judge stops here
    constants = load_constants(settings.constants_path)
    capital = constants.trading_capital_usd if options.capital_usd is None else options.capital_usd
    thresholds = Thresholds.from_constants(constants.guardrails, capital_usd=capital)
    window = proposal_bars(settings, proposal, bars)
    looks = earlier_looks(settings, proposal, window)
    console = feedback.console
    with (
        console.status("validating")
        if console is not None and feedback.progress
        else contextlib.nullcontext()
    ):
        verdict = validate_proposal(
            proposal, window, thresholds, search_record=record, seed=options.seed, reps=options.reps,
            earlier_looks=looks,
        )  # fmt: skip
    record_look(settings, proposal, verdict, options.seed)
    out_dir = options.out or Path(proposal.source).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    verdict_path, markdown_path = out_dir / "verdict.json", out_dir / "verdict.md"
    atomic_write_text(
        verdict_path, json.dumps(json_safe(verdict.to_json()), indent=2, allow_nan=False) + "\n"
    )
    atomic_write_text(markdown_path, verdict_markdown(verdict))
    return ValidateResult(verdict, verdict_path, markdown_path)


def proposal_bars(settings: Settings, proposal: Proposal, loaded: LoadedBars | None = None) -> pd.DataFrame:
    """The proposal's bars: its source and timeframe, checked against its data hash, cut to start..end.

    The hash may be of the whole source (``tradeloop propose`` hashes what it loaded, then optimises on a
    cadence window) or of the start..end window; either must match.
    """
    import pandas as pd

    data, where = proposal.data, proposal.source
    if loaded is None or (loaded.source, loaded.timeframe) != (data.source, data.timeframe):
        loaded = load_source(settings, data.source, data.timeframe, seed=int(data.extra.get("seed", 0)))
    start, end = (_timestamp(getattr(data, key), f"{where}: data.{key}") for key in ("start", "end"))
    window = loaded.bars.loc[(loaded.bars.index >= start) & (loaded.bars.index <= end)]
    expected = data.data_hash
    window_hash = data_hash(window) if len(window) else "no bars"
    if expected not in (loaded.data_hash, window_hash):
        raise ValidationError(
            f"{where}: data.data_hash is {expected!r} but {data.source} ({data.timeframe}) hashes to "
            f"{loaded.data_hash!r} ({window_hash!r} from {start} to {end}); the data changed since the "
            "proposal was made; re-run `tradeloop propose`"
        )
    if data.bars != len(window):
        raise ValidationError(
            f"{where}: data.bars is {data.bars!r} but {data.source} has {len(window)} bars from "
            f"{start} to {end}; re-run `tradeloop propose`"
        )
    return pd.DataFrame(window)


def earlier_looks(settings: Settings, proposal: Proposal, bars: pd.DataFrame) -> int:
    """Validations of the same pair recorded in the warehouse whose holdout overlaps this one."""
    from validation import split_at_holdout
    from warehouse import get_warehouse

    _, holdout = split_at_holdout(bars, proposal)
    start, end = holdout.index[0].isoformat(), holdout.index[-1].isoformat()
    with get_warehouse(settings.warehouse_url) as warehouse:
        runs = warehouse.runs(VALIDATE_KIND)
    pair = (proposal.strategy, proposal.symbol, proposal.timeframe)
    return sum(
        1
        for run in runs
        if run.params
        and (run.params.get("strategy"), run.params.get("symbol"), run.params.get("timeframe")) == pair
        and str(run.params.get("holdout_start")) <= end
        and str(run.params.get("holdout_end")) >= start
    )


def record_look(settings: Settings, proposal: Proposal, verdict: Verdict, seed: int) -> None:
    """Record this validation (its holdout bars and decision), so later ones can count repeated looks."""
    from warehouse import get_warehouse

    provenance = Provenance.capture(settings.repo)
    params = {
        "strategy": proposal.strategy, "symbol": proposal.symbol, "timeframe": proposal.timeframe,
        "proposal_hash": proposal.proposal_hash, "holdout_start": verdict.holdout["start"],
        "holdout_end": verdict.holdout["end"], "decision": verdict.decision,
        "holdout_delta_sharpe": verdict.effect_size.get("delta_sharpe"),
        "holdout_delta_return_pct": _return_difference(verdict),
    }  # fmt: skip
    with get_warehouse(settings.warehouse_url) as warehouse:
        run_id = warehouse.start_run(
            VALIDATE_KIND, git_sha=provenance.git_sha, run_id=provenance.run_id,
            data_hash=proposal.data.data_hash, seed=seed, params=params,
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


def _return_difference(verdict: Verdict) -> float | None:
    """The candidate's holdout return minus the live parameters', in percentage points."""
    after = verdict.kpis.get("candidate", {}).get("return_pct")
    before = verdict.kpis.get("baseline", {}).get("return_pct")
    return None if after is None or before is None else float(after) - float(before)
