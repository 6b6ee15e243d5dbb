"""Several rows' positions held in lockstep on SIMD lanes: the in-position loop of ``_hold_nb`` for ``LANES``
rows at once, written as vector LLVM IR (numba does not vectorise it from scalar code).

Each lane holds one row's position; the lanes share the bars, so a bar is loaded once for all of them.
Every lane does the floating-point operations of :func:`~backtest_matrix.engine._hold_nb.hold_long` in the
same order (IEEE operations are lane-wise and exact, and nothing is fused or reassociated), so each lane's
figures are bit-identical to the scalar loop's. A short lane runs the long loop on the mirrored bar
(``-open``, high ``-low``, low ``-high``) with its stop, target and extreme negated: comparisons mirror
exactly, and ``(-x) * f == -(x * f)`` in IEEE arithmetic.

The lane state lives in a ``(N_LANE_FIELDS, LANES)`` array (one row per field, :data:`L_CASH` ...);
:func:`hold_lanes` runs it over bars ``t, t+1, ...`` and stops at the first bar on which some lane acts
(its stop or target is reached, or its exit signal acts: ``L_END``), with that bar committed for every
other lane. The caller then runs the acting lanes' rows through the scalar order logic. An empty lane
holds :func:`idle_lane`'s values, on which no bar acts.

The loop speculates that no lane acts and every equity stays positive (the common case), so that a bar's
update does not wait for the stop and target tests; a bar where that fails is done again with the exact
per-lane masks. The bars come as the rows of ``cols`` (:data:`C_LOWER` ...): ``min(open, low)`` and
``max(open, high)`` let one comparison stand for the two of ``hold_long``'s tests (for finite prices:
``min(o, l) <= s`` exactly when ``o <= s or l <= s``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from backtest_matrix.engine._jit import njit_unrefcounted
from backtest_matrix.engine._orders_nb import R_TRAIL

__all__ = [
    "C_CLOSE",
    "C_HIGH",
    "C_LOW",
    "C_LOWER",
    "C_UPPER",
    "LANES",
    "L_CASH",
    "L_DSQ",
    "L_END",
    "L_EXTREME",
    "L_LOWEST",
    "L_PEAK",
    "L_PREV",
    "L_REASON",
    "L_RSQ",
    "L_RSUM",
    "L_SIGN",
    "L_STOP",
    "L_TARGET",
    "L_TRAIL_FACTOR",
    "L_UNITS",
    "N_COLS",
    "N_LANE_FIELDS",
    "bar_columns",
    "hold_lanes",
    "idle_lane",
]

#: Rows per lockstep group: eight float64 lanes fill one 512-bit register (two 256-bit ones without AVX-512).
LANES = 8
(
    L_CASH, L_UNITS, L_STOP, L_TARGET, L_TRAIL_FACTOR, L_EXTREME, L_REASON, L_PREV, L_RSUM, L_RSQ, L_DSQ,
    L_PEAK, L_LOWEST, L_SIGN, L_END, N_LANE_FIELDS,
) = range(16)  # fmt: skip
#: The rows of ``cols``: ``min(open, low)``, ``max(open, high)``, high, low, close.
C_LOWER, C_UPPER, C_HIGH, C_LOW, C_CLOSE, N_COLS = range(6)
# The fields a bar changes, in the order the loop carries them.
_CARRIED = (L_EXTREME, L_STOP, L_REASON, L_PREV, L_RSUM, L_RSQ, L_DSQ, L_PEAK, L_LOWEST)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_F64 = ir.DoubleType()


@njit_unrefcounted
def idle_lane(lanes: np.ndarray, lane: int) -> None:
    """Empty ``lane``: a position of no units at a price no bar reaches, whose equity stays 1."""
    values = (1.0, 0.0, -np.inf, np.inf, 1.0, np.inf, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, -1.0)
    for field in range(N_LANE_FIELDS):
        lanes[field, lane] = values[field]


@njit(cache=True)
def bar_columns(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """The rows :data:`C_LOWER` ... of :func:`hold_lanes`'s ``cols``."""
    n = close.shape[0]
    cols = np.empty((N_COLS, n))
    for t in range(n):
        cols[C_LOWER, t] = min(open_[t], low[t])
        cols[C_UPPER, t] = max(open_[t], high[t])
        cols[C_HIGH, t] = high[t]
        cols[C_LOW, t] = low[t]
        cols[C_CLOSE, t] = close[t]
    return cols


class _Vectors:
    """Vector IR helpers for one builder: ``<LANES x double>`` constants, splats and numba's min/max."""

    def __init__(self, builder: ir.IRBuilder) -> None:
        self.b = builder
        self.type = ir.VectorType(_F64, LANES)

    def const(self, value: float) -> ir.Constant:
        return ir.Constant(self.type, [value] * LANES)

    def splat(self, scalar: Any) -> Any:
        b = self.b
        first = b.insert_element(ir.Constant(self.type, ir.Undefined), scalar, ir.Constant(_I32, 0))
        zeros = ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES)
        return b.shuffle_vector(first, ir.Constant(self.type, ir.Undefined), zeros)

    def max(self, a: Any, b: Any) -> Any:
        """numba's ``max(a, b)``: ``b if b > a else a``."""
        return self.b.select(self.b.fcmp_ordered(">", b, a), b, a)

    def any(self, mask: Any) -> Any:
        bits = self.b.bitcast(mask, ir.IntType(LANES))
        return self.b.icmp_unsigned("!=", bits, ir.Constant(ir.IntType(LANES), 0))

    def bits(self, mask: Any) -> Any:
        return self.b.zext(self.b.bitcast(mask, ir.IntType(LANES)), _I64)


def _bar(v: _Vectors, column: Callable[[int], Any], short: Any) -> tuple[Any, Any, Any, Any]:
    """``(stop test price, target test price, trailing price, close)`` for every lane: a short lane's are
    the mirrored bar's (``-max(open, high)``, ``-min(open, low)``, ``-low``)."""
    b = v.b
    lower, upper, high = column(C_LOWER), column(C_UPPER), column(C_HIGH)
    return (
        b.select(short, b.fneg(upper), lower),
        b.select(short, b.fneg(lower), upper),
        b.select(short, b.fneg(column(C_LOW)), high),
        column(C_CLOSE),
    )


def _reached(v: _Vectors, bar: tuple[Any, Any, Any, Any], fixed: dict[Any, Any], stop: Any) -> Any:
    """The lanes whose stop or target the bar reaches."""
    b = v.b
    return b.or_(b.fcmp_ordered("<=", bar[0], stop), b.fcmp_ordered(">=", bar[1], fixed[L_TARGET]))


def _held(
    v: _Vectors, bar: tuple[Any, Any, Any, Any], hold: Any, fixed: dict[Any, Any], state: list[Any]
) -> tuple[list[Any], Any]:
    """The state after the bar on the lanes in ``hold`` (``None``: every lane, each with a positive equity
    before the bar), the others keeping theirs; with ``return_statistics``'s rare ``lowest`` division
    applied by the caller to the lanes of the returned mask."""
    b = v.b
    _, _, high_l, close = bar
    extreme, stop, reason, prev, rsum, rsq, dsq, peak, lowest = state

    def where(mask: Any, new: Any, old: Any) -> Any:
        return new if mask is None else b.select(mask, new, old)

    new_extreme = b.fcmp_ordered(">", high_l, extreme)
    if hold is not None:
        new_extreme = b.and_(hold, new_extreme)
    extreme_next = b.select(new_extreme, high_l, extreme)
    candidate = b.fmul(extreme_next, fixed[L_TRAIL_FACTOR])
    # stop != stop or candidate > stop (the candidate is not NaN: the extreme is a price, the factor > 0)
    trail = b.and_(new_extreme, b.fcmp_unordered(">", candidate, stop))
    equity = b.fadd(fixed[L_CASH], b.fmul(fixed[L_UNITS], close))
    counted = None if hold is None else b.and_(hold, b.fcmp_ordered(">", prev, v.const(0.0)))
    ret = b.fsub(b.fdiv(equity, prev), v.const(1.0))
    zero = v.const(0.0)
    loss = b.select(b.fcmp_ordered("<", zero, ret), zero, ret)
    peak_next = where(hold, v.max(peak, equity), peak)
    new_low = b.fcmp_ordered("<", equity, b.fmul(lowest, peak_next))
    if hold is not None:
        new_low = b.and_(hold, new_low)
    held = [
        extreme_next,
        b.select(trail, candidate, stop),
        b.select(trail, v.const(float(R_TRAIL)), reason),
        where(hold, equity, prev),
        where(counted, b.fadd(rsum, ret), rsum),
        where(counted, b.fadd(rsq, b.fmul(ret, ret)), rsq),
        where(counted, b.fadd(dsq, b.fmul(loss, loss)), dsq),
        peak_next,
        b.select(new_low, b.fdiv(equity, peak_next), lowest) if hold is not None else lowest,
    ]
    return held, (new_low, equity, peak_next)


class _HoldLoop:
    """Emits :func:`hold_lanes`'s loop over the bars for the lanes' state in ``lanes``."""

    def __init__(self, context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> None:
        lanes_v, cols_v, self.t0, self.bound, self.end = args
        self.b = builder
        self.v = _Vectors(builder)
        self.lanes = context.make_array(signature.args[0])(context, builder, lanes_v)
        self.cols = context.make_array(signature.args[1])(context, builder, cols_v)
        self.n = builder.extract_value(self.cols.shape, 1)
        fields = (L_CASH, L_UNITS, L_TARGET, L_TRAIL_FACTOR, L_END)
        self.fixed: dict[Any, Any] = {field: self.load(field) for field in fields}
        self.short = builder.fcmp_ordered("<", self.load(L_SIGN), self.v.const(0.0))

    def field_ptr(self, field: int) -> Any:
        at = self.b.gep(self.lanes.data, [ir.Constant(_I64, field * LANES)])
        return self.b.bitcast(at, self.v.type.as_pointer())

    def load(self, field: int) -> Any:
        return self.b.load(self.field_ptr(field), align=8)

    def emit(self, short: Any) -> tuple[Any, Any]:
        """The loop, from the current block (``short``: the short lanes' mask); it stores the lanes' state
        and leaves the builder after it with ``(bar, acting)``."""
        b, v, fixed = self.b, self.v, self.fixed
        initial = [self.load(field) for field in _CARRIED]
        entry = b.block
        names = ("head", "edge", "body", "low", "new_low", "join", "slow", "latch", "done")
        blocks = {name: b.append_basic_block(f"lanes.{name}") for name in names}
        b.branch(blocks["head"])

        b.position_at_end(blocks["head"])
        t = b.phi(_I64)
        t.add_incoming(self.t0, entry)
        state = [b.phi(v.type) for _ in initial]
        for phi, value in zip(state, initial, strict=True):
            phi.add_incoming(value, entry)
        b.cbranch(b.icmp_signed("<", t, self.bound), blocks["body"], blocks["edge"])

        def column(row: int) -> Any:
            at = b.add(b.mul(ir.Constant(_I64, row), self.n), t)
            return v.splat(b.load(b.gep(self.cols.data, [at])))

        # The common bar: no lane acts and every equity before it is positive; speculated, then checked.
        b.position_at_end(blocks["body"])
        bar = _bar(v, column, short)
        unsure = b.or_(_reached(v, bar, fixed, state[1]), b.fcmp_ordered("<=", state[3], v.const(0.0)))
        held, (new_low, equity, peak_next) = _held(v, bar, None, fixed, state)
        b.cbranch(v.any(unsure), blocks["slow"], blocks["low"])
        b.position_at_end(blocks["low"])
        b.cbranch(v.any(new_low), blocks["new_low"], blocks["join"])
        b.position_at_end(blocks["new_low"])
        lowest_low = b.select(new_low, b.fdiv(equity, peak_next), held[-1])
        b.branch(blocks["join"])
        b.position_at_end(blocks["join"])
        lowest = b.phi(v.type)
        lowest.add_incoming(held[-1], blocks["low"])
        lowest.add_incoming(lowest_low, blocks["new_low"])
        fast = [*held[:-1], lowest]
        b.branch(blocks["latch"])

        # At bound: end, or a lane's exit signal.
        b.position_at_end(blocks["edge"])
        b.cbranch(b.icmp_signed("<", t, self.end), blocks["slow"], blocks["done"])

        # The exact bar: per-lane masks for the lanes that act and the equities that are not positive.
        b.position_at_end(blocks["slow"])
        bar = _bar(v, column, short)
        signal = b.fcmp_ordered("==", fixed[L_END], v.splat(b.sitofp(t, _F64)))
        acting = b.or_(_reached(v, bar, fixed, state[1]), signal)
        exact, _ = _held(v, bar, b.not_(acting), fixed, state)
        acting_bits = v.bits(acting)
        b.cbranch(v.any(acting), blocks["done"], blocks["latch"])

        b.position_at_end(blocks["latch"])
        for phi, fast_value, exact_value in zip(state, fast, exact, strict=True):
            carried = b.phi(v.type)
            carried.add_incoming(fast_value, blocks["join"])
            carried.add_incoming(exact_value, blocks["slow"])
            phi.add_incoming(carried, blocks["latch"])
        t.add_incoming(b.add(t, ir.Constant(_I64, 1)), blocks["latch"])
        b.branch(blocks["head"])
        return self._done(blocks, state, exact, t, acting_bits)

    def _done(
        self, blocks: dict[str, Any], state: list[Any], exact: list[Any], t: Any, bits: Any
    ) -> tuple[Any, Any]:
        b = self.b
        b.position_at_end(blocks["done"])
        bar = b.phi(_I64)
        bar.add_incoming(self.end, blocks["edge"])
        bar.add_incoming(t, blocks["slow"])
        acting = b.phi(_I64)
        acting.add_incoming(ir.Constant(_I64, 0), blocks["edge"])
        acting.add_incoming(bits, blocks["slow"])
        finals = []
        for head_value, exact_value in zip(state, exact, strict=True):
            final = b.phi(self.v.type)
            final.add_incoming(head_value, blocks["edge"])
            final.add_incoming(exact_value, blocks["slow"])
            finals.append(final)
        for field, final in zip(_CARRIED, finals, strict=True):
            b.store(final, self.field_ptr(field), align=8)
        return bar, acting


@intrinsic
def _hold_lanes(typingctx: Any, lanes: Any, cols: Any, t: Any, bound: Any, end: Any) -> Any:
    """Run the lanes of ``lanes`` from bar ``t`` up to the first bar ``< end`` on which one acts.

    ``cols`` holds the bars as the rows :data:`C_LOWER` ... (``(N_COLS, n)``); ``bound <= end`` is the
    first bar ``>= t`` on which some lane's exit signal acts (or ``end``). Returns ``(bar, acting)``: the
    bar the lanes stopped at (``end`` when none acted) and the bit mask of the lanes acting on it. The
    lanes' state is updated through the bar before it, and for the lanes not acting, that bar too.
    """
    sig = types.UniTuple(types.int64, 2)(lanes, cols, t, bound, end)  # type: ignore[no-untyped-call]

    def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
        loop = _HoldLoop(context, builder, signature, args)
        bar, acting = loop.emit(loop.short)
        return context.make_tuple(builder, signature.return_type, [bar, acting])

    return sig, codegen


#: ``hold_lanes(lanes, cols, t, bound, end) -> (bar, acting)`` (the intrinsic's typing context is numba's).
hold_lanes = cast(Callable[[np.ndarray, np.ndarray, int, int, int], tuple[int, int]], _hold_lanes)
