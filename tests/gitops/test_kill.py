"""SIGKILL a writer of feature_flags.json at random moments: the file on disk always stays valid."""

from __future__ import annotations

import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path

import pytest

from gitops import FeatureFlags, load_feature_flags, save_feature_flags
from tests.gitops.flags_writer import rewrite_forever
from tradeloop import Provenance, orphaned_temp_files

KILLS = 25


def start_writer(path: Path, tag: str) -> int:
    """Fork a process that rewrites ``path`` until killed (forked: no interpreter start-up per round)."""
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        try:
            rewrite_forever(path, tag)
        except BaseException:
            traceback.print_exc(file=sys.stderr)
        finally:
            os._exit(1)
    return pid


def wait_for_first_write(path: Path, tag: str, pid: int) -> None:
    """Poll (reading, which validates every time) until this writer's content is on disk."""
    while not load_feature_flags(path).provenance.run_id.startswith(f"{tag}-"):
        finished, status = os.waitpid(pid, os.WNOHANG)
        assert finished == 0, f"the writer exited early with status {status}"
        time.sleep(0.0005)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_killed_writer_never_leaves_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "feature_flags.json"
    save_feature_flags(
        path, FeatureFlags(provenance=Provenance("initial", "nogit")), Provenance("initial", "nogit")
    )
    rng = random.Random(20300101)
    orphans_after_kills = 0
    for round_number in range(KILLS):
        tag = f"round{round_number}"
        pid = start_writer(path, tag)
        try:
            wait_for_first_write(path, tag, pid)
            time.sleep(rng.uniform(0, 0.02))
        finally:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        survivor = load_feature_flags(path)  # raises on a torn or invalid file
        assert survivor.provenance.run_id.startswith(f"{tag}-")
        orphans_after_kills += bool(orphaned_temp_files(path))
        save_feature_flags(path, survivor, Provenance(f"after-{round_number}", "nogit"))
        assert orphaned_temp_files(path) == []
        assert load_feature_flags(path).rollouts == survivor.rollouts
    print(f"{KILLS} kills, {orphans_after_kills} left a temp file behind that the next save removed")
