"""reports: markdown KPI tables, the nightly HTML report and the dashboard, written outside the source tree.

Charts are plotly figures; every page loads ``plotly.min.js`` from the file next to it.
"""

from __future__ import annotations

from reports._charts import PLOTLY_ASSET, chart, downsample, heatmap_figure, write_plotly_asset
from reports._dashboard import PANELS, DashboardSite, write_dashboard
from reports._dashboard_data import TABLES, DashboardData, StudySummary, read_warehouse_tables
from reports._dashboard_html import Panel
from reports._html import render_html
from reports._markdown import GITHUB_SUMMARY_LIMIT_BYTES, SUMMARY_BUDGET_BYTES, escape_cell, render_markdown
from reports._nightly import FLAGS_FILE, NightlyReport, write_nightly_report
from reports._studies import MAX_STUDIES, read_studies

__all__ = [
    "FLAGS_FILE",
    "GITHUB_SUMMARY_LIMIT_BYTES",
    "MAX_STUDIES",
    "PANELS",
    "PLOTLY_ASSET",
    "SUMMARY_BUDGET_BYTES",
    "TABLES",
    "DashboardData",
    "DashboardSite",
    "NightlyReport",
    "Panel",
    "StudySummary",
    "chart",
    "downsample",
    "escape_cell",
    "heatmap_figure",
    "read_studies",
    "read_warehouse_tables",
    "render_html",
    "render_markdown",
    "write_dashboard",
    "write_nightly_report",
    "write_plotly_asset",
]
