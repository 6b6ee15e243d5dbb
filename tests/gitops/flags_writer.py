"""Rewrite a feature_flags.json in a tight loop until killed; the kill test forks it.

Each save has different content: the number of rollouts grows and shrinks (so the file size changes) and
the LIMITED canary fractions vary. Run ids are ``<tag>-<count>`` so that a reader can tell which writer wrote.
Also runnable by hand: ``python -m tests.gitops.flags_writer PATH TAG``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gitops import FeatureFlags, Rollout, Stage, save_feature_flags
from tradeloop import Provenance

START = datetime(2030, 1, 1, tzinfo=UTC)
STAGES = list(Stage)


def flags_for(count: int) -> FeatureFlags:
    flags = FeatureFlags(provenance=Provenance(run_id="pending", git_sha="nogit"))
    for index in range(1 + count % 40):
        stage = STAGES[(count + index) % len(STAGES)]
        fractions = {Stage.LIMITED: ((count + index) % 99 + 1) / 100, Stage.FULL: 1.0}
        rollout = Rollout(
            stage=stage,
            canary_fraction=fractions.get(stage, 0.0),
            phase="succeeded" if stage == Stage.FULL else "progressing",
            config_hash=f"{count * 7919 + index:016x}",
            pr_number=index + 1,
            started_at=START,
            updated_at=START + timedelta(seconds=count),
        )
        flags = flags.with_rollout(f"strategy_{index}", "SP500", rollout)
    return flags


def rewrite_forever(path: Path, tag: str) -> None:
    count = 0
    while True:
        save_feature_flags(path, flags_for(count), Provenance(run_id=f"{tag}-{count}", git_sha="nogit"))
        count += 1


if __name__ == "__main__":
    rewrite_forever(Path(sys.argv[1]), sys.argv[2])
