"""What validation asks of a proposal beyond its contract: something to judge, and the holdout it needs.

The proposal arrives typed and checked (:class:`tradeloop.documents.Proposal`, one parser for every stage);
these are validation's own preconditions, each failing with the proposal's source, the field, the value and
the fix.
"""

from __future__ import annotations

import pandas as pd

from optimizer import Guardrails, SearchSettings
from tradeloop.documents import Proposal
from tradeloop.errors import ValidationError

__all__ = ["fold_guardrails", "holdout_boundary", "require_validatable", "search_settings"]

_FIX = "regenerate it with `tradeloop propose`"
#: The cadence of a proposal written before proposals named theirs.
DEFAULT_CADENCE = "weekly"


def require_validatable(proposal: Proposal) -> None:
    """Refuse a proposal with nothing to validate, or without the holdout boundary validation judges at."""
    if not proposal.proposed:
        raise ValidationError(
            f"{proposal.source}: status is 'no_change' (reason: {proposal.reason!r}); there is nothing to "
            "validate"
        )
    holdout_boundary(proposal)
    search_settings(proposal)


def holdout_boundary(proposal: Proposal) -> pd.Timestamp:
    """The first bar the search never saw; a proposal without one cannot be judged out of sample."""
    if proposal.holdout is None:
        raise ValidationError(
            f"{proposal.source}: holdout.boundary is missing (got holdout=None): without the boundary the "
            "search stopped at, validation cannot tell bars the search saw from bars it never saw; re-run "
            "`tradeloop propose` (it records the holdout) and validate the new proposal"
        )
    stamp = pd.Timestamp(proposal.holdout.boundary)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def search_settings(proposal: Proposal) -> SearchSettings | None:
    """How the proposal's search ran (for the walk-forward to rerun it), or None when it does not say."""
    settings = proposal.search.get("settings")
    if settings is None:
        return None
    try:
        return SearchSettings.from_dict({"cadence": cadence(proposal), **settings})
    except TypeError as exc:
        raise ValidationError(f"{proposal.source}: search.settings is not readable ({exc}); {_FIX}") from None


def cadence(proposal: Proposal) -> str:
    return proposal.cadence or DEFAULT_CADENCE


def fold_guardrails(proposal: Proposal) -> Guardrails:
    """The guardrails the proposal respected: the walk-forward's folds search within the same ones."""
    return Guardrails.from_dict(proposal.guardrails)
