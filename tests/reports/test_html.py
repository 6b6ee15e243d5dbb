"""The nightly HTML report: well-formed, no broken or external references (the one script it loads is the
plotly file written beside it), plotly heatmaps and one equity curve per live cell; written into the run
directory with its flags."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from backtest_matrix.matrix import Flag, MergeResult
from reports import PLOTLY_ASSET, render_html, write_nightly_report
from tradeloop import Settings

VOID = {"meta", "br", "img", "hr", "input", "link"}
SVG_LEAVES = {"rect", "line", "polyline", "path", "circle"}


class Inspector(HTMLParser):
    """Collects ids, references, SVGs and nesting errors."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.references: list[str] = []
        self.charts: list[dict[str, str]] = []
        self.figures: list[dict[str, str]] = []
        self.titles: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.ids += [attributes["id"]] if "id" in attributes else []
        self.references += [attributes[name] for name in ("href", "src", "xlink:href") if name in attributes]
        if tag == "div" and "data-chart" in attributes:
            self.charts.append(attributes)
        if tag == "figure":
            self.figures.append(attributes)
        self._in_title = tag == "title"
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.references += [attributes[name] for name in ("href", "src") if name in attributes]

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.titles.append(data)


def inspect(document: str) -> Inspector:
    parser = Inspector()
    parser.feed(document)
    parser.close()
    return parser


def test_the_report_is_well_formed_and_has_no_broken_references(
    merged: MergeResult, flags: list[Flag]
) -> None:
    document = render_html(merged, flags, run_id="RUN-1")
    parsed = inspect(document)
    assert document.startswith("<!DOCTYPE html>")
    assert parsed.errors == [] and parsed.stack == []
    assert len(parsed.ids) == len(set(parsed.ids)), "duplicate ids"
    assert parsed.references, "the navigation links are missing"
    for reference in parsed.references:
        internal = reference.startswith("#") and reference[1:] in parsed.ids
        assert internal or reference == PLOTLY_ASSET, reference
    assert "http://" not in document and "https://" not in document
    assert document.count("<script src=") == 1 and "<svg" not in document


def figure_data(document: str, div_id: str) -> list[dict[str, object]]:
    """The traces plotly draws into ``div_id`` (the JSON of its ``Plotly.newPlot`` call)."""
    match = re.search(rf'Plotly\.newPlot\(\s*"{div_id}",\s*(\[.*?\]),\s*\{{', document, flags=re.S)
    assert match, div_id
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def test_heatmaps_and_one_equity_curve_per_live_cell(merged: MergeResult, flags: list[Flag]) -> None:
    document = render_html(merged, flags, run_id="RUN-1")
    parsed = inspect(document)
    heatmaps = [chart for chart in parsed.charts if chart.get("class") == "heatmap"]
    assert len(heatmaps) == 2 + 5  # windows 90d and full; 5 strategy/symbol/timeframe groups
    live_ok = {
        r["cell_hash"]
        for r in merged.records
        if r["param_set"] == "live" and r["status"] == "ok" and r.get("equity")
    }
    equity = [figure["data-cell"] for figure in parsed.figures if "data-cell" in figure]
    assert len(live_ok) == 8 and sorted(equity) == sorted(live_ok)
    assert len([chart for chart in parsed.charts if chart.get("class") == "equity"]) == 8
    record = next(r for r in merged.records if r["cell_hash"] in live_ok and r["strategy"] == "ema_cross")
    window = record["window"]
    [heatmap] = figure_data(document, f"heatmap-{record['timeframe']}-{window}-chart")
    cells = dict(zip(heatmap["y"], heatmap["text"], strict=True))  # type: ignore[call-overload]
    row = cells["ema_cross"]
    assert row[heatmap["x"].index(record["symbol"])] == f"{record['kpis']['sharpe']:.2f}"  # type: ignore[union-attr]
    assert row[heatmap["x"].index("SOL")] == "—"  # type: ignore[union-attr]  # failed live cells are blank, not 0


def test_failures_and_flags_are_listed(merged: MergeResult, flags: list[Flag]) -> None:
    document = render_html(merged, flags, run_id="RUN-1")
    assert "ValueError: bad | pipe" in document and "killed after 60 s timeout" in document
    assert flags[0].message.replace(">", "&gt;") in document


def test_write_nightly_report_writes_into_the_run_directory(
    merged: MergeResult, flags: list[Flag], repo_root: Path
) -> None:
    run_dir = Settings.from_env().run_dir("RUN-1")
    report = write_nightly_report(merged, flags, run_id="RUN-1", run_dir=run_dir)
    assert report.html_path == run_dir / "report.html" and report.markdown_path == run_dir / "summary.md"
    assert report.markdown_path.read_text() == report.markdown
    assert inspect(report.html_path.read_text()).errors == []
    assert not report.html_path.resolve().is_relative_to(repo_root)
    assert (run_dir / PLOTLY_ASSET).stat().st_size > 1_000_000
    assert report.flags_path is not None
    assert json.loads(report.flags_path.read_text()) == [flag.as_dict() for flag in flags]
