"""``tradeloop dashboard``: the static site of the home (``loop.dashboard``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradeloop.cli._context import CliContext, get_context

if TYPE_CHECKING:
    from reports import DashboardSite

__all__ = ["build_dashboard", "render_site"]


def build_dashboard(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="The site's folder (index.html, plotly.min.js).")],
    base: Annotated[str, typer.Option("--base", help="Branch whose live-state history is shown.")] = "HEAD",
    storage: Annotated[
        str | None,
        typer.Option("--storage", help="Optuna storage of the studies. \\[default: <home>/optuna.db]",
                     show_default=False),
    ] = None,
    prices: Annotated[
        bool, typer.Option("--prices/--no-prices", help="Load the live pairs' bars for buy-and-hold.")
    ] = True,
    summary: Annotated[
        Path | None,
        typer.Option("--summary", help="Append a markdown summary here. \\[default: $GITHUB_STEP_SUMMARY]",
                     show_default=False),
    ] = None,
) -> None:  # fmt: skip
    """Build the dashboard: a static site (open index.html from file://, or publish it on GitHub Pages) of
    the optimization cycles, suggested vs applied parameters, rollouts, live pairs, studies, matrix and
    regimes."""
    from tradeloop.loop import DashboardOptions, check_out_dir, dashboard

    cli = get_context(ctx)
    check_out_dir(out, "--out")
    site = dashboard(cli.settings, DashboardOptions(out, base, storage, prices, summary))
    render_site(cli, site)


def render_site(cli: CliContext, site: DashboardSite) -> None:
    """The panels with their rows and time ranges, and the path to open (the document under --json)."""
    if cli.json_output:
        cli.emit_json(site.to_json())
        return
    from rich.table import Table

    table = Table("panel", "rows", "time range", title="dashboard")
    for panel in site.panels:
        table.add_row(panel.title, f"{panel.rows:,}", panel.range_text.removeprefix("time range: "))
    cli.console.print(table)
    for note in site.notes:
        cli.console.print(f"[dim]note: {note}[/dim]", markup=True, highlight=False)
    cli.console.print(f"dashboard: {site.index} ({site.size_bytes / 1e6:.1f} MB)")
