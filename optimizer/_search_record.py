"""The search record: every configuration the search evaluated, with its Sharpe on the search bars.

Validation's in-sample overfitting checks (Deflated Sharpe, PBO) must count the whole search, not the few
candidates a proposal shows: Stage A's prescreen rows and every Stage B trial. The record keeps each
configuration's full parameters, its annualised Sharpe ratio and trade count on the search bars, and which
stage tried it; validation recomputes per-bar returns from the parameters where it needs them, so
``proposal.json`` stays small and only names the record (path, SHA-256, counts).

On disk it is gzip-compressed JSON (``search_record.json.gz``), columnar, written with a fixed gzip header
so the same search gives the same bytes and the same SHA-256.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeloop._atomic import atomic_write_bytes
from tradeloop.errors import OptimizerError

__all__ = ["SEARCH_RECORD_FILE", "SEARCH_RECORD_KIND", "SearchRecord", "file_sha256"]

SEARCH_RECORD_KIND = "tradeloop.search_record"
SEARCH_RECORD_FILE = "search_record.json.gz"
_SCHEMA_VERSION = 1
_STAGES = ("A", "B")
_FIX = "re-run `tradeloop propose` to write a new one"


@dataclass(frozen=True, eq=False)
class SearchRecord:
    """Every configuration one search evaluated, in the order it evaluated them (Stage A, then Stage B).

    Attributes
    ----------
    strategy
        The strategy searched.
    names
        The parameter names, the columns of ``params``.
    params
        (n × p) parameter values.
    stage
        (n,) ``"A"`` (prescreen) or ``"B"`` (Optuna trial) per configuration.
    sharpe
        (n,) annualised Sharpe ratio on the search bars; NaN where undefined (no trade).
    trades
        (n,) trades on the search bars.
    feasible
        (n,) whether the configuration met the search's hard constraints (``MIN_TRADES``, drawdown, win
        rate): the set the search selects its best from.
    bars
        The search bars: ``start``, ``end`` (ISO), ``bars`` (count) and ``periods_per_year``.
    """

    strategy: str
    names: tuple[str, ...]
    params: npt.NDArray[np.float64]
    stage: npt.NDArray[np.str_]
    sharpe: npt.NDArray[np.float64]
    trades: npt.NDArray[np.float64]
    feasible: npt.NDArray[np.bool_]
    bars: Mapping[str, Any]

    def __len__(self) -> int:
        return int(self.params.shape[0])

    @property
    def stage_counts(self) -> dict[str, int]:
        """Configurations per stage, e.g. ``{"A": 20000, "B": 40}``."""
        return {stage: int(np.sum(self.stage == stage)) for stage in _STAGES}

    @property
    def per_bar_sharpes(self) -> npt.NDArray[np.float64]:
        """Per-bar Sharpe ratios (annualised / √periods per year); an undefined one counts as 0."""
        per_bar = self.sharpe / math.sqrt(float(self.bars["periods_per_year"]))
        return np.asarray(np.nan_to_num(per_bar, nan=0.0, posinf=0.0, neginf=0.0), dtype=np.float64)

    def rows(self, indices: Sequence[int] | npt.NDArray[np.int64]) -> list[dict[str, float]]:
        """The parameter sets of the given rows."""
        return [dict(zip(self.names, self.params[i].tolist(), strict=True)) for i in indices]

    def sample(self, size: int, seed: int, *, feasible_only: bool = True) -> npt.NDArray[np.int64]:
        """A uniform sample of at most ``size`` distinct rows (of the feasible ones by default), ascending."""
        rows = np.flatnonzero(self.feasible) if feasible_only else np.arange(len(self))
        if len(rows) <= size:
            return rows.astype(np.int64)
        chosen = np.random.default_rng(seed).choice(rows, size=size, replace=False)
        return np.sort(chosen).astype(np.int64)

    @classmethod
    def from_frames(
        cls,
        strategy: str,
        names: Sequence[str],
        stages: Mapping[str, pd.DataFrame],
        bars: Mapping[str, Any],
    ) -> SearchRecord:
        """Build from per-stage frames: the parameter columns ``names``, the KPIs and ``feasible``."""
        frames = [(stage, frame) for stage, frame in stages.items() if len(frame)]
        if not frames:
            empty = np.empty(0)
            return cls(
                strategy, tuple(names), np.empty((0, len(names))), empty.astype(str), empty, empty,
                empty.astype(bool), bars,
            )  # fmt: skip
        return cls(
            strategy=strategy,
            names=tuple(names),
            params=np.vstack([frame[list(names)].to_numpy(np.float64) for _, frame in frames]),
            stage=np.concatenate([np.full(len(frame), stage) for stage, frame in frames]),
            sharpe=np.concatenate([frame["sharpe"].to_numpy(np.float64) for _, frame in frames]),
            trades=np.concatenate([frame["trades"].to_numpy(np.float64) for _, frame in frames]),
            feasible=np.concatenate([frame["feasible"].to_numpy(bool) for _, frame in frames]),
            bars=dict(bars),
        )

    def to_json(self) -> dict[str, Any]:
        """The columnar JSON document (NaN written as null)."""
        return {
            "schema_version": _SCHEMA_VERSION,
            "kind": SEARCH_RECORD_KIND,
            "strategy": self.strategy,
            "bars": dict(self.bars),
            "stage_counts": self.stage_counts,
            "names": list(self.names),
            "params": {name: self.params[:, j].tolist() for j, name in enumerate(self.names)},
            "stage": self.stage.tolist(),
            "sharpe": [None if math.isnan(v) else v for v in self.sharpe.tolist()],
            "trades": self.trades.tolist(),
            "feasible": self.feasible.tolist(),
        }

    @classmethod
    def from_json(cls, document: Any, source: str = SEARCH_RECORD_FILE) -> SearchRecord:
        """Check and read a search record document; every problem names the field and the fix."""
        doc = _mapping(document, source, "the document")
        if doc.get("kind") != SEARCH_RECORD_KIND or doc.get("schema_version") != _SCHEMA_VERSION:
            raise OptimizerError(
                f"{source}: kind/schema_version must be {SEARCH_RECORD_KIND!r}/{_SCHEMA_VERSION}, got "
                f"{doc.get('kind')!r}/{doc.get('schema_version')!r}; {_FIX}"
            )
        names = doc.get("names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise OptimizerError(f"{source}: names must be a non-empty list of parameter names; {_FIX}")
        columns = _mapping(doc.get("params"), source, "params")
        length = len(_column(doc, "stage", source))
        params = np.column_stack(
            [_numbers(columns.get(name), source, f"params.{name}", length) for name in names]
        )
        stage = np.asarray(_column(doc, "stage", source), dtype=str)
        if not np.isin(stage, _STAGES).all():
            raise OptimizerError(f"{source}: stage holds values other than {_STAGES}; {_FIX}")
        bars = _mapping(doc.get("bars"), source, "bars")
        if not isinstance(bars.get("periods_per_year"), int | float) or not bars["periods_per_year"] > 0:
            raise OptimizerError(f"{source}: bars.periods_per_year must be a positive number; {_FIX}")
        return cls(
            strategy=str(doc.get("strategy")),
            names=tuple(names),
            params=params.reshape(length, len(names)),
            stage=stage,
            sharpe=_numbers(doc.get("sharpe"), source, "sharpe", length),
            trades=_numbers(doc.get("trades"), source, "trades", length),
            feasible=_flags(doc.get("feasible"), source, length),
            bars=dict(bars),
        )

    def to_bytes(self) -> bytes:
        """The gzip file's bytes (fixed header: no name, no time stamp), the same for the same record."""
        text = json.dumps(self.to_json(), separators=(",", ":"), allow_nan=False)
        return gzip.compress(text.encode(), compresslevel=6, mtime=0)

    def write(self, path: Path) -> str:
        """Write atomically to ``path``; return the file's SHA-256 (hex)."""
        data = self.to_bytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def read(cls, path: Path, expected_sha256: str | None = None) -> SearchRecord:
        """Read ``path``; with ``expected_sha256``, refuse a file whose hash differs."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise OptimizerError(f"{path}: cannot read the search record ({exc.strerror}); {_FIX}") from None
        digest = hashlib.sha256(data).hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            raise OptimizerError(
                f"{path}: SHA-256 is {digest[:16]}…, the proposal names {expected_sha256[:16]}…; the file is "
                f"not this proposal's search record; {_FIX}"
            )
        try:
            document = json.loads(gzip.decompress(data))
        except (OSError, EOFError, ValueError) as exc:
            raise OptimizerError(
                f"{path}: not a gzip-compressed JSON search record ({exc}); {_FIX}"
            ) from None
        return cls.from_json(document, str(path))


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mapping(value: Any, source: str, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise OptimizerError(f"{source}: {what} must be a JSON object, got {type(value).__name__}; {_FIX}")
    return value


def _column(doc: Mapping[str, Any], key: str, source: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise OptimizerError(f"{source}: {key} must be a list, got {type(value).__name__}; {_FIX}")
    return value


def _flags(value: Any, source: str, length: int) -> npt.NDArray[np.bool_]:
    if not isinstance(value, list) or len(value) != length or not all(isinstance(v, bool) for v in value):
        raise OptimizerError(f"{source}: feasible must be a list of {length} true/false values; {_FIX}")
    return np.array(value, dtype=bool)


def _numbers(value: Any, source: str, where: str, length: int) -> npt.NDArray[np.float64]:
    if not isinstance(value, list) or len(value) != length:
        size = len(value) if isinstance(value, list) else type(value).__name__
        raise OptimizerError(f"{source}: {where} must be a list of {length} numbers, got {size}; {_FIX}")
    try:
        return np.array([math.nan if v is None else float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        raise OptimizerError(f"{source}: {where} holds a value that is not a number; {_FIX}") from None
