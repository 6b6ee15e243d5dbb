"""Walk-forward and CPCV splits: counts, purge/embargo (property test), path assembly, fold layout."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.errors import ValidationError
from validation import (
    cpcv_path_count,
    cpcv_paths,
    cpcv_split_count,
    cpcv_splits,
    group_bounds,
    walk_forward_folds,
    walk_forward_splits,
)


@pytest.mark.parametrize(("n_groups", "n_test_groups"), [(6, 2), (10, 2), (8, 3), (16, 8), (5, 1), (4, 3)])
def test_cpcv_split_and_path_counts_match_the_formulas(n_groups: int, n_test_groups: int) -> None:
    splits = cpcv_splits(500, n_groups, n_test_groups)
    expected_splits = math.factorial(n_groups) // (
        math.factorial(n_test_groups) * math.factorial(n_groups - n_test_groups)
    )
    assert len(splits) == cpcv_split_count(n_groups, n_test_groups) == expected_splits
    expected_paths = n_test_groups / n_groups * expected_splits
    assert cpcv_path_count(n_groups, n_test_groups) == pytest.approx(expected_paths, abs=0)
    assert cpcv_paths(n_groups, n_test_groups).shape == (round(expected_paths), n_groups)


def test_lopez_de_prado_example_six_groups_two_test_groups_gives_15_splits_and_5_paths() -> None:
    # Advances in Financial Machine Learning, section 12.4 (figure 12.1): N = 6, k = 2 → 15 splits, 5 paths.
    assert (cpcv_split_count(6, 2), cpcv_path_count(6, 2)) == (15, 5)


@pytest.mark.parametrize(("n_groups", "n_test_groups"), [(6, 2), (8, 3), (7, 1), (5, 4)])
def test_every_path_covers_every_group_once_and_uses_each_test_segment_once(
    n_groups: int, n_test_groups: int
) -> None:
    combos = list(itertools.combinations(range(n_groups), n_test_groups))
    paths = cpcv_paths(n_groups, n_test_groups)
    used = set()
    for path in paths:
        for group, split in enumerate(path):
            assert group in combos[split], f"path uses split {split} for group {group} it does not test"
            used.add((int(split), group))
    assert used == {(s, g) for s, groups in enumerate(combos) for g in groups}
    assert len(used) == paths.size


def test_group_bounds_cover_all_bars_with_near_equal_groups() -> None:
    bounds = group_bounds(103, 5)
    assert bounds[0] == 0 and bounds[-1] == 103
    assert sorted(set(np.diff(bounds).tolist())) == [20, 21]


@settings(max_examples=100, deadline=None)
@given(
    n_bars=st.integers(40, 400),
    n_groups=st.integers(2, 9),
    data=st.data(),
    purge=st.integers(0, 15),
    embargo=st.integers(0, 15),
)
def test_no_training_bar_falls_inside_a_purge_or_embargo_zone(
    n_bars: int, n_groups: int, data: st.DataObject, purge: int, embargo: int
) -> None:
    n_test_groups = data.draw(st.integers(1, n_groups - 1))
    for split in cpcv_splits(n_bars, n_groups, n_test_groups, purge_bars=purge, embargo_bars=embargo):
        test, train = split.test, split.train
        assert np.intersect1d(train, test).size == 0
        to_next_test, from_previous_test = _distances(np.arange(n_bars), test)
        in_zone = (to_next_test <= purge) | (from_previous_test <= embargo)
        assert not in_zone[train].any(), (
            f"train bars {train[in_zone[train]][:5]} are in a purge or embargo zone"
        )
        # Nothing else is dropped: every bar outside the test set and the zones trains.
        expected = np.flatnonzero(~np.isin(np.arange(n_bars), test) & ~in_zone)
        np.testing.assert_array_equal(train, expected)


def _distances(bars: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bars from each bar to the next test bar after it, and from the last test bar before it (inf: none)."""
    following = np.searchsorted(test, bars, side="right")  # index of the first test bar > t
    preceding = np.searchsorted(test, bars, side="left") - 1  # index of the last test bar < t
    padded = np.concatenate([test, [np.iinfo(np.int64).max // 2]]).astype(np.float64)
    after = np.where(following < test.size, padded[np.minimum(following, test.size)] - bars, np.inf)
    before = np.where(preceding >= 0, bars - padded[np.maximum(preceding, 0)], np.inf)
    return after, before


def test_test_bars_are_exactly_the_chosen_groups() -> None:
    bounds = group_bounds(60, 6)
    for split in cpcv_splits(60, 6, 2, purge_bars=3, embargo_bars=2):
        expected = np.concatenate([np.arange(bounds[g], bounds[g + 1]) for g in split.test_groups])
        np.testing.assert_array_equal(split.test, expected)


@pytest.mark.parametrize("mode", ["rolling", "anchored"])
def test_walk_forward_steps_by_the_oos_length(mode: str) -> None:
    folds = walk_forward_splits(1000, oos_bars=100, is_bars=300, mode=mode)  # type: ignore[arg-type]
    assert len(folds) == 7
    for fold, following in itertools.pairwise(folds):
        assert following.oos_start - fold.oos_start == 100 == fold.oos_bars
    for fold in folds:
        assert fold.is_stop == fold.oos_start  # IS ends where OOS starts: no overlap
        assert fold.oos_stop <= 1000


def test_rolling_keeps_the_is_length_and_anchored_starts_at_bar_zero() -> None:
    rolling = walk_forward_splits(1000, oos_bars=100, is_bars=300, mode="rolling")
    anchored = walk_forward_splits(1000, oos_bars=100, is_bars=300, mode="anchored")
    assert [f.is_start for f in rolling] == [0, 100, 200, 300, 400, 500, 600]
    assert {f.is_bars for f in rolling} == {300}
    assert {f.is_start for f in anchored} == {0}
    assert [f.is_bars for f in anchored] == [300, 400, 500, 600, 700, 800, 900]
    assert [(f.oos_start, f.oos_stop) for f in rolling] == [(f.oos_start, f.oos_stop) for f in anchored]


def test_walk_forward_folds_honour_the_is_oos_ratio() -> None:
    folds = walk_forward_folds(5031, n_folds=5, is_oos_ratio=3.0)
    assert len(folds) == 5
    assert {f.oos_bars for f in folds} == {628}  # 5031 // (3 + 5)
    assert {f.is_bars for f in folds} == {1884}
    assert folds[-1].oos_stop <= 5031


def test_bad_layouts_are_clear_errors() -> None:
    with pytest.raises(ValidationError, match="cannot hold an IS of 300"):
        walk_forward_splits(350, oos_bars=100, is_bars=300)
    with pytest.raises(ValidationError, match="k < N"):
        cpcv_splits(100, 4, 4)
    with pytest.raises(ValidationError, match="purge_bars"):
        cpcv_splits(100, 4, 2, purge_bars=-1)
    with pytest.raises(ValidationError, match="too few"):
        walk_forward_folds(20, n_folds=10)
