"""``tradeloop pr proposal``: a contract-2 proposal rebuilt from a pull request, for confirmatory validation.

The pull request's head ``config/constants.py`` is read as text (``ast``, never imported) and compared with
its merge base's: the one live strategy/symbol whose parameters differ becomes the proposal, with
``params_before`` from the base and ``params_after`` from the head. KPIs before and after are re-backtested
with the base's code on the bars the caller loads; the candidate set is the head's parameters alone, so the
multiple-testing figures count the one hypothesis the pull request puts forward.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from gitops._constants import CONSTANTS_FILE, LiveConstants, parse_constants
from gitops._forge import Forge, PullRequest
from gitops._git import run_git
from tradeloop.errors import ProposalError

__all__ = ["PrConstants", "changed_live_pair", "pr_constants", "proposal_from_pr"]


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


def proposal_from_pr(
    found: PrConstants,
    *,
    bars: pd.DataFrame,
    data: Mapping[str, Any],
    cadence: str,
    run_id: str,
    git_sha: str,
    now: datetime,
) -> dict[str, Any]:
    """The contract-2 proposal of ``found``'s change, backtested on ``bars`` (the cadence window is cut here).

    ``data`` holds ``source``, ``timeframe`` and ``data_hash`` of the loaded source.
    """
    from backtest_matrix.engine import EngineConfig, backtest, periods_per_year
    from backtest_matrix.regimes import detect_regimes
    from backtest_matrix.strategies import get_strategy
    from optimizer import BoundedProposal, Guardrails, build_proposal, cadence_window, kpi_block

    where = f"pull request #{found.pr.number}"
    strategy, symbol, timeframe = changed_live_pair(found.base, found.head, where)
    cls = get_strategy(strategy)
    before = cls.resolve(_params(found.base.live_params[strategy][symbol]))
    after = cls.resolve(_params(found.head.live_params[strategy][symbol]))
    window = cadence_window(bars, cadence)
    config = EngineConfig(fee_bps=found.base.fee_bps, slippage_bps=found.base.slippage_bps)
    run_before, run_after = (backtest(window, strategy, params, config=config) for params in (before, after))
    labels = detect_regimes(window).labels
    per_year = periods_per_year(pd.DatetimeIndex(window.index).as_unit("ns").asi8)
    gain = float(run_after.kpis["sharpe"]) - float(run_before.kpis["sharpe"])
    changes = _changes(found.base, cls, before, after, gain, where)
    return build_proposal(
        bounded=BoundedProposal("proposed", None, before, after, changes),
        header={
            "run_id": run_id,
            "git_sha": git_sha,
            "created_at": now.isoformat(),
            "strategy": strategy,
            "symbol": symbol,
            "timeframe": timeframe,
            "cadence": cadence,
        },
        data={
            **data,
            "bars": len(window),
            "start": window.index[0].isoformat(),
            "end": window.index[-1].isoformat(),
        },
        kpis_before=kpi_block(run_before.kpis, run_before.returns, labels, per_year),
        kpis_after=kpi_block(run_after.kpis, run_after.returns, labels, per_year),
        flags=[],
        summary=f"Confirmatory validation of {where} (head {found.head_sha[:12]}): "
        + ", ".join(f"{c.parameter} {c.current:g} -> {c.proposed:g}" for c in changes)
        + ".",
        search={
            "sampler": "pull-request",
            "objective": "sharpe",
            "trials": 1,
            "n_effective_trials": 1,
            "seed": 0,
            "study": f"pr-{found.pr.number}",
            "storage": "none",
        },
        candidates=[{"params": after, "objective": float(run_after.kpis["sharpe"])}],
        guardrails=Guardrails(
            max_delta=found.base.optimizer_max_delta,
            max_knobs=found.base.optimizer_max_knobs,
            cooldown_hours=found.base.optimizer_cooldown_hours,
            change_budget=found.base.optimizer_change_budget,
            budget_window_hours=found.base.optimizer_budget_window_hours,
        ).as_dict(),
        config_hashes=(found.base.config_hash, found.head.config_hash),
    )


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
