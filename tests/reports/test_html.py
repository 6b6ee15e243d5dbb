"""The nightly HTML report: well-formed, self-contained (no broken or external references), heatmaps and
one equity curve per live cell; written into the run directory."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from backtest_matrix.matrix import Flag, MergeResult
from reports import diverging_colour, render_html, write_nightly_report
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
        self.svgs: list[dict[str, str]] = []
        self.titles: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.ids += [attributes["id"]] if "id" in attributes else []
        self.references += [attributes[name] for name in ("href", "src", "xlink:href") if name in attributes]
        if tag == "svg":
            self.svgs.append(attributes)
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
        assert (reference.startswith("#") and reference[1:] in parsed.ids) or reference.startswith("data:"), (
            reference
        )
    assert "http://" not in document and "https://" not in document and "<script" not in document


def test_heatmaps_and_one_equity_curve_per_live_cell(merged: MergeResult, flags: list[Flag]) -> None:
    parsed = inspect(render_html(merged, flags, run_id="RUN-1"))
    heatmaps = [svg for svg in parsed.svgs if svg.get("class") == "heatmap"]
    assert len(heatmaps) == 2 + 5  # windows 90d and full; 5 strategy/symbol/timeframe groups
    live_ok = {
        r["cell_hash"]
        for r in merged.records
        if r["param_set"] == "live" and r["status"] == "ok" and r.get("equity")
    }
    equity = [svg["data-cell"] for svg in parsed.svgs if svg.get("class") == "equity"]
    assert len(live_ok) == 8 and sorted(equity) == sorted(live_ok)
    record = next(r for r in merged.records if r["cell_hash"] in live_ok and r["strategy"] == "ema_cross")
    titles = " ".join(parsed.titles)
    assert f"ema_cross × {record['symbol']}: {record['kpis']['sharpe']:.2f}" in titles
    assert "ema_cross × SOL: —" in titles  # the failed live cells are grey, not zero


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


def test_diverging_colour() -> None:
    assert diverging_colour(0.0, 2.0) == "#ffffff"
    assert diverging_colour(5.0, 2.0) == diverging_colour(2.0, 2.0) == "#1a9850"
    assert diverging_colour(-2.0, 2.0) == "#d73027"
    assert diverging_colour(None, 2.0) == diverging_colour(float("nan"), 2.0) == "#d9d9d9"
