"""Input checks shared by the validation statistics: shapes, finiteness, lengths.

Every check raises :class:`tradeloop.errors.ValidationError` with a message naming the argument, the value
received and the fix, so a bad return series is caught before any bootstrap starts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tradeloop.errors import ValidationError

FloatArray = npt.NDArray[np.float64]


def as_series(values: npt.ArrayLike, name: str, *, min_length: int = 2) -> FloatArray:
    """Return ``values`` as a finite 1-D float64 array of at least ``min_length`` observations."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise ValidationError(
            f"{name}: expected a 1-D series of returns, got shape {array.shape}; pass one column"
        )
    if array.shape[0] < min_length:
        raise ValidationError(
            f"{name}: needs at least {min_length} observations, got {array.shape[0]}; use a longer window"
        )
    _require_finite(array, name)
    return array


def as_matrix(values: npt.ArrayLike, name: str, *, min_rows: int = 2, min_columns: int = 1) -> FloatArray:
    """Return ``values`` as a finite (T × N) float64 array, a 1-D input becoming one column."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValidationError(
            f"{name}: expected a (observations × trials) matrix, got shape {array.shape}; "
            "stack trials as columns"
        )
    rows, columns = array.shape
    if rows < min_rows:
        raise ValidationError(f"{name}: needs at least {min_rows} observations (rows), got {rows}")
    if columns < min_columns:
        raise ValidationError(f"{name}: needs at least {min_columns} trials (columns), got {columns}")
    _require_finite(array, name)
    return np.ascontiguousarray(array)


def require_same_length(a: FloatArray, b: FloatArray, name_a: str, name_b: str) -> None:
    """Raise unless the two series (or matrices) have the same number of observations."""
    if a.shape[0] != b.shape[0]:
        raise ValidationError(
            f"{name_a} has {a.shape[0]} observations but {name_b} has {b.shape[0]}; "
            "both must be computed on the same bars"
        )


def require_probability(value: float, name: str) -> None:
    """Raise unless ``0 < value < 1``."""
    if not 0.0 < value < 1.0:
        raise ValidationError(f"{name} must be in (0, 1), got {value}; e.g. 0.95")


def require_positive_int(value: int, name: str, *, minimum: int = 1) -> None:
    """Raise unless ``value`` is an int of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValidationError(f"{name} must be an integer >= {minimum}, got {value!r}")


def safe_divide(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """Elementwise ratio where ``0 / 0`` is 0 and ``x / 0`` is ``±inf``.

    A flat series (e.g. a candidate that never trades) then has Sharpe 0, and a differential that is a
    non-zero constant is infinitely significant, instead of NaN poisoning a maximum.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.divide(numerator, denominator)
    return np.where(np.isnan(ratio), 0.0, ratio)


def _require_finite(array: FloatArray, name: str) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"row {position[0]}" + (f", column {position[1]}" if len(position) > 1 else "")
        raise ValidationError(
            f"{name}: {where} is {float(array[position])}; returns must be finite (drop or fill that bar)"
        )
