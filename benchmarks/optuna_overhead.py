"""Optuna's per-trial overhead by storage: in-memory, SQLite, journal file, PostgreSQL.

Run from the repository root::

    .venv/bin/python benchmarks/optuna_overhead.py [--trials 200] [--pg postgresql+psycopg://...]

The objective is free (it returns a constant computed from the parameters), so the time per trial is
Optuna's own: TPE sampling of 11 parameters (the size of ema_cross's space) plus the storage round trips.
``study.optimize`` (one trial at a time) and the batch ask/tell pattern of Stage B (``ask`` 10, ``tell`` 10)
are both measured. PostgreSQL is skipped without ``--pg`` or ``TRADELOOP_TEST_PG_URL``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.simplefilter("ignore")

N_PARAMS = 11


def _objective(trial: optuna.Trial) -> float:
    return sum(trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(N_PARAMS))


def _distributions() -> dict[str, optuna.distributions.BaseDistribution]:
    return {f"x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(N_PARAMS)}


def _storage(kind: str, folder: Path, pg: str | None) -> optuna.storages.BaseStorage | str | None:
    if kind == "memory":
        return None
    if kind == "sqlite":
        return f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}"
    if kind == "journal":
        path = str(folder / f"{uuid.uuid4().hex}.log")
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    return pg


def measure(kind: str, mode: str, trials: int, folder: Path, pg: str | None) -> float:
    """Milliseconds per trial."""
    name = f"bench-{uuid.uuid4().hex}"
    study = optuna.create_study(
        study_name=name, storage=_storage(kind, folder, pg), sampler=optuna.samplers.TPESampler(seed=0),
        direction="maximize",
    )  # fmt: skip
    start = time.perf_counter()
    if mode == "optimize":
        study.optimize(_objective, n_trials=trials)
    else:
        for _ in range(trials // 10):
            batch = [study.ask(_distributions()) for _ in range(10)]
            for trial in batch:
                study.tell(trial, sum(trial.params.values()))
    elapsed = time.perf_counter() - start
    if kind == "postgresql":
        optuna.delete_study(study_name=name, storage=pg)
    return 1000 * elapsed / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--pg", default=os.environ.get("TRADELOOP_TEST_PG_URL"))
    args = parser.parse_args()
    kinds = ["memory", "sqlite", "journal"] + (["postgresql"] if args.pg else [])
    report: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            report[kind] = {
                mode: round(measure(kind, mode, args.trials, Path(tmp), args.pg), 2)
                for mode in ("optimize", "batch")
            }
            print(kind, report[kind], flush=True)
    print(json.dumps({"optuna": optuna.__version__, "trials": args.trials, "ms_per_trial": report}, indent=2))


if __name__ == "__main__":
    main()
