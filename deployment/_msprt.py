"""The mixture sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis and Walsh (2017),
"Peeking at A/B Tests: Why it matters, and what to do about it" (KDD '17), with a normal mixture.

A stage is judged every interval on data that keeps arriving. A fixed-sample test checked every interval
would reject far more often than its level; the mSPRT's always-valid p-value does not: the probability that
it *ever* falls below alpha under the null is at most alpha, however often it is looked at.

For observations ``d_1 … d_n`` that are normal with variance ``V`` and mean ``θ``, testing ``H0: θ = θ0``
with the mixing distribution ``θ ~ N(θ0, τ²)``, the mixture likelihood ratio has the closed form (the
paper's equation for the normal case)::

    Λ_n = sqrt(V / (V + n τ²)) · exp( n² τ² (d̄_n − θ0)² / (2 V (V + n τ²)) )

and the always-valid p-value is ``p_n = min(p_{n-1}, 1 / Λ_n)`` with ``p_0 = 1``.

tradeloop tests the paired per-bar return difference ``d = r_candidate − r_baseline`` for non-inferiority
within a margin, as canary analysis does: on the standardised scale (``d / σ̂``, so ``V = 1``; the paper
plugs in the variance estimated from the data), ``θ0 = −margin`` and ``τ = margin``. Each side is read on
its own, as its first crossing decides it:

- **non-inferiority** is shown once ``p ≤ α`` with the mean *above* ``−margin``: the new parameters are no
  worse than the margin;
- **harm** is shown once ``p ≤ α`` with the mean *below* ``−margin``: they are worse than the margin.

Looks with fewer than :data:`MIN_OBSERVATIONS` observations are skipped (the plug-in variance is too noisy
there). ``tests/deployment/test_msprt.py`` checks the closed form against the mixture integral and, by
simulation, the false promotions and false failures over a week of hourly looks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "MIN_OBSERVATIONS",
    "SequentialResult",
    "log_mixture_ratio",
    "sequential_test",
    "sequential_test_paths",
]

#: Fewest paired observations before a look counts.
MIN_OBSERVATIONS = 30
_BIG = 1e12


def log_mixture_ratio(
    n: NDArray[np.float64] | float,
    mean: NDArray[np.float64] | float,
    theta0: float,
    tau2: float,
    variance: NDArray[np.float64] | float = 1.0,
) -> NDArray[np.float64]:
    """``log Λ_n`` of the normal-mixture SPRT (closed form above), elementwise."""
    n = np.asarray(n, dtype=np.float64)
    v = np.asarray(variance, dtype=np.float64)
    spread = v + n * tau2
    delta = np.asarray(mean, dtype=np.float64) - theta0
    exponent = (n * n * tau2 * delta * delta) / (2.0 * v * spread)
    result: NDArray[np.float64] = 0.5 * np.log(v / spread) + exponent
    return result


@dataclass(frozen=True)
class SequentialResult:
    """The always-valid p-values after the last look, for each side, and what the data say.

    ``p_noninferior`` falls to alpha once the new parameters are shown no worse than the margin;
    ``p_harm`` once they are shown worse. ``effect`` is the standardised mean difference ``d̄ / σ̂`` at the
    last look (``None`` before :data:`MIN_OBSERVATIONS`), ``n`` its observations.
    """

    p_noninferior: float
    p_harm: float
    effect: float | None
    n: int


def _standardised(
    sums: NDArray[np.float64], squares: NDArray[np.float64], counts: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``mean / sample std`` of each look; a zero spread gives 0 (no difference) or ±_BIG (a constant one)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums / counts
        variance = (squares - counts * mean * mean) / (counts - 1.0)
        variance = np.where(variance > 1e-300, variance, 0.0)
        z = np.where(
            variance > 0.0,
            mean / np.sqrt(variance),
            np.where(mean > 0, _BIG, np.where(mean < 0, -_BIG, 0.0)),
        )
    return np.asarray(np.where(counts >= MIN_OBSERVATIONS, z, np.nan), dtype=np.float64)


def _p_values(
    sums: NDArray[np.float64], squares: NDArray[np.float64], counts: NDArray[np.float64], margin: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Running always-valid p-values (non-inferiority, harm) along the last axis of the looks."""
    theta0, tau2 = -margin, margin * margin
    z = _standardised(sums, squares, counts)
    valid = ~np.isnan(z)
    log_ratio = np.where(valid, log_mixture_ratio(counts, np.where(valid, z, 0.0), theta0, tau2), -np.inf)
    p_look = np.minimum(1.0, np.exp(-np.clip(log_ratio, -700.0, 700.0)))
    up = np.where(valid & (z > theta0), p_look, 1.0)
    down = np.where(valid & (z < theta0), p_look, 1.0)
    return np.minimum.accumulate(up, axis=-1), np.minimum.accumulate(down, axis=-1), z


def sequential_test(
    differences: NDArray[np.float64], look_ends: NDArray[np.int64], margin: float
) -> SequentialResult:
    """The always-valid p-values of ``differences`` looked at after each count in ``look_ends``.

    Parameters
    ----------
    differences
        The paired differences in time order (candidate minus baseline per-bar return).
    look_ends
        Increasing observation counts at which the analyses looked (one per interval of the stage).
    margin
        The non-inferiority margin in standard deviations of the difference (``DEPLOY_HARM_MARGIN``).
    """
    d = np.asarray(differences, dtype=np.float64)
    ends = np.asarray(look_ends, dtype=np.int64)
    ends = ends[(ends > 0) & (ends <= d.shape[0])]
    if ends.size == 0:
        return SequentialResult(1.0, 1.0, None, int(d.shape[0]))
    sums = np.concatenate(([0.0], np.cumsum(d)))[ends]
    squares = np.concatenate(([0.0], np.cumsum(d * d)))[ends]
    up, down, z = _p_values(sums, squares, ends.astype(np.float64), margin)
    last = z[-1]
    return SequentialResult(
        float(up[-1]), float(down[-1]), None if np.isnan(last) else float(last), int(ends[-1])
    )


def sequential_test_paths(
    differences: NDArray[np.float64], look_ends: NDArray[np.int64], margin: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`sequential_test` for many paths at once (rows of ``differences``): the running p-values
    ``(non-inferiority, harm)`` at every look, shaped ``(paths, looks)``."""
    d = np.asarray(differences, dtype=np.float64)
    ends = np.asarray(look_ends, dtype=np.int64)
    zero = np.zeros((d.shape[0], 1))
    sums = np.concatenate((zero, np.cumsum(d, axis=1)), axis=1)[:, ends]
    squares = np.concatenate((zero, np.cumsum(d * d, axis=1)), axis=1)[:, ends]
    counts = np.broadcast_to(ends.astype(np.float64), sums.shape)
    up, down, _ = _p_values(sums, squares, counts, margin)
    return up, down
