"""The dashboard: a static site (``index.html``, ``plotly.min.js``, ``dashboard.json``) built from
:class:`DashboardData`.

One page, one panel per question (what did the optimizer do, what did we merge, how are the rollouts and
the live pairs doing, what did the matrix and the regime detector see). Each panel states the time range of
its data and says "No data yet" when it has none. The page loads nothing but the library file next to it,
so it opens from ``file://`` and from GitHub Pages alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from reports._charts import plotly_script_tag, write_plotly_asset
from reports._dashboard_data import DashboardData
from reports._dashboard_html import Panel, fmt_time
from reports._markdown import escape_cell
from reports._panels_loop import cycles_panel, rollouts_panel, suggestions_panel
from reports._panels_market import matrix_panel, pairs_panel, regimes_panel, studies_panel
from tradeloop._atomic import atomic_write_text

__all__ = ["PANELS", "DashboardSite", "write_dashboard"]

#: The panels in page order.
PANELS: tuple[Callable[[DashboardData], Panel], ...] = (
    cycles_panel,
    suggestions_panel,
    rollouts_panel,
    pairs_panel,
    studies_panel,
    matrix_panel,
    regimes_panel,
)
_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#222;max-width:1600px}
header p{color:#555;margin:0.2rem 0}
nav ul{padding:0}nav li{display:inline;margin-right:1rem}
section.panel{border-top:2px solid #ddd;padding-top:0.5rem;margin-top:1.5rem}
p.range{color:#555;font-size:0.9rem;margin-top:0}
p.no-data{background:#f6f6f6;border-left:4px solid #bbb;padding:0.5rem 0.75rem}
table{border-collapse:collapse;margin:0.5rem 0 1rem;font-size:0.85rem}
th,td{border:1px solid #ccc;padding:0.2rem 0.45rem;text-align:left;vertical-align:top}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:0.5rem}
ul.pair-nav li{display:inline;margin-right:0.75rem}
div.scroll{max-height:22rem;overflow:auto;display:inline-block;max-width:100%}
thead th{position:sticky;top:0;background:#f4f4f4}
"""


@dataclass(frozen=True)
class DashboardSite:
    """The site written: its files, its size, and each panel's key, title, rows and time range."""

    out: Path
    index: Path
    files: tuple[Path, ...]
    size_bytes: int
    panels: tuple[Panel, ...]
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """No panel has data (an empty or missing warehouse)."""
        return all(panel.rows == 0 for panel in self.panels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True, "out": str(self.out), "index": str(self.index), "files": [str(f) for f in self.files],
            "size_bytes": self.size_bytes, "empty": self.empty,
            "panels": [panel.summary() for panel in self.panels], "notes": list(self.notes),
        }  # fmt: skip

    def markdown(self) -> str:
        """A short summary for ``$GITHUB_STEP_SUMMARY``: each panel's rows and time range."""
        lines = ["## Dashboard", "", "| panel | rows | time range |", "|---|---:|---|"]
        for panel in self.panels:
            span = escape_cell(panel.range_text.removeprefix("time range: "))
            lines.append(f"| {escape_cell(panel.title)} | {panel.rows:,} | {span} |")
        state = "no data yet" if self.empty else f"{sum(p.rows for p in self.panels):,} rows"
        lines += ["", f"{state}; {self.size_bytes / 1e6:.1f} MB, `{self.index.name}` in the artifact.", ""]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """``tradeloop dashboard --json``."""
        return self.to_dict()


def render_page(data: DashboardData, panels: tuple[Panel, ...]) -> str:
    """The whole ``index.html``."""
    nav = "".join(f'<li><a href="#{p.key}">{escape(p.title.split(":")[0])}</a></li>' for p in panels)
    notes = "".join(f"<li>{escape(note)}</li>" for note in data.notes)
    header = (
        f"<header><h1>tradeloop dashboard</h1><p>Built {escape(fmt_time(data.generated_at))} UTC from "
        f"{escape(data.source)}.</p>" + (f'<ul class="notes">{notes}</ul>' if notes else "") + "</header>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tradeloop dashboard</title><style>{_STYLE}</style>{plotly_script_tag()}</head><body>"
        f"{header}<nav><ul>{nav}</ul></nav>{''.join(p.html() for p in panels)}</body></html>\n"
    )


def write_dashboard(data: DashboardData, out: Path) -> DashboardSite:
    """Build every panel and write the site into ``out`` (created; each file replaced atomically).

    Parameters
    ----------
    data
        What to show (empty tables give panels that say "No data yet").
    out
        The site's folder: ``index.html``, ``plotly.min.js`` (once per site) and ``dashboard.json`` (the
        panels' summary, for the workflow's job summary).

    Returns
    -------
    DashboardSite
    """
    out.mkdir(parents=True, exist_ok=True)
    panels = tuple(make(data) for make in PANELS)
    asset = write_plotly_asset(out)
    index = out / "index.html"
    atomic_write_text(index, render_page(data, panels))
    summary = out / "dashboard.json"
    files = (index, asset, summary)
    size = index.stat().st_size + asset.stat().st_size
    site = DashboardSite(out, index, files, size, panels, data.notes)
    atomic_write_text(summary, json.dumps(site.to_dict(), indent=2) + "\n")
    size += summary.stat().st_size
    return DashboardSite(out, index, files, size, panels, data.notes)
