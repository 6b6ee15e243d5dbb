"""``tradeloop pr proposal``: a contract-2 proposal rebuilt from a pull request, for confirmatory validation.

The pull request's head ``config/constants.py`` is read as text (``ast``, never imported) and compared with
its merge base's: the one live strategy/symbol whose parameters differ becomes the proposal, with
``params_before`` from the base and ``params_after`` from the head. KPIs before and after are re-backtested
with the base's code on the bars the caller loads.

An optimizer pull request carries, in its hidden metadata (:func:`gitops.validation_metadata`), the bars,
the holdout boundary, the search settings and the search record's SHA-256. The rebuilt proposal then uses
the same window and holdout, and the record is restored (:func:`restore_search_record`): from a file the
caller passes (the optimizer job's artifact), or by rerunning the same seeded search on the same search
bars, accepted only when its SHA-256 matches. A pull request without one (a person's change, or a record
that cannot be restored) is judged on the holdout alone, and the proposal says so; it never pretends the
search tried one configuration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from backtest_matrix.strategies import get_strategy
from gitops._constants import CONSTANTS_FILE, LiveConstants, parse_constants
from gitops._forge import Forge, PullRequest
from gitops._git import run_git
from gitops._pr_body import parse_pr_metadata
from tradeloop.errors import ProposalError

if TYPE_CHECKING:
    from optimizer import Guardrails, HoldoutSplit, SearchRecord, SearchSettings
    from tradeloop.documents import Proposal

__all__ = [
    "PrConstants",
    "RebuiltProposal",
    "changed_live_pair",
    "guardrails_from",
    "pr_constants",
    "proposal_from_pr",
    "restore_search_record",
]


@dataclass(frozen=True)
class PrConstants:
    """A pull request with its merge base's and its head's live constants."""

    pr: PullRequest
    base_sha: str
    head_sha: str
    base: LiveConstants
    head: LiveConstants


def pr_constants(forge: Forge, number: int, *, base: str | None = None) -> PrConstants:
    """Fetch pull request ``number`` and parse ``config/constants.py`` at its merge base and its head."""
    pr = forge.get_pr(number)
    base_sha = forge.resolve(base or pr.base)
    head_sha = forge.resolve(pr.branch)
    merge_base = run_git(forge.repo, "merge-base", base_sha, head_sha, what="git merge-base")
    texts = {sha: forge.read_file(sha, CONSTANTS_FILE.as_posix()) for sha in (merge_base, head_sha)}
    for sha, side in ((merge_base, "base"), (head_sha, "head")):
        if texts[sha] is None:
            raise ProposalError(
                f"pr proposal #{number}: the {side} ({sha[:12]}) has no {CONSTANTS_FILE}; "
                "only pull requests that change the live state can be validated"
            )
    return PrConstants(
        pr=pr,
        base_sha=merge_base,
        head_sha=head_sha,
        base=parse_constants(str(texts[merge_base]), f"base {CONSTANTS_FILE}"),
        head=parse_constants(str(texts[head_sha]), f"head {CONSTANTS_FILE}"),
    )


def changed_live_pair(base: LiveConstants, head: LiveConstants, where: str) -> tuple[str, str, str]:
    """The one ``(strategy, symbol, timeframe)`` whose live parameters differ between base and head."""
    changed = sorted(
        (strategy, symbol)
        for strategy, by_symbol in head.live_params.items()
        for symbol, params in by_symbol.items()
        if base.live_params.get(strategy, {}).get(symbol) not in (None, params)
    )
    if len(changed) != 1:
        found = ", ".join(f"{s}/{y}" for s, y in changed) or "none"
        raise ProposalError(
            f"{where}: LIVE_PARAMS changes for {len(changed)} strategy/symbol pairs ({found}); a pull "
            "request to validate changes exactly one (the optimizer opens one per pair)"
        )
    strategy, symbol = changed[0]
    return strategy, symbol, str(head.live_params[strategy][symbol]["timeframe"])


def _params(entry: Mapping[str, Any]) -> dict[str, float]:
    return {name: value for name, value in entry.items() if name != "timeframe"}


@dataclass(frozen=True)
class RebuiltProposal:
    """The proposal of a pull request, and the search record restored for it (None: holdout alone)."""

    proposal: Proposal
    record: SearchRecord | None
    record_note: str


def proposal_from_pr(
    found: PrConstants,
    *,
    bars: pd.DataFrame,
    data: Mapping[str, Any],
    cadence: str,
    run_id: str,
    git_sha: str,
    now: datetime,
    record_file: Path | None = None,
) -> RebuiltProposal:
    """The proposal (contract 2) of ``found``'s change on ``bars`` (the whole loaded source).

    ``data`` holds ``source``, ``timeframe`` and ``data_hash`` of the loaded source. With the pull request's
    metadata the window and holdout are the optimizer's; otherwise the cadence window is cut at the base's
    ``VALIDATION_HOLDOUT_FRACTION``. ``record_file`` is a downloaded search record to use (checked against
    the SHA-256 the metadata names).
    """
    from backtest_matrix.engine import EngineConfig

    where = f"pull request #{found.pr.number}"
    strategy, symbol, _ = changed_live_pair(found.base, found.head, where)
    cls = get_strategy(strategy)
    before = cls.resolve(_params(found.base.live_params[strategy][symbol]))
    after = cls.resolve(_params(found.head.live_params[strategy][symbol]))
    metadata = parse_pr_metadata(found.pr.body) or {}
    config = EngineConfig(fee_bps=found.base.fee_bps, slippage_bps=found.base.slippage_bps)
    split = _split(found, bars, data, metadata, cadence)
    guardrails = guardrails_from(found.base)
    settings = _settings(metadata, metadata.get("cadence") or cadence)
    record, note = restore_search_record(
        metadata, split.search, strategy, before, settings, guardrails, config, record_file, where
    )
    proposal = _proposal(found, split, before, after, config, data, metadata.get("cadence") or cadence,
                         run_id, git_sha, now, guardrails, settings, record, note)  # fmt: skip
    return RebuiltProposal(proposal, record, note)


def guardrails_from(constants: LiveConstants) -> Guardrails:
    """The optimizer guardrails and hard constraints of a constants file (what ``tradeloop propose`` uses)."""
    from optimizer import Guardrails

    return Guardrails(
        max_delta=constants.optimizer_max_delta, max_knobs=constants.optimizer_max_knobs,
        cooldown_hours=constants.optimizer_cooldown_hours, change_budget=constants.optimizer_change_budget,
        budget_window_hours=constants.optimizer_budget_window_hours, min_trades=constants.min_trades,
        max_drawdown_pct=constants.max_drawdown_pct, min_win_rate_pct=constants.min_win_rate_pct,
        holdout_fraction=constants.validation_holdout_fraction,
    )  # fmt: skip


def _split(
    found: PrConstants, bars: pd.DataFrame, data: Mapping[str, Any], metadata: Mapping[str, Any], cadence: str
) -> HoldoutSplit:
    """The optimizer's window and holdout when the metadata names them for these bars, else the base's."""
    from optimizer import HoldoutSplit, cadence_window, split_holdout

    recorded, holdout = metadata.get("data") or {}, metadata.get("holdout") or {}
    if recorded.get("data_hash") == data.get("data_hash") and holdout.get("boundary"):
        stamps = pd.DatetimeIndex(bars.index)
        window = bars.loc[
            (stamps >= pd.Timestamp(recorded["start"])) & (stamps <= pd.Timestamp(recorded["end"]))
        ]
        boundary = pd.Timestamp(holdout["boundary"])
        inside = pd.DatetimeIndex(window.index)
        search, held = window.loc[inside < boundary], window.loc[inside >= boundary]
        if len(search) and len(held):
            return HoldoutSplit(search, held, float(holdout.get("fraction") or 0.0))
    return split_holdout(cadence_window(bars, cadence), found.base.validation_holdout_fraction)


def _settings(metadata: Mapping[str, Any], cadence: str) -> SearchSettings | None:
    from optimizer import SearchSettings

    settings = (metadata.get("search") or {}).get("settings")
    if not isinstance(settings, dict):
        return None
    try:
        return SearchSettings.from_dict({**settings, "cadence": cadence})
    except TypeError:
        return None


def restore_search_record(
    metadata: Mapping[str, Any],
    search_bars: pd.DataFrame,
    strategy: str,
    live: Mapping[str, float],
    settings: SearchSettings | None,
    guardrails: Guardrails,
    config: Any,
    record_file: Path | None,
    where: str,
) -> tuple[SearchRecord | None, str]:
    """The pull request's search record, and how it was restored (or why it was not).

    A given file must match the SHA-256 in the metadata. Without a file, the same seeded search is rerun on
    the same search bars in memory (Stage A and Stage B are deterministic for a seed and one worker) and
    kept only when its SHA-256 matches: a different record (other code, other data) would count another
    search.
    """
    from optimizer import Constraints, SearchRecord, run_search

    constraints = Constraints(
        min_trades=guardrails.min_trades, max_drawdown_pct=guardrails.max_drawdown_pct,
        min_win_rate_pct=guardrails.min_win_rate_pct,
    )  # fmt: skip
    reference = (metadata.get("search") or {}).get("record") or {}
    expected = reference.get("sha256")
    if not expected:
        return None, f"{where} names no search record: judged on the holdout alone"
    if record_file is not None:
        return SearchRecord.read(record_file, expected_sha256=expected), f"read from {record_file.name}"
    if settings is None:
        return None, f"{where} names no search settings to rerun: judged on the holdout alone"
    result = run_search(
        search_bars, strategy, dict(live), cadence=settings.cadence, objective=settings.objective,
        sampler=settings.sampler, trials=settings.trials, storage="memory", seed=settings.seed,
        top_k=settings.top_k, prescreen_n=settings.prescreen_n, prescreen_method=settings.prescreen_method,
        batch_size=settings.batch_size, engine_config=config, max_delta=guardrails.max_delta,
        constraints=constraints, keep_outputs=False,
    )  # fmt: skip
    digest = hashlib.sha256(result.record.to_bytes()).hexdigest()
    if digest != expected:
        return None, (
            f"the rerun search gave a record with SHA-256 {digest[:16]}…, not the {expected[:16]}… the "
            f"optimizer recorded (other code or data): judged on the holdout alone; pass --search-record "
            "with the optimizer job's artifact to count its search"
        )
    return result.record, f"restored by rerunning the seeded search ({len(result.record)} configurations)"


def _proposal(
    found: PrConstants, split: HoldoutSplit, before: dict[str, float], after: dict[str, float], config: Any,
    data: Mapping[str, Any], cadence: str, run_id: str, git_sha: str, now: datetime, guardrails: Guardrails,
    settings: SearchSettings | None, record: SearchRecord | None, note: str,
) -> Proposal:  # fmt: skip
    from backtest_matrix.engine import backtest, periods_per_year
    from backtest_matrix.regimes import detect_regimes
    from optimizer import BoundedProposal, build_proposal, kpi_block, record_reference

    where = f"pull request #{found.pr.number}"
    strategy, symbol, timeframe = changed_live_pair(found.base, found.head, where)
    window = split.search
    run_before, run_after = (backtest(window, strategy, params, config=config) for params in (before, after))
    labels = detect_regimes(window).labels
    per_year = periods_per_year(pd.DatetimeIndex(window.index).as_unit("ns").asi8)
    gain = float(run_after.kpis["sharpe"]) - float(run_before.kpis["sharpe"])
    changes = _changes(found.base, get_strategy(strategy), before, after, gain, where)
    moved = ", ".join(f"{c.parameter} {c.current:g} -> {c.proposed:g}" for c in changes)
    return build_proposal(
        bounded=BoundedProposal("proposed", None, before, after, changes),
        header={
            "run_id": run_id, "git_sha": git_sha, "created_at": now.isoformat(), "strategy": strategy,
            "symbol": symbol, "timeframe": timeframe, "cadence": cadence,
        },
        data={
            **data, "bars": len(split.search) + len(split.holdout), "start": window.index[0].isoformat(),
            "end": split.holdout.index[-1].isoformat(),
        },
        kpis_before=kpi_block(run_before.kpis, run_before.returns, labels, per_year),
        kpis_after=kpi_block(run_after.kpis, run_after.returns, labels, per_year),
        flags=[],
        summary=f"Confirmatory validation of {where} (head {found.head_sha[:12]}): {moved}. Search record: "
        f"{note}.",
        search={
            "sampler": settings.sampler if settings else "pull-request",
            "objective": settings.objective if settings else "sharpe",
            "trials": len(record) if record is not None else None, "n_effective_trials": None,
            "seed": settings.seed if settings else None, "study": f"pr-{found.pr.number}", "storage": "none",
            "settings": settings.as_dict() if settings else None, "record_note": note,
        },
        candidates=[],
        guardrails=guardrails.as_dict(),
        config_hashes=(found.base.config_hash, found.head.config_hash),
        holdout=split.as_dict(),
        search_record=record_reference(record, "search_record.json.gz"),
    )  # fmt: skip


def _changes(
    base: LiveConstants, cls: Any, before: Mapping[str, float], after: Mapping[str, float], gain: float,
    where: str,
) -> list[Any]:  # fmt: skip
    from optimizer import ParamChange

    space = {param.name: param for param in cls.space()}
    changes = []
    for name in sorted(n for n in after if after[n] != before.get(n)):
        param, current, proposed = space[name], float(before[name]), float(after[name])
        scale = abs(current) if current != 0 else param.high - param.low
        changes.append(
            ParamChange(
                parameter=name,
                current=current,
                proposed=proposed,
                delta_pct=(proposed - current) / scale * 100.0 if scale > 0 else 0.0,
                cap_pct=float(min(base.optimizer_max_delta * 100.0, param.max_step_pct)),
                bound=f"[{param.low:g}, {param.high:g}]",
                binding="none",
                expected_gain=gain,
                rationale=f"set by {where}; expected gain is the whole change's Sharpe difference",
            )
        )
    if not changes:
        raise ProposalError(f"{where}: the live parameters differ in form only; nothing to validate")
    return changes
