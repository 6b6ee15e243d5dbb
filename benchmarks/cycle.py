"""Main-job benchmark: ``tradeloop cycle`` on the embedded data, cold and warm, as the README runs it.

Run from the repository root::

    .venv/bin/python benchmarks/cycle.py                 # 3 pairs of runs, medians
    .venv/bin/python benchmarks/cycle.py --repeats 5 --json benchmarks/results/cycle.json

Each repeat is a pair of runs of the installed console script in a fresh process:

- **cold**: a new, empty ``TRADELOOP_HOME`` (no data cache, no matrix logs, no warehouse, no Optuna study)
  and a new, empty ``NUMBA_CACHE_DIR``, so every kernel is compiled, as on a fresh clone;
- **warm**: the same command again with the same home and kernel cache: the matrix resumes with nothing
  left to run and the finished study is reloaded instead of searched again.

Both runs of a pair must reach the same decision and the same proposed parameters, and no matrix cell may
fail; the script fails otherwise. Targets (issue 8): cold <= 5 min, warm <= 2 min on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRADELOOP = Path(sys.executable).with_name("tradeloop")


def run_cycle(home: Path, numba_cache: Path) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one ``tradeloop --json cycle`` and the outcome it reports."""
    env = {**os.environ, "TRADELOOP_HOME": str(home), "NUMBA_CACHE_DIR": str(numba_cache)}
    started = time.perf_counter()
    done = subprocess.run(
        [str(TRADELOOP), "--json", "cycle"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"tradeloop cycle failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    report = json.loads(done.stdout)
    counts = report["steps"]["matrix"]["counts"]
    if counts.get("error") or counts.get("timeout"):  # a cycle with failed cells is not the one to time
        raise SystemExit(f"matrix cells failed in this cycle: {counts}")
    proposal = json.loads(Path(report["proposal"]).read_text(encoding="utf-8"))
    outcome = {
        "decision": report["decision"],
        "outcome": report["outcome"],
        "params_after": proposal.get("params_after"),
    }
    return seconds, outcome


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    cold, warm = [], []
    outcome: dict[str, Any] = {}
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="tradeloop-cycle-bench-") as scratch:
            home, numba_cache = Path(scratch) / "home", Path(scratch) / "numba"
            cold_s, cold_outcome = run_cycle(home, numba_cache)
            warm_s, warm_outcome = run_cycle(home, numba_cache)
        if cold_outcome != warm_outcome:
            raise SystemExit(f"the warm run changed the result: {cold_outcome} != {warm_outcome}")
        if outcome and cold_outcome != outcome:
            raise SystemExit(f"repeat {repeat} changed the result: {cold_outcome} != {outcome}")
        outcome = cold_outcome
        cold.append(cold_s)
        warm.append(warm_s)
        print(f"repeat {repeat + 1}: cold {cold_s:.1f} s, warm {warm_s:.1f} s", flush=True)

    figures = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "cold_s": statistics.median(cold),
        "warm_s": statistics.median(warm),
        "cold_runs_s": cold,
        "warm_runs_s": warm,
        "outcome": outcome,
    }
    print(f"cold (fresh home and kernel cache): median {figures['cold_s']:.1f} s  (target <= 300 s)")
    print(f"warm (second run):                  median {figures['warm_s']:.1f} s  (target <= 120 s)")
    print(f"result: {outcome['decision']}: {outcome['outcome']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
