"""The loop's panels: the optimization cycles, suggested vs applied parameters, and the rollouts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from reports._charts import chart, compact, downsample, no_data, stamps, steps, utc_naive
from reports._dashboard_data import DashboardData
from reports._dashboard_html import Link, Panel, fmt_number, fmt_time, rows_of, slug, table, text, time_range
from reports._series import annualised_sharpe, total_return_pct

__all__ = ["cycles_panel", "rollouts_panel", "suggestions_panel"]

#: The last cycles listed, the parameters drawn, and the points per suggestion chart.
MAX_CYCLES = 50
MAX_PARAMETER_CHARTS = 40
_SUGGESTION_POINTS = 160
_PUBLISHED = ("opened", "merged", "declined", "reverted")
_OUTCOME_COLOURS = {"proposed": "#9e9e9e", "opened": "#1f77b4", "merged": "#2ca02c", "declined": "#ff7f0e",
                    "reverted": "#d62728"}  # fmt: skip


def _cycles(proposals: pd.DataFrame) -> pd.DataFrame:
    """One row per proposal (its rows share a proposal hash, else a run; the first row stands for it, with
    the outcome, PR and KPIs its rows share), newest first."""
    identity = proposals["proposal_hash"].fillna(proposals["run_id"])
    frame = proposals.assign(key=identity + "|" + proposals["strategy"] + "|" + proposals["symbol"])
    firsts = frame.sort_values(["created_at", "id"]).drop_duplicates("key")
    return firsts.sort_values(["created_at", "id"], ascending=False)


def _moved(proposals: pd.DataFrame, cycles: pd.DataFrame) -> dict[str, str]:
    """``ema_fast 12 → 13 (8.3 %); ...`` for each listed proposal (its rows: one per parameter)."""
    keys = set(cycles["key"])
    identity = proposals["proposal_hash"].fillna(proposals["run_id"])
    frame = proposals.assign(key=identity + "|" + proposals["strategy"] + "|" + proposals["symbol"])
    moved: dict[str, list[str]] = {}
    for row in rows_of(frame[frame["key"].isin(keys)]):
        moved.setdefault(row.key, []).append(
            f"{row.parameter} {fmt_number(row.current_value, 4)} → {fmt_number(row.proposed_value, 4)} "
            f"({fmt_number(row.delta_pct, 1, ' %')})"
        )
    return {key: "; ".join(parts) for key, parts in moved.items()}


def _overall(kpis: Any, name: str) -> float | None:
    if not isinstance(kpis, Mapping):
        return None
    value = (kpis.get("overall") or {}).get(name)
    return float(value) if isinstance(value, int | float) else None


def _delta(after: Any, before: Any, name: str) -> float | None:
    a, b = _overall(after, name), _overall(before, name)
    return None if a is None or b is None else a - b


def _what_happened(row: Any, subjects: Mapping[str, str]) -> str:
    outcome = str(row.outcome)
    when = "" if pd.isna(row.decided_at) else f" {fmt_time(row.decided_at)}"
    commit = row.commit_sha if isinstance(row.commit_sha, str) else ""
    subject = f": {subjects[commit]}" if commit in subjects else ""
    return f"{outcome}{when}" + (f" by {commit[:12]}{subject}" if commit else "")


def _pr_cell(row: Any) -> str | Link:
    if pd.isna(row.pr_number):
        return "—"
    url = row.pr_url if isinstance(row.pr_url, str) else None
    return Link(f"#{int(row.pr_number)}", url)


def _outcome_chart(cycles: pd.DataFrame) -> str:
    """Proposals per day, stacked by outcome."""
    days = cycles["created_at"].dt.floor("D")
    counts = pd.crosstab(days, cycles["outcome"])
    traces = [
        {"type": "bar", "name": outcome, "x": stamps(counts.index),
         "y": counts[outcome].tolist(), "marker": {"color": _OUTCOME_COLOURS.get(outcome, "#777")}}
        for outcome in counts.columns
    ]  # fmt: skip
    layout = {"barmode": "stack", "title": {"text": "Proposals per day by outcome"}, "height": 260,
              "yaxis": {"title": {"text": "proposals"}}}  # fmt: skip
    return chart("cycles-outcomes", {"data": traces, "layout": layout})


def cycles_panel(data: DashboardData, max_cycles: int = MAX_CYCLES) -> Panel:
    """The last cycles per strategy/symbol: what was proposed, the verdict, and what became of it."""
    proposals = data.table("proposals")
    title = "Optimization cycles"
    if proposals.empty:
        return Panel(
            "cycles", title, None, None, 0, no_data("no proposal in the warehouse's optimization_history")
        )
    cycles = _cycles(proposals)
    listed = cycles.head(max_cycles)
    moved = _moved(proposals, listed)
    subjects = {change.commit: change.subject for change in data.changes}
    rows = [
        [fmt_time(row.created_at), f"{row.strategy}/{row.symbol} {row.timeframe}", moved.get(row.key, ""),
         "pass (pull request opened)" if row.outcome in _PUBLISHED else "not published (no pass, or not run)",
         _what_happened(row, subjects), _pr_cell(row),
         fmt_number(_delta(row.kpis_after, row.kpis_before, "sharpe"), 3)]
        for row in rows_of(listed)
    ]  # fmt: skip
    headers = ["proposed at", "pair", "proposal", "verdict", "what happened", "PR", "Δ Sharpe (search bars)"]
    start, end = time_range(proposals["created_at"], proposals["decided_at"])
    note = f"<p>The last {len(rows)} of {len(cycles):,} proposals, newest first.</p>"
    body = _outcome_chart(cycles) + note + table(headers, rows, css_class="cycles")
    return Panel("cycles", title, start, end, len(cycles), body)


def _parameter_figure(group: pd.DataFrame, max_delta: float, title: str) -> dict[str, Any]:
    """Suggestions (markers by outcome), the applied value (a step line) and the caps around the current."""
    group = group.sort_values("created_at")
    times = utc_naive(group["created_at"])
    current = group["current_value"].to_numpy(dtype=float)
    x, base = downsample(*steps(times, current), _SUGGESTION_POINTS)
    low, high = compact(base * (1 - max_delta)), compact(base * (1 + max_delta))
    cap = f"±{max_delta * 100:g} % cap"
    traces: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "x": stamps(x), "y": low, "name": cap,
         "line": {"shape": "hv", "width": 0}, "legendgroup": "cap", "showlegend": False, "hoverinfo": "skip"},
        {"type": "scatter", "mode": "lines", "x": stamps(x), "y": high, "name": cap,
         "line": {"shape": "hv", "width": 0}, "fill": "tonexty", "fillcolor": "rgba(31,119,180,0.12)",
         "legendgroup": "cap", "hoverinfo": "skip"},
    ]  # fmt: skip
    for outcome, rows in group.groupby("outcome", sort=False):
        values = rows["proposed_value"].to_numpy(dtype=float)
        sx, sy = downsample(utc_naive(rows["created_at"]), values, _SUGGESTION_POINTS)
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": stamps(sx),
                "y": compact(sy),
                "name": f"suggested ({outcome})",
                "marker": {"color": _OUTCOME_COLOURS.get(str(outcome))},
            }
        )
    applied = group[group["outcome"].isin(("merged", "reverted"))]
    ax = np.concatenate([times[:1], utc_naive(applied["decided_at"].fillna(applied["created_at"]))])
    ay = np.concatenate([current[:1], applied["proposed_value"].to_numpy(dtype=float)])
    ax, ay = downsample(ax, ay, _SUGGESTION_POINTS)
    traces.append({"type": "scatter", "mode": "lines", "x": stamps(ax), "y": compact(ay), "name": "applied",
                   "line": {"shape": "hv", "color": "#111", "width": 2}})  # fmt: skip
    return {"data": traces, "layout": {"title": {"text": title}, "height": 280}}


def _equity_stats(equity: pd.DataFrame) -> dict[tuple[str, str], tuple[float | None, float | None]]:
    """Return (%) and annualised Sharpe of each parameter set's equity, by (config hash, mode)."""
    stats = {}
    for (config_hash, mode), rows in equity.groupby(["config_hash", "mode"]):
        rows = rows.sort_values("ts")
        series = pd.Series(rows["equity_usd"].to_numpy(dtype=float), index=pd.DatetimeIndex(rows["ts"]))
        stats[(str(config_hash), str(mode))] = (total_return_pct(series), annualised_sharpe(series))
    return stats


def _kpi_deltas(data: DashboardData, cycles: pd.DataFrame) -> str:
    """Per recent proposal: the KPI deltas vs the baseline on the backtest and, once run, paper and live."""
    stats = _equity_stats(data.table("equity"))
    holdout = _holdout_deltas(data.table("validations"))
    baselines = {(r.strategy, r.symbol, r.config_hash): r.previous_config_hash
                 for r in rows_of(data.table("rollouts"))}  # fmt: skip
    rows = []
    for row in rows_of(cycles.head(MAX_CYCLES)):
        cells: list[str | Link] = [
            fmt_time(row.created_at),
            f"{row.strategy}/{row.symbol}",
            fmt_number(_delta(row.kpis_after, row.kpis_before, "sharpe"), 3),
            fmt_number(_delta(row.kpis_after, row.kpis_before, "return_pct"), 2, " pp"),
            *holdout.get(str(row.proposal_hash), ["— (not validated)"] * 2),
        ]
        baseline = baselines.get((row.strategy, row.symbol, row.config_hash))
        for mode in ("paper", "live"):
            ret, sharpe = stats.get((str(row.config_hash), mode), (None, None))
            base_ret, base_sharpe = stats.get((str(baseline), "live"), (None, None))
            cells.append(_difference(sharpe, base_sharpe, 3, ""))
            cells.append(_difference(ret, base_ret, 2, " pp"))
        rows.append(cells)
    headers = ["proposed at", "pair", "backtest Δ Sharpe", "backtest Δ return", "holdout Δ Sharpe",
               "holdout Δ return", "paper Δ Sharpe", "paper Δ return", "live Δ Sharpe",
               "live Δ return"]  # fmt: skip
    note = ("<p>Deltas vs the baseline: the backtest on the search bars (the proposal's own KPIs); the "
            "holdout the search never saw (its latest validation); paper and live vs the live parameters "
            "over the same time, once the rollout ran.</p>")  # fmt: skip
    return note + table(headers, rows, css_class="kpi-deltas")


def _holdout_deltas(validations: pd.DataFrame) -> dict[str, list[str]]:
    """Proposal hash -> its latest validation's holdout Δ Sharpe and Δ return (in order of validation)."""
    deltas = {}
    for row in rows_of(validations):
        params = row.params if isinstance(row.params, dict) else {}
        if params.get("proposal_hash"):
            deltas[str(params["proposal_hash"])] = [
                fmt_number(params.get("holdout_delta_sharpe"), 3),
                fmt_number(params.get("holdout_delta_return_pct"), 2, " pp"),
            ]
    return deltas


def _difference(candidate: float | None, baseline: float | None, digits: int, unit: str) -> str:
    if candidate is None:
        return "— (no data yet)"
    if baseline is None:
        return f"{fmt_number(candidate, digits, unit)} (no baseline)"
    return fmt_number(candidate - baseline, digits, unit)


def suggestions_panel(data: DashboardData) -> Panel:
    """Suggested vs applied values per parameter over time, with the caps drawn; the KPI deltas."""
    proposals = data.table("proposals")
    title = "Suggested vs applied parameters"
    if proposals.empty:
        return Panel("suggestions", title, None, None, 0, no_data("no proposal in the warehouse"))
    groups = list(proposals.groupby(["strategy", "symbol", "timeframe", "parameter"], sort=True))
    charts = [
        chart(f"param-{slug(*key)}", _parameter_figure(group, data.max_delta, " · ".join(map(str, key))))
        for key, group in groups[:MAX_PARAMETER_CHARTS]
    ]
    more = len(groups) - MAX_PARAMETER_CHARTS
    extra = f"<p>{more} more parameters are not drawn.</p>" if more > 0 else ""
    start, end = time_range(proposals["created_at"], proposals["decided_at"])
    body = '<div class="grid">' + "".join(charts) + "</div>" + extra + _kpi_deltas(data, _cycles(proposals))
    return Panel("suggestions", title, start, end, len(proposals), body)


def _time_in_stage(since: Any, now: datetime) -> str:
    if since is None or pd.isna(since):
        return "—"
    hours = (pd.Timestamp(now) - pd.Timestamp(since)).total_seconds() / 3600
    return f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h"


def _last_checks(checks: pd.DataFrame) -> str:
    """The checks of each rollout's latest analysis, with their figures and thresholds."""
    if checks.empty:
        return no_data("no canary analysis recorded (tradeloop deploy step)")
    latest = checks.sort_values("checked_at").groupby(["strategy", "symbol"]).tail(1)["analysis_id"]
    rows = [
        [fmt_time(r.checked_at), f"{r.strategy}/{r.symbol}", r.stage, r.mode, r.name, r.outcome,
         f"{fmt_number(r.figure, 3)} {r.comparator} {fmt_number(r.threshold, 3)} {r.unit}".strip(),
         r.decision, r.detail]
        for r in rows_of(checks[checks["analysis_id"].isin(set(latest))])
    ]  # fmt: skip
    headers = ["checked at", "pair", "stage", "mode", "check", "outcome", "figure vs threshold", "decision",
               "detail"]  # fmt: skip
    return "<h3>Last checks</h3>" + table(headers, rows, css_class="checks")


def _stage_chart(stages: pd.DataFrame) -> str:
    """Per pair, the time from its first to its last analysis in each stage."""
    if stages.empty:
        return ""
    order = ["COLD", "WARM", "LIMITED", "FULL"]
    traces = []
    for (strategy, symbol), rows in stages.groupby(["strategy", "symbol"]):
        rows = rows.sort_values("first")
        x: list[str | None] = []
        y: list[float | None] = []
        for row in rows_of(rows):
            x += [*stamps([row.first, row.last]), None]
            y += [float(order.index(row.stage)), float(order.index(row.stage)), None]
        name = f"{strategy}/{symbol}"
        traces.append({"type": "scatter", "mode": "lines+markers", "x": x, "y": y, "name": name})
    layout = {"title": {"text": "Stages: first to last analysis in each"}, "height": 260,
              "yaxis": {"tickvals": list(range(4)), "ticktext": order, "range": [-0.5, 3.5]}}  # fmt: skip
    return chart("rollout-stages", {"data": traces, "layout": layout})


def _rollbacks(data: DashboardData) -> str:
    reverts = [c for c in data.changes if c.kind == "revert"]
    rows: list[Sequence[str | Link]] = [
        [fmt_time(c.at), f"{c.strategy}/{c.symbol}", c.commit[:12],
         "—" if c.pr_number is None else f"#{c.pr_number}", c.subject]
        for c in reverts
    ]  # fmt: skip
    rows += [
        [fmt_time(r.at), f"{r.strategy}/{r.symbol}", (r.commit or "")[:12],
         "—" if r.pr_number is None else f"#{r.pr_number}", f"{r.kind}: {r.detail}"]
        for r in data.rejections
    ]  # fmt: skip
    if not rows:
        return "<h3>Rollbacks</h3>" + no_data("no rollback or declined proposal in the git history")
    return "<h3>Rollbacks and declined proposals</h3>" + table(
        ["at", "pair", "commit", "PR", "reason"], rows, css_class="rollbacks"
    )


def rollouts_panel(data: DashboardData) -> Panel:
    """Each rollout's stage, fraction and time in stage, its last checks, and the rollbacks with reasons."""
    rollouts, checks, stages = data.table("rollouts"), data.table("checks"), data.table("stages")
    title = "Rollouts"
    rows: list[Sequence[str | Link]] = [
        [f"{r.strategy}/{r.symbol}", r.stage, fmt_number(r.canary_fraction * 100, 1, " %"), r.status,
         fmt_time(r.stage_since if not pd.isna(r.stage_since) else r.started_at),
         _time_in_stage(r.stage_since if not pd.isna(r.stage_since) else r.started_at, data.generated_at),
         "—" if pd.isna(r.pr_number) else f"#{int(r.pr_number)}", str(r.config_hash)[:12], text(r.reason)]
        for r in rows_of(rollouts)
    ]  # fmt: skip
    reverts = [c.at for c in data.changes if c.kind == "revert"]
    start, end = time_range(
        rollouts["updated_at"], rollouts["started_at"], stages["first"], stages["last"], reverts
    )
    reverted = any(change.kind == "revert" for change in data.changes)
    if not rows and stages.empty and not reverted and not data.rejections:
        return Panel("rollouts", title, None, None, 0, no_data("no rollout, check or rollback recorded"))
    headers = ["pair", "stage", "fraction", "status", "in stage since", "time in stage", "PR", "config",
               "reason"]  # fmt: skip
    current = table(headers, rows, css_class="rollouts") if rows else no_data("no rollout in the warehouse")
    body = current + _stage_chart(stages) + _last_checks(checks) + _rollbacks(data)
    count = len(rows) + int(stages["checks"].sum()) + len(reverts) + len(data.rejections)
    return Panel("rollouts", title, start, end, count, body)
