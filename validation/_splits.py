"""Walk-forward and combinatorial purged cross-validation (CPCV) splits over bar positions.

Everything here is index arithmetic over ``0 .. n_bars - 1``; a range ``[start, stop)`` is half-open.

Walk-forward: fold ``i`` tests on ``[oos_start_i, oos_start_i + oos_bars)`` with
``oos_start_i = is_bars + i · oos_bars`` (the step is the OOS length), and trains on the ``is_bars`` bars
just before it (``rolling``) or on every bar before it (``anchored``).

CPCV (López de Prado 2018, ch. 12): the bars are cut into ``N`` contiguous groups; each of the
``C(N, k)`` splits tests on ``k`` groups and trains on the others, minus a **purge** of ``purge_bars``
before each test segment (training labels, i.e. trades, that would still be open inside the test
segment) and an **embargo** of ``embargo_bars`` after it (training bars whose indicators still see test
bars). Every group is tested in ``C(N − 1, k − 1)`` splits, so the test segments assemble into
``φ = (k / N) · C(N, k)`` complete out-of-sample paths.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from tradeloop.errors import ValidationError

__all__ = [
    "CpcvSplit",
    "WalkForwardFold",
    "WalkForwardMode",
    "cpcv_path_count",
    "cpcv_paths",
    "cpcv_split_count",
    "cpcv_splits",
    "group_bounds",
    "walk_forward_folds",
    "walk_forward_splits",
]

WalkForwardMode = Literal["rolling", "anchored"]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class WalkForwardFold:
    """One walk-forward fold: in-sample ``[is_start, is_stop)``, out-of-sample ``[oos_start, oos_stop)``."""

    fold: int
    is_start: int
    is_stop: int
    oos_start: int
    oos_stop: int

    @property
    def is_bars(self) -> int:
        return self.is_stop - self.is_start

    @property
    def oos_bars(self) -> int:
        return self.oos_stop - self.oos_start


@dataclass(frozen=True)
class CpcvSplit:
    """One CPCV split: the test groups, and the train and test bar positions (sorted)."""

    split: int
    test_groups: tuple[int, ...]
    train: IntArray
    test: IntArray


def walk_forward_splits(
    n_bars: int, oos_bars: int, is_bars: int, mode: WalkForwardMode = "rolling"
) -> list[WalkForwardFold]:
    """Walk-forward folds with OOS segments of ``oos_bars`` that step by ``oos_bars``.

    Parameters
    ----------
    n_bars
        Number of bars available.
    oos_bars
        Length of each out-of-sample segment, which is also the step between folds.
    is_bars
        In-sample length: the first fold's IS is ``[0, is_bars)``. ``rolling`` keeps it this long;
        ``anchored`` grows it from bar 0.
    mode
        ``"rolling"`` or ``"anchored"``.

    Returns
    -------
    list of WalkForwardFold
        Only complete folds; the bars after the last complete OOS segment are not tested.
    """
    _require_count(oos_bars, "oos_bars")
    _require_count(is_bars, "is_bars")
    if mode not in ("rolling", "anchored"):
        raise ValidationError(f"walk-forward mode must be 'rolling' or 'anchored', got {mode!r}")
    n_folds = (n_bars - is_bars) // oos_bars
    if n_folds < 1:
        raise ValidationError(
            f"walk-forward: {n_bars} bars cannot hold an IS of {is_bars} plus an OOS of {oos_bars} bars; "
            "use more data or shorter segments"
        )
    folds = []
    for i in range(n_folds):
        oos_start = is_bars + i * oos_bars
        is_start = oos_start - is_bars if mode == "rolling" else 0
        folds.append(WalkForwardFold(i, is_start, oos_start, oos_start, oos_start + oos_bars))
    return folds


def walk_forward_folds(
    n_bars: int, n_folds: int, is_oos_ratio: float = 3.0, mode: WalkForwardMode = "rolling"
) -> list[WalkForwardFold]:
    """``n_folds`` walk-forward folds covering ``n_bars`` with IS = ``is_oos_ratio`` × OOS bars.

    ``oos_bars = floor(n_bars / (is_oos_ratio + n_folds))`` and ``is_bars = floor(is_oos_ratio · oos_bars)``,
    so the folds end at most ``is_oos_ratio + n_folds`` bars before the last bar.
    """
    _require_count(n_folds, "n_folds")
    if not (math.isfinite(is_oos_ratio) and is_oos_ratio > 0):
        raise ValidationError(f"walk-forward: is_oos_ratio must be > 0 (e.g. 3 for 3:1), got {is_oos_ratio}")
    oos_bars = int(n_bars // (is_oos_ratio + n_folds))
    is_bars = math.floor(is_oos_ratio * oos_bars)
    if oos_bars < 2 or is_bars < 2:
        raise ValidationError(
            f"walk-forward: {n_bars} bars are too few for {n_folds} folds at IS:OOS {is_oos_ratio:g}:1 "
            f"(OOS would be {oos_bars} bars); use fewer folds or more data"
        )
    return walk_forward_splits(n_bars, oos_bars, is_bars, mode)[:n_folds]


def cpcv_split_count(n_groups: int, n_test_groups: int) -> int:
    """``C(N, k)``: the number of CPCV splits."""
    _require_groups(n_groups, n_test_groups)
    return math.comb(n_groups, n_test_groups)


def cpcv_path_count(n_groups: int, n_test_groups: int) -> int:
    """``φ = (k / N) · C(N, k) = C(N − 1, k − 1)``: the number of complete backtest paths."""
    _require_groups(n_groups, n_test_groups)
    return math.comb(n_groups - 1, n_test_groups - 1)


def group_bounds(n_bars: int, n_groups: int) -> IntArray:
    """Group start positions, then ``n_bars``; the first ``n_bars mod n_groups`` groups are one bar longer."""
    if n_bars < n_groups:
        raise ValidationError(f"CPCV: {n_bars} bars cannot form {n_groups} groups; use fewer groups")
    sizes = np.full(n_groups, n_bars // n_groups, dtype=np.int64)
    sizes[: n_bars % n_groups] += 1
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def cpcv_splits(
    n_bars: int, n_groups: int, n_test_groups: int, *, purge_bars: int = 0, embargo_bars: int = 0
) -> list[CpcvSplit]:
    """All ``C(N, k)`` CPCV splits, in lexicographic order of their test groups.

    Parameters
    ----------
    n_bars
        Number of bars.
    n_groups, n_test_groups
        ``N`` contiguous groups, ``k`` of them tested per split (``1 <= k < N``).
    purge_bars
        Training bars dropped just before each test segment; at least the longest holding period in bars.
    embargo_bars
        Training bars dropped just after each test segment; at least the longest indicator lookback.

    References
    ----------
    López de Prado, M. (2018). Advances in Financial Machine Learning. Wiley, sections 7.4 and 12.4.
    """
    _require_groups(n_groups, n_test_groups)
    for value, name in ((purge_bars, "purge_bars"), (embargo_bars, "embargo_bars")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(f"CPCV: {name} must be an integer >= 0, got {value!r}")
    bounds = group_bounds(n_bars, n_groups)
    positions = np.arange(n_bars, dtype=np.int64)
    splits = []
    for number, groups in enumerate(itertools.combinations(range(n_groups), n_test_groups)):
        is_test = np.zeros(n_bars, dtype=bool)
        excluded = np.zeros(n_bars, dtype=bool)
        for start, stop in _test_segments(bounds, groups):
            is_test[start:stop] = True
            excluded[max(0, start - purge_bars) : min(n_bars, stop + embargo_bars)] = True
        splits.append(CpcvSplit(number, groups, positions[~excluded], positions[is_test]))
    return splits


def cpcv_paths(n_groups: int, n_test_groups: int) -> IntArray:
    """The path assembly: ``paths[p, g]`` is the split whose test of group ``g`` belongs to path ``p``.

    Group ``g`` is tested by ``φ`` splits; path ``p`` takes the ``p``-th of them (lexicographic split
    order), so every path covers every group exactly once and every (split, test group) pair is used
    exactly once over all paths.
    """
    n_paths = cpcv_path_count(n_groups, n_test_groups)
    paths = np.empty((n_paths, n_groups), dtype=np.int64)
    seen = np.zeros(n_groups, dtype=np.int64)
    for number, groups in enumerate(itertools.combinations(range(n_groups), n_test_groups)):
        for group in groups:
            paths[seen[group], group] = number
            seen[group] += 1
    return paths


def _test_segments(bounds: IntArray, groups: tuple[int, ...]) -> list[tuple[int, int]]:
    """Contiguous test ranges: adjacent test groups merge, so no purge or embargo falls between them."""
    segments: list[tuple[int, int]] = []
    for group in groups:
        start, stop = int(bounds[group]), int(bounds[group + 1])
        if segments and segments[-1][1] == start:
            segments[-1] = (segments[-1][0], stop)
        else:
            segments.append((start, stop))
    return segments


def _require_count(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValidationError(f"walk-forward: {name} must be an integer >= 1, got {value!r}")


def _require_groups(n_groups: int, n_test_groups: int) -> None:
    valid = all(isinstance(v, int) and not isinstance(v, bool) for v in (n_groups, n_test_groups))
    if not valid or n_groups < 2 or not 1 <= n_test_groups < n_groups:
        raise ValidationError(
            f"CPCV: need integers N >= 2 groups and 1 <= k < N test groups, got N={n_groups!r}, "
            f"k={n_test_groups!r}; e.g. N=6, k=2"
        )
