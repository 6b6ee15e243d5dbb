"""reports: markdown KPI tables, HTML reports and plots, written to the run directory."""

from __future__ import annotations

from reports._html import render_html
from reports._markdown import GITHUB_SUMMARY_LIMIT_BYTES, SUMMARY_BUDGET_BYTES, escape_cell, render_markdown
from reports._nightly import NightlyReport, write_nightly_report
from reports._svg import diverging_colour, heatmap_svg, line_svg

__all__ = [
    "GITHUB_SUMMARY_LIMIT_BYTES",
    "SUMMARY_BUDGET_BYTES",
    "NightlyReport",
    "diverging_colour",
    "escape_cell",
    "heatmap_svg",
    "line_svg",
    "render_html",
    "render_markdown",
    "write_nightly_report",
]
