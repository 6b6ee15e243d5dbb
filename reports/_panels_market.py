"""The market's panels: each live pair's tearsheet, the optimizer's studies, the matrix, the regimes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from reports._charts import chart, compact, downsample, heatmap_figure, no_data, stamps, utc_naive
from reports._dashboard_data import DashboardData
from reports._dashboard_html import Link, Panel, fmt_number, fmt_time, rows_of, slug, table, text, time_range
from reports._series import (
    annualised_sharpe,
    drawdown_pct,
    monthly_returns_pct,
    rolling_sharpe,
    total_return_pct,
)

__all__ = ["matrix_panel", "pairs_panel", "regimes_panel", "studies_panel"]

#: Pairs drawn, points per line of a pair's charts, trades listed per pair.
MAX_PAIRS = 40
_PAIR_POINTS = 320
_TRADES_LISTED = 25
_MODE_ORDER = ("live", "paper", "backtest")
_MODE_COLOURS = {"live": "#2ca02c", "paper": "#1f77b4", "backtest": "#9467bd"}
_REGIME_COLOURS = {"bull": "#2ca02c", "bear": "#d62728", "sideways": "#7f7f7f", "high_vol": "#ff7f0e"}
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _line(series: pd.Series, name: str, colour: str | None, dash: str = "solid") -> dict[str, Any]:
    x, y = downsample(utc_naive(series.index), series.to_numpy(dtype=float), _PAIR_POINTS)
    return {"type": "scatter", "mode": "lines", "x": stamps(x), "y": compact(y),
            "name": name, "line": {"color": colour, "dash": dash, "width": 1.5}}  # fmt: skip


def _pair_series(equity: pd.DataFrame) -> dict[str, pd.Series]:
    """One equity series per mode and parameter set (``live abc123def456``), in mode order."""
    found: dict[str, pd.Series] = {}
    for (mode, config_hash), rows in sorted(
        equity.groupby(["mode", "config_hash"]), key=lambda item: _MODE_ORDER.index(str(item[0][0]))
    ):
        rows = rows.sort_values("ts")
        found[f"{mode} {str(config_hash)[:12]}"] = pd.Series(
            rows["equity_usd"].to_numpy(dtype=float), index=pd.DatetimeIndex(rows["ts"])
        )
    return found


def _buy_and_hold(prices: pd.Series | None, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series | None:
    if prices is None or prices.empty:
        return None
    window = prices[(prices.index >= start) & (prices.index <= end)].dropna()
    return None if len(window) < 2 else window / window.iloc[0] * 100.0


def _equity_figure(series: Mapping[str, pd.Series], hold: pd.Series | None, title: str) -> dict[str, Any]:
    traces = [
        _line(s / s.iloc[0] * 100.0, name, _MODE_COLOURS.get(name.split()[0])) for name, s in series.items()
    ]
    if hold is not None:
        traces.append(_line(hold, "buy and hold", "#444", "dot"))
    layout = {"title": {"text": title}, "yaxis": {"title": {"text": "equity, rebased to 100"}}}
    return {"data": traces, "layout": layout}


def _drawdown_figure(series: Mapping[str, pd.Series]) -> dict[str, Any]:
    traces = [_line(drawdown_pct(s), name, _MODE_COLOURS.get(name.split()[0])) for name, s in series.items()]
    for trace in traces:
        trace["fill"] = "tozeroy"
    layout = {"title": {"text": "Drawdown"}, "height": 240, "yaxis": {"title": {"text": "%"}}}
    return {"data": traces, "layout": layout}


def _monthly_figure(name: str, equity: pd.Series) -> dict[str, Any]:
    months = monthly_returns_pct(equity)
    figure = heatmap_figure(
        [str(year) for year in months.index], _MONTHS,
        [[None if pd.isna(v) else float(v) for v in row] for row in months.to_numpy()],
        title=f"Monthly returns, {name} (%)", limit=5.0, colorbar="%",
    )  # fmt: skip
    figure["layout"]["height"] = max(200, 80 + 30 * len(months.index))
    return figure


def _rolling_figure(name: str, equity: pd.Series) -> dict[str, Any]:
    rolled = rolling_sharpe(equity).dropna()
    traces = [_line(rolled, f"{name}, 30-day", "#1f77b4")] if not rolled.empty else []
    layout = {"title": {"text": "Rolling Sharpe (30 days, annualised)"}, "height": 240}
    return {"data": traces, "layout": layout}


def _trade_list(trades: pd.DataFrame) -> str:
    if trades.empty:
        return no_data("no closed trade of this pair")
    latest = trades.sort_values("exit_time").tail(_TRADES_LISTED).iloc[::-1]
    rows = [
        [fmt_time(t.entry_time), fmt_time(t.exit_time), text(t.mode) or "backtest", t.side,
         fmt_number(t.entry_price, 4), fmt_number(t.exit_price, 4), fmt_number(t.pnl, 2),
         fmt_number(t.pnl_pct, 2, " %"), text(t.exit_reason)]
        for t in rows_of(latest)
    ]  # fmt: skip
    headers = [
        "entry",
        "exit",
        "mode",
        "side",
        "entry price",
        "exit price",
        "PnL [USD]",
        "PnL",
        "exit reason",
    ]
    caption = f"<p>The last {len(rows)} of {len(trades):,} trades.</p>"
    return caption + table(headers, rows, css_class="trades")


def _kpi_line(series: Mapping[str, pd.Series]) -> str:
    parts = [
        f"{name}: return {fmt_number(total_return_pct(s), 2, ' %')}, "
        f"Sharpe {fmt_number(annualised_sharpe(s), 2)}, "
        f"max drawdown {fmt_number(float(drawdown_pct(s).min()), 2, ' %')}"
        for name, s in series.items()
    ]
    return '<ul class="kpis">' + "".join(f"<li>{escape(p)}</li>" for p in parts) + "</ul>"


def _pair_section(
    data: DashboardData, strategy: str, symbol: str, equity: pd.DataFrame, trades: pd.DataFrame
) -> str:
    key = slug("pair", strategy, symbol)
    series = {name: s for name, s in _pair_series(equity).items() if len(s) >= 2}
    heading = f'<h3 id="{key}">{escape(strategy)} / {escape(symbol)}</h3>'
    if not series:
        return heading + no_data("no equity reported for this pair") + _trade_list(trades)
    primary_name, primary = next(iter(series.items()))
    start = min(s.index[0] for s in series.values())
    end = max(s.index[-1] for s in series.values())
    hold = _buy_and_hold(data.prices.get(symbol), start, end)
    title = f"Equity: {strategy}/{symbol} ({', '.join(series)})"
    charts = [
        chart(f"{key}-equity", _equity_figure(series, hold, title)),
        chart(f"{key}-drawdown", _drawdown_figure(series)),
        chart(f"{key}-monthly", _monthly_figure(primary_name, primary)),
        chart(f"{key}-rolling", _rolling_figure(primary_name, primary)),
    ]
    hold_note = "" if hold is not None else "<p>Buy and hold: no bars of this symbol over this time.</p>"
    return (
        heading
        + _kpi_line(series)
        + '<div class="grid">'
        + "".join(charts)
        + "</div>"
        + hold_note
        + _trade_list(trades)
    )


def pairs_panel(data: DashboardData) -> Panel:
    """Per pair with equity or trades: equity and drawdown (backtest, paper, live, buy and hold), monthly
    returns, rolling Sharpe and the trade list."""
    equity, trades = data.table("equity"), data.table("trades")
    title = "Live pairs: equity, drawdown, monthly returns, rolling Sharpe, trades"
    pairs = sorted(
        {
            *zip(equity["strategy"], equity["symbol"], strict=True),
            *zip(trades["strategy"], trades["symbol"], strict=True),
        }
    )
    if not pairs:
        return Panel("pairs", title, None, None, 0, no_data("no equity point or trade in the warehouse"))
    by_equity = dict(list(equity.groupby(["strategy", "symbol"]))) if not equity.empty else {}
    by_trades = dict(list(trades.groupby(["strategy", "symbol"]))) if not trades.empty else {}
    nav = "".join(
        f'<li><a href="#{slug("pair", s, y)}">{escape(f"{s}/{y}")}</a></li>' for s, y in pairs[:MAX_PAIRS]
    )
    sections = [
        _pair_section(
            data, s, y, by_equity.get((s, y), equity.iloc[0:0]), by_trades.get((s, y), trades.iloc[0:0])
        )
        for s, y in pairs[:MAX_PAIRS]
    ]
    start, end = time_range(equity["ts"], trades["exit_time"])
    more = len(pairs) - MAX_PAIRS
    extra = f"<p>{more} more pairs are not drawn (the first {MAX_PAIRS} by name are).</p>" if more > 0 else ""
    body = f'<ul class="pair-nav">{nav}</ul>' + "".join(sections) + extra
    return Panel("pairs", title, start, end, len(equity) + len(trades), body)


def studies_panel(data: DashboardData) -> Panel:
    """The optimizer's latest studies: optimization history, parameter importances, parallel coordinates."""
    title = "Optimizer studies"
    if not data.studies:
        return Panel("studies", title, None, None, 0, no_data("no Optuna study in the optimizer's storage"))
    parts = []
    for study in data.studies:
        key = slug("study", study.name)
        charts = "".join(chart(f"{key}-{name}", figure) for name, figure in study.figures.items())
        problems = "".join(f"<li>{escape(p)}</li>" for p in study.problems)
        parts.append(
            f'<h3 id="{key}">{escape(study.name)}</h3><p>{study.trials:,} trials, {fmt_time(study.first)} → '
            f'{fmt_time(study.last)}</p><div class="grid">{charts}</div>'
            + (f'<ul class="problems">{problems}</ul>' if problems else "")
        )
    start, end = time_range([s.first for s in data.studies], [s.last for s in data.studies])
    return Panel("studies", title, start, end, sum(s.trials for s in data.studies), "".join(parts))


def _latest_cells(backtests: pd.DataFrame) -> pd.DataFrame:
    frame = backtests.copy()
    frame["param_set"] = [str((k or {}).get("_param_set") or "?") for k in frame["kpis"]]
    frame["sharpe"] = [
        (k or {}).get("sharpe") if s == "ok" else None
        for k, s in zip(frame["kpis"], frame["status"], strict=True)
    ]
    frame = frame.sort_values("created_at")
    return frame.groupby(["strategy", "symbol", "timeframe", "window", "param_set"], as_index=False).tail(1)


def _representative(cells: pd.DataFrame) -> float | None:
    for param_set in ("live", "base"):
        chosen = cells[cells["param_set"] == param_set]
        if not chosen.empty:
            value = chosen["sharpe"].iloc[-1]
            return None if value is None or pd.isna(value) else float(value)
    return None


def _flags_table(data: DashboardData) -> str:
    run = f" of run {data.flags_run}" if data.flags_run else ""
    if not data.flags:
        return (
            f"<h3>Flags{run}</h3><p>No flags: no cell moved beyond its thresholds against its baseline.</p>"
        )
    rows: list[Sequence[str | Link]] = [
        [f.kind, f"{f.strategy} · {f.symbol} · {f.timeframe} · {f.window}", f.param_set, f.metric,
         fmt_number(f.figure), fmt_number(f.baseline), f"{f.threshold:g}", f.message]
        for f in data.flags
    ]  # fmt: skip
    headers = ["flag", "cell", "param set", "metric", "tonight", "baseline", "threshold", "why"]
    return f"<h3>Flags{run}</h3>" + table(headers, rows, css_class="flags")


def matrix_panel(data: DashboardData) -> Panel:
    """The nightly matrix: the latest Sharpe per strategy × symbol (live, else base, parameters) per
    timeframe and window, and the latest run's flags."""
    backtests = data.table("backtests")
    title = "Nightly matrix: Sharpe heatmaps and flags"
    if backtests.empty:
        body = no_data("no backtest result in the warehouse (tradeloop matrix merge)") + _flags_table(data)
        return Panel("matrix", title, None, None, 0, body)
    cells = _latest_cells(backtests)
    strategies, symbols = sorted(set(cells["strategy"])), sorted(set(cells["symbol"]))
    charts = []
    for (timeframe, window), group in cells.groupby(["timeframe", "window"]):
        values = [[_representative(group[(group["strategy"] == s) & (group["symbol"] == y)]) for y in symbols]
                  for s in strategies]  # fmt: skip
        name = f"Sharpe, live (else base) parameters, {timeframe} bars, window {window}"
        charts.append(
            chart(
                f"matrix-{slug(timeframe, window)}", heatmap_figure(strategies, symbols, values, title=name)
            )
        )
    start, end = time_range(cells["created_at"])
    body = '<div class="grid">' + "".join(charts) + "</div>" + _flags_table(data)
    return Panel("matrix", title, start, end, len(cells), body)


def _segments(rows: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.Timestamp, str, float]]:
    """Consecutive detections of the same regime merged into one segment (start, end, regime, confidence)."""
    rows = rows.sort_values("window_end")
    regime = rows["regime"].to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, regime[1:] != regime[:-1]])
    ends = np.r_[starts[1:] - 1, len(regime) - 1]
    total = np.r_[0.0, np.cumsum(rows["confidence"].to_numpy(dtype=float))]
    confidence = (total[ends + 1] - total[starts]) / (ends - starts + 1)
    begin, finish = rows["window_start"].iloc[starts], rows["window_end"].iloc[ends]
    return list(zip(begin, finish, (str(r) for r in regime[starts]), confidence.tolist(), strict=True))


def regimes_panel(data: DashboardData) -> Panel:
    """The regime history per symbol and timeframe: a band per regime segment, hover for the confidence."""
    regimes = data.table("regimes")
    title = "Regime history"
    if regimes.empty:
        return Panel("regimes", title, None, None, 0, no_data("no regime detection in the warehouse"))
    traces: dict[str, dict[str, Any]] = {}
    lanes = []
    for (symbol, timeframe), rows in regimes.groupby(["symbol", "timeframe"]):
        lane = f"{symbol} {timeframe}"
        lanes.append(lane)
        for begin, finish, regime, confidence in _segments(rows):
            trace = traces.setdefault(regime, {
                "type": "scatter", "mode": "lines", "name": regime, "x": [], "y": [], "text": [],
                "line": {"width": 14, "color": _REGIME_COLOURS.get(regime)},
                "hovertemplate": "%{y}: %{text}<extra></extra>",
            })  # fmt: skip
            label = f"{regime} ({confidence:.2f}) {fmt_time(begin)} → {fmt_time(finish)}"
            trace["x"] += [*stamps([begin, finish]), None]
            trace["y"] += [lane, lane, None]
            trace["text"] += [label, label, None]
    layout = {"title": {"text": "Regime by symbol"}, "height": 120 + 40 * len(lanes), "hovermode": "closest",
              "yaxis": {"type": "category", "categoryarray": lanes}}  # fmt: skip
    start, end = time_range(regimes["window_start"], regimes["window_end"])
    body = chart("regimes-timeline", {"data": list(traces.values()), "layout": layout})
    return Panel("regimes", title, start, end, len(regimes), body)
