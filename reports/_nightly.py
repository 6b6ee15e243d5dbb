"""Write the nightly report of a merged matrix run into its run directory."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from backtest_matrix.matrix import Flag, MergeResult
from reports._charts import write_plotly_asset
from reports._html import render_html
from reports._markdown import SUMMARY_BUDGET_BYTES, render_markdown
from tradeloop._atomic import atomic_write_text

__all__ = ["FLAGS_FILE", "NightlyReport", "write_nightly_report"]

#: The flags of a run, in its run directory (read back by the dashboard).
FLAGS_FILE = "flags.json"


@dataclass(frozen=True)
class NightlyReport:
    """The files written and the markdown (to append to ``$GITHUB_STEP_SUMMARY``)."""

    html_path: Path
    markdown_path: Path
    markdown: str
    flags_path: Path | None = None


def write_nightly_report(
    merge: MergeResult,
    flags: Sequence[Flag],
    *,
    run_id: str,
    run_dir: Path,
    limit_bytes: int = SUMMARY_BUDGET_BYTES,
) -> NightlyReport:
    """Write ``report.html``, the ``plotly.min.js`` it loads, ``summary.md`` and ``flags.json`` (the flags,
    for the dashboard) into ``run_dir`` (created; files replaced atomically).

    ``run_dir`` is the run's directory under ``TRADELOOP_HOME`` (``Settings.run_dir``), never the source tree.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    html_path = run_dir / "report.html"
    markdown_path = run_dir / "summary.md"
    markdown = render_markdown(
        merge, flags, run_id=run_id, report_path=str(html_path), limit_bytes=limit_bytes
    )
    write_plotly_asset(run_dir)
    atomic_write_text(html_path, render_html(merge, flags, run_id=run_id))
    atomic_write_text(markdown_path, markdown)
    flags_path = run_dir / FLAGS_FILE
    atomic_write_text(flags_path, json.dumps([flag.as_dict() for flag in flags], indent=1) + "\n")
    return NightlyReport(html_path, markdown_path, markdown, flags_path)
