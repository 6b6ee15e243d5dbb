"""Hansen's (2005) test of superior predictive ability, studentized, and Romano & Wolf's (2005) StepM.

Models are the optimizer's candidates, the benchmark is the live baseline, and losses are negative
returns, so the loss differential of model k is ``d_k,t = L_0,t − L_k,t = r_k,t − r_0,t`` (positive when
the candidate earns more). With ``d̄_k`` its mean over n periods and ``ω̂_k²`` the estimate of
``var(√n d̄_k)``:

* statistic ``T = max(0, max_k √n d̄_k / ω̂_k)``;
* bootstrap ``T*_b = max(0, max_k √n (d̄*_k,b − g(d̄_k)) / ω̂_k)`` with the stationary bootstrap's means
  ``d̄*`` and the three recentrings of Hansen: lower ``g(x) = max(x, 0)``, consistent
  ``g(x) = x · 1{x ≥ −√(ω̂²/n · 2 log log n)}``, upper ``g(x) = x`` (White's Reality Check);
* p-value ``mean_b(T*_b ≥ T)``. Since ``g_l ≥ g_c ≥ g_u`` pointwise, ``p_lower ≤ p_consistent ≤ p_upper``
  for every draw. ``≥`` (not ``>``) makes ``p = 1`` when no model beats the benchmark (``T = 0``).

ω̂_k² is Hansen's (2005, section 3.1) estimator with the stationary bootstrap's own kernel weights,
``ω̂² = γ̂_0 + 2 Σ_{i=1}^{n−1} κ(n, i) γ̂_i``, ``κ(n, i) = (1 − i/n)(1 − q)^i + (i/n)(1 − q)^{n−i}``,
``q = 1 / block_size`` (Politis & Romano 1994), i.e. the closed form of the bootstrap variance of the
mean. All autocovariances come from one FFT per model (O(n log n), not O(n²)). The same ω̂_k scales the
statistic and every bootstrap draw, so multiplying one model's differential by ``c > 0`` leaves every
p-value unchanged. (arch 8.0.0's ``SPA`` computes these variances but never divides by them: its p-values
are those of the non-studentized statistic, ``studentize=False`` here.)

Speed: the bootstrap indices are arch's (``StationaryBootstrap.update_indices``, so a seed gives arch's
draws), turned into a (reps × n) matrix of counts; all bootstrap means are then one matrix product
``counts @ d / n`` instead of reps gathers of an (n × k) array.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from arch.bootstrap import StationaryBootstrap
from scipy import fft

from tradeloop.errors import ValidationError
from validation._arrays import (
    FloatArray,
    as_matrix,
    as_series,
    require_positive_int,
    require_probability,
    require_same_length,
    safe_divide,
)
from validation._bootstrap import stationary_block_length

PValueType = Literal["lower", "consistent", "upper"]
_RECENTRINGS: tuple[PValueType, ...] = ("lower", "consistent", "upper")
_CHUNK_REPS = 256


@dataclass(frozen=True)
class SPAPValues:
    """Hansen's three SPA p-values; ``upper`` is White's Reality Check."""

    lower: float
    consistent: float
    upper: float

    @property
    def reality_check(self) -> float:
        """White's (2000) Reality Check p-value: the upper SPA p-value (no recentring of poor models)."""
        return self.upper

    def as_dict(self) -> dict[str, float]:
        """``{"lower": ..., "consistent": ..., "upper": ...}``."""
        return {"lower": self.lower, "consistent": self.consistent, "upper": self.upper}


class SPA:
    """Studentized test of superior predictive ability (Hansen 2005) of k models over a benchmark.

    Construct, call :meth:`compute`, then read :attr:`pvalues` (arch's style). ``H0``: no model has a
    lower expected loss than the benchmark.

    Parameters
    ----------
    benchmark
        (n,) benchmark **losses** (use :meth:`from_returns` for returns).
    models
        (n × k) model losses, one column per model, same periods as ``benchmark``.
    reps
        Bootstrap replications.
    block_size
        Mean block length of the stationary bootstrap; ``None`` uses the Politis–White optimal length of
        the models' average loss differential.
    seed
        Seed of arch's bootstrap generator (same seed and block size give arch's ``SPA`` draws).
    studentize
        Divide by ω̂_k (Hansen's statistic). ``False`` gives the non-studentized statistic, for comparison.

    References
    ----------
    Hansen, P. R. (2005). A test for superior predictive ability. Journal of Business & Economic
    Statistics, 23(4), 365-380.
    White, H. (2000). A reality check for data snooping. Econometrica, 68(5), 1097-1126.
    Politis, D. N., & Romano, J. P. (1994). The stationary bootstrap. JASA, 89(428), 1303-1313.
    """

    def __init__(
        self,
        benchmark: npt.ArrayLike,
        models: npt.ArrayLike,
        *,
        reps: int = 1000,
        block_size: int | None = None,
        seed: int = 0,
        studentize: bool = True,
    ) -> None:
        base = as_series(benchmark, "benchmark", min_length=8)
        losses = as_matrix(models, "models", min_rows=8)
        require_same_length(base, losses, "benchmark", "models")
        require_positive_int(reps, "reps", minimum=10)
        self._diff = base[:, None] - losses
        self.n, self.k = self._diff.shape
        self.reps = reps
        self.seed = seed
        self.studentize = studentize
        if block_size is None:
            block_size = stationary_block_length(self._diff.mean(axis=1))
        require_positive_int(block_size, "block_size")
        self.block_size = block_size
        self._boot_means: FloatArray | None = None
        self._pvalues: SPAPValues | None = None
        self._omega = self._mean = self._threshold = np.empty(0)

    @classmethod
    def from_returns(
        cls,
        benchmark_returns: npt.ArrayLike,
        candidate_returns: npt.ArrayLike,
        **kwargs: int | bool | None,
    ) -> SPA:
        """SPA of candidates over a benchmark given **returns** (losses = −returns)."""
        base = -as_series(benchmark_returns, "benchmark_returns", min_length=8)
        candidates = -as_matrix(candidate_returns, "candidate_returns", min_rows=8)
        return cls(base, candidates, **kwargs)  # type: ignore[arg-type]

    def compute(self) -> None:
        """Run the bootstrap and compute the three p-values."""
        variance = stationary_bootstrap_variance(self._diff, self.block_size)
        self._omega = np.sqrt(variance) if self.studentize else np.ones(self.k)
        self._mean = self._diff.mean(axis=0)
        self._threshold = -np.sqrt(variance / self.n * 2.0 * math.log(math.log(self.n)))
        self._boot_means = bootstrap_means(self._diff, self.reps, self.block_size, self.seed)
        maxima = self._bootstrap_maxima(np.ones(self.k, dtype=bool))
        self._pvalues = SPAPValues(*(float(np.mean(maxima[:, j] >= self.statistic)) for j in range(3)))

    @property
    def pvalues(self) -> SPAPValues:
        """Lower, consistent and upper p-values."""
        if self._pvalues is None:
            raise ValidationError("SPA: call compute() before reading pvalues")
        return self._pvalues

    @property
    def t_stats(self) -> FloatArray:
        """Per-model ``√n d̄_k / ω̂_k`` (``√n d̄_k`` when not studentized)."""
        self._require_computed("t_stats")
        return safe_divide(math.sqrt(self.n) * self._mean, self._omega)

    @property
    def statistic(self) -> float:
        """``T = max(0, max_k t_k)``."""
        return max(0.0, float(self.t_stats.max()))

    @property
    def omega(self) -> FloatArray:
        """Per-model ω̂_k, the estimated standard deviation of ``√n d̄_k``."""
        self._require_computed("omega")
        return np.asarray(self._omega)

    def critical_values(self, alpha: float = 0.05) -> SPAPValues:
        """Bootstrap ``(1 − alpha)`` quantiles of ``T*`` under each recentring."""
        require_probability(alpha, "alpha")
        self._require_computed("critical_values")
        maxima = self._bootstrap_maxima(np.ones(self.k, dtype=bool))
        return SPAPValues(*(float(np.quantile(maxima[:, j], 1.0 - alpha)) for j in range(3)))

    def better_models(self, alpha: float = 0.05, pvalue_type: PValueType = "consistent") -> list[int]:
        """Indices of the models whose ``t_k`` exceeds the ``(1 − alpha)`` critical value (one step)."""
        critical = getattr(self.critical_values(alpha), pvalue_type)
        return [int(i) for i in np.flatnonzero(self.t_stats > critical)]

    def _bootstrap_maxima(self, active: npt.NDArray[np.bool_]) -> FloatArray:
        """(reps × 3) ``T*`` over the ``active`` models for the lower, consistent and upper recentrings."""
        self._require_computed("bootstrap")
        assert self._boot_means is not None
        means = self._boot_means[:, active]
        maxima = np.empty((means.shape[0], 3))
        for j, kind in enumerate(_RECENTRINGS):
            centre = _recentre(self._mean[active], self._threshold[active], kind)
            z = safe_divide((means - centre) * math.sqrt(self.n), self._omega[active])
            maxima[:, j] = np.maximum(z.max(axis=1), 0.0)
        return maxima

    def _require_computed(self, what: str) -> None:
        if self._boot_means is None:
            raise ValidationError(f"SPA: call compute() before reading {what}")


class StepM:
    """Romano & Wolf (2005) stepwise multiple testing: every candidate that beats the benchmark.

    Uses the studentized SPA statistics and bootstrap of :class:`SPA`. Step j takes the ``(1 − size)``
    quantile of ``max_{k active} t*_k`` (recentred as ``pvalue_type``), declares superior every active
    model with ``t_k`` above it, drops those, and repeats until a step finds none **or no model is left**
    (arch 8.0.0's ``StepM`` raises ``ValueError`` in that last case, upstream issue 862; here it ends).
    The family-wise error rate is controlled at ``size``.

    Parameters
    ----------
    benchmark, models, reps, block_size, seed, studentize
        As :class:`SPA`.
    size
        Family-wise error rate, e.g. 0.05.
    pvalue_type
        Recentring of the bootstrap: ``"consistent"`` (default, Hansen's; the step-SPA of Hsu, Hsu & Kuan
        2010) or ``"upper"`` (Romano & Wolf's original, recentred at every sample mean).

    References
    ----------
    Romano, J. P., & Wolf, M. (2005). Stepwise multiple testing as formalized data snooping.
    Econometrica, 73(4), 1237-1282.
    Hsu, P.-H., Hsu, Y.-C., & Kuan, C.-M. (2010). Testing the predictive ability of technical analysis
    using a new stepwise test without data snooping bias. Journal of Empirical Finance, 17(3), 471-484.
    """

    def __init__(
        self,
        benchmark: npt.ArrayLike,
        models: npt.ArrayLike,
        *,
        size: float = 0.05,
        reps: int = 1000,
        block_size: int | None = None,
        seed: int = 0,
        studentize: bool = True,
        pvalue_type: PValueType = "consistent",
    ) -> None:
        require_probability(size, "size")
        if pvalue_type not in _RECENTRINGS:
            raise ValidationError(f"StepM: pvalue_type must be one of {_RECENTRINGS}, got {pvalue_type!r}")
        self.spa = SPA(benchmark, models, reps=reps, block_size=block_size, seed=seed, studentize=studentize)
        self.size = size
        self.pvalue_type: PValueType = pvalue_type
        self._superior: list[int] | None = None
        self._criticals: list[float] = []

    @classmethod
    def from_returns(
        cls,
        benchmark_returns: npt.ArrayLike,
        candidate_returns: npt.ArrayLike,
        **kwargs: float | int | bool | str | None,
    ) -> StepM:
        """StepM of candidates over a benchmark given **returns** (losses = −returns)."""
        base = -as_series(benchmark_returns, "benchmark_returns", min_length=8)
        candidates = -as_matrix(candidate_returns, "candidate_returns", min_rows=8)
        return cls(base, candidates, **kwargs)  # type: ignore[arg-type]

    def compute(self) -> None:
        """Run the steps."""
        self.spa.compute()
        t_stats = self.spa.t_stats
        column = _RECENTRINGS.index(self.pvalue_type)
        active = np.ones(self.spa.k, dtype=bool)
        self._criticals = []
        while active.any():
            maxima = self.spa._bootstrap_maxima(active)[:, column]
            critical = float(np.quantile(maxima, 1.0 - self.size))
            self._criticals.append(critical)
            rejected = active & (t_stats > critical)
            if not rejected.any():
                break
            active &= ~rejected
        self._superior = [int(i) for i in np.flatnonzero(~active)]

    @property
    def critical_values(self) -> list[float]:
        """The critical value of each step, non-increasing (a smaller active set has a smaller maximum).

        A model is superior exactly when its ``t_k`` exceeds the last one: every model above it was removed
        at some step, and at the last step no active model was above it.
        """
        if self._superior is None:
            raise ValidationError("StepM: call compute() before reading critical_values")
        return list(self._criticals)

    @property
    def superior_models(self) -> list[int]:
        """Column indices of the models found superior to the benchmark, ascending."""
        if self._superior is None:
            raise ValidationError("StepM: call compute() before reading superior_models")
        return list(self._superior)


def stationary_bootstrap_variance(diff: npt.ArrayLike, block_size: int) -> FloatArray:
    """Hansen's ω̂² per column: ``γ̂_0 + 2 Σ_{i≥1} κ(n, i) γ̂_i`` with the stationary bootstrap's weights.

    Autocovariances ``γ̂_i = (1/n) Σ_t d̃_t d̃_{t+i}`` of the demeaned columns come from one zero-padded
    FFT each. Equals arch's ``SPA._compute_variance`` (non-nested), which loops over the n lags.
    """
    matrix = as_matrix(diff, "diff")
    n = matrix.shape[0]
    demeaned = matrix - matrix.mean(axis=0)
    size = fft.next_fast_len(2 * n)
    spectrum = fft.rfft(demeaned, n=size, axis=0)
    autocov = fft.irfft(spectrum * spectrum.conj(), n=size, axis=0)[:n] / n
    lags = np.arange(1, n, dtype=np.float64)
    keep = 1.0 - 1.0 / block_size
    kappa = (1.0 - lags / n) * keep**lags + (lags / n) * keep ** (n - lags)
    return np.asarray(np.maximum(autocov[0] + 2.0 * (kappa @ autocov[1:]), 0.0), dtype=np.float64)


def bootstrap_means(diff: FloatArray, reps: int, block_size: int, seed: int) -> FloatArray:
    """(reps × k) column means of ``diff`` under arch's stationary-bootstrap indices, via count matrices."""
    n = diff.shape[0]
    means = np.empty((reps, diff.shape[1]))
    for start, indices in stationary_bootstrap_indices(n, reps, block_size, seed):
        chunk = indices.shape[0]
        offsets = indices + (np.arange(chunk) * n)[:, None]
        counts = np.bincount(offsets.ravel(), minlength=chunk * n).reshape(chunk, n)
        means[start : start + chunk] = counts.astype(np.float64) @ diff / n
    return means


def stationary_bootstrap_indices(
    n: int, reps: int, block_size: int, seed: int
) -> Iterator[tuple[int, npt.NDArray[np.int64]]]:
    """Yield ``(first rep, (chunk × n) indices)``: exactly arch's ``StationaryBootstrap`` draws for ``seed``.

    arch's ``update_indices`` draws ``integers(n, size=n)`` then ``random(n)`` from its generator and
    continues a block at ``t`` when ``u_t > 1/block_size`` (wrapping at n). The same two draws are taken
    from the same generator, in the same order, and the block recursion is vectorised over reps:
    ``index_t = (start_b + t − b) mod n`` with ``b`` the last block start at or before ``t``.
    """
    generator = StationaryBootstrap(block_size, np.empty(n), seed=seed).generator
    assert isinstance(generator, np.random.Generator)  # an int seed gives arch's default_rng
    probability = 1.0 / block_size
    positions = np.arange(n)
    for start in range(0, reps, _CHUNK_REPS):
        chunk = min(reps, start + _CHUNK_REPS) - start
        starts = np.empty((chunk, n), dtype=np.int64)
        new_block = np.empty((chunk, n), dtype=bool)
        for row in range(chunk):
            starts[row] = generator.integers(n, size=n, dtype=np.int64)
            new_block[row] = generator.random(n) <= probability
        new_block[:, 0] = True
        block_start = np.maximum.accumulate(np.where(new_block, positions, 0), axis=1)
        first = np.take_along_axis(starts, block_start, axis=1)
        yield start, (first + positions - block_start) % n


def _recentre(mean: FloatArray, threshold: FloatArray, kind: PValueType) -> FloatArray:
    if kind == "lower":
        return np.maximum(mean, 0.0)
    if kind == "consistent":
        return np.where(mean >= threshold, mean, 0.0)
    return mean
