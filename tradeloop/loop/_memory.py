"""The guardrail memory as the loop reads it: from git history and the forge, mirrored into the warehouse.

The memory comes from the history of the live state files on a branch of the repository and from the
forge's closed pull requests (:mod:`gitops._memory`); every call that reads it also mirrors it into the
warehouse for reports.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tradeloop._settings import Settings
from tradeloop.errors import ForgeError

if TYPE_CHECKING:
    from gitops import Forge, GuardrailMemory
    from tradeloop.documents import Proposal

__all__ = ["guardrail_memory", "reading_forge", "settle_proposal"]


def reading_forge(settings: Settings, kind: str | None) -> Forge | None:
    """The forge whose closed pull requests count as declined: ``kind``, else the one ``pr open`` uses.

    Without ``kind`` and with a GitHub token but no repository named, there is none to read (``pr open``
    still refuses a declined proposal).
    """
    from gitops import GitHubForge, LocalForge, github_token

    chosen = kind or ("github" if github_token() else "local")
    if chosen not in ("github", "local"):
        raise ForgeError(f"--forge {kind!r} is not a forge; use github or local")
    if chosen == "local":
        return LocalForge(settings.repo, home=settings.home)
    if kind is None and not os.environ.get("GITHUB_REPOSITORY"):
        return None
    return GitHubForge(settings.repo)


def guardrail_memory(
    settings: Settings, *, base: str = "HEAD", forge: Forge | None = None
) -> GuardrailMemory:
    """The memory of ``base`` in the repository, mirrored into the warehouse."""
    from gitops import read_memory, record_memory
    from warehouse import get_warehouse

    memory = read_memory(settings.repo, base, forge=forge)
    with get_warehouse(settings.warehouse_url) as warehouse:
        record_memory(warehouse, memory)
    return memory


def settle_proposal(settings: Settings, proposal: Proposal, memory: GuardrailMemory) -> Proposal:
    """``proposal``, withheld when the memory forbids it (declined or rolled back before), and recorded."""
    from gitops import record_proposal
    from warehouse import get_warehouse

    rejection = memory.rejection_for(proposal) if proposal.proposed else None
    if rejection is not None:
        proposal = proposal.withheld(rejection.reason())
    with get_warehouse(settings.warehouse_url) as warehouse:
        record_proposal(warehouse, proposal, at=settings.current_time())
    return proposal
