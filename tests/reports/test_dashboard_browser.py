"""The dashboard in a real browser: Debian's headless chromium opens the built site from ``file://``, every
chart renders with no console error, every panel holds data from the fixture warehouse, and a chart answers
a hover (its tooltip) and a drag (its zoom)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.browser import Browser, chromium_path, open_browser
from tests.reports.dashboard_fixture import (
    FixtureSize,
    fill_warehouse,
    make_history_repo,
    make_study,
    write_flags,
)
from tradeloop import Settings
from tradeloop.cli import app
from warehouse import get_warehouse

CHROMIUM = chromium_path()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")

# Resolves once every chart div is drawn by plotly (its main SVG is in place), with the number drawn.
ALL_DRAWN = """new Promise(resolve => {
  const check = () => {
    const charts = [...document.querySelectorAll('[data-chart] .plotly-graph-div')];
    const drawn = charts.filter(c => c.classList.contains('js-plotly-plot') && c.querySelector('.main-svg'));
    if (charts.length > 0 && drawn.length === charts.length) resolve(drawn.length);
    else setTimeout(check, 50);
  };
  check();
})"""
PANELS = """[...document.querySelectorAll('section[data-panel]')].map(s => ({
  key: s.dataset.panel, rows: Number(s.dataset.rows), charts: s.querySelectorAll('.js-plotly-plot').length,
  tables: s.querySelectorAll('table tbody tr').length, empty: s.querySelector('p.no-data') !== null,
  range: s.querySelector('p.range').textContent}))"""

# The value of an expression once plotly has handled the input (its hover is throttled to 50 ms).
SETTLED = "new Promise(r => setTimeout(() => requestAnimationFrame(() => r({})), 150))"


def drag_layer(browser: Browser, chart: str) -> dict[str, float]:
    """The chart scrolled into view, and the box of its plot area in viewport pixels."""
    return browser.evaluate(f"""(() => {{
      const div = document.getElementById('{chart}'); div.scrollIntoView({{block: 'center'}});
      const box = div.querySelector('.nsewdrag').getBoundingClientRect();
      return {{x: box.x, y: box.y, width: box.width, height: box.height}}; }})()""")


def test_the_site_renders_in_chromium_and_its_charts_answer_hover_and_zoom(tmp_path: Path) -> None:
    with get_warehouse(Settings.from_env()) as warehouse:
        fill_warehouse(warehouse, FixtureSize(pairs=2, hours=24 * 40))
    make_study(Settings.from_env().home)
    write_flags(Settings.from_env().home)
    repo = make_history_repo(tmp_path / "repo")
    out = tmp_path / "site"
    result = CliRunner().invoke(app, ["--repo", str(repo), "dashboard", "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert CHROMIUM is not None
    with open_browser(CHROMIUM) as browser:
        browser.open((out / "index.html").as_uri())
        drawn = browser.evaluate(ALL_DRAWN)
        panels = {panel["key"]: panel for panel in browser.evaluate(PANELS)}
        assert list(panels) == ["cycles", "suggestions", "rollouts", "pairs", "studies", "matrix", "regimes"]
        for key, panel in panels.items():
            assert panel["rows"] > 0 and panel["charts"] > 0, (key, panel)
            assert panel["range"].startswith("time range: 20"), (key, panel)
        assert drawn == sum(panel["charts"] for panel in panels.values()) >= 2 * 4 + 6
        assert panels["cycles"]["tables"] > 0 and panels["pairs"]["tables"] > 0

        chart = "pair-ema-cross-sp500-equity"
        browser.evaluate(f"""(() => {{ const div = document.getElementById('{chart}');
          window.hovered = 0; window.zoomed = null;
          div.on('plotly_hover', () => {{ window.hovered += 1; }});
          div.on('plotly_relayout', e => {{ window.zoomed = e; }}); }})()""")
        box = drag_layer(browser, chart)
        middle_y = box["y"] + box["height"] / 2
        browser.mouse("mouseMoved", box["x"] + box["width"] * 0.5, middle_y)
        browser.mouse("mouseMoved", box["x"] + box["width"] * 0.52, middle_y)
        tooltip = f"document.getElementById('{chart}').querySelector('.hoverlayer').childElementCount"
        hover = browser.evaluate(SETTLED.format(f"{{n: window.hovered, tips: {tooltip}}}"))
        assert hover["n"] > 0 and hover["tips"] > 0, hover
        before = browser.evaluate(f"document.getElementById('{chart}')._fullLayout.xaxis.range.slice()")
        browser.mouse("mousePressed", box["x"] + box["width"] * 0.3, middle_y, buttons=1)
        browser.mouse("mouseMoved", box["x"] + box["width"] * 0.5, middle_y, buttons=1)
        browser.mouse("mouseMoved", box["x"] + box["width"] * 0.6, middle_y, buttons=1)
        browser.mouse("mouseReleased", box["x"] + box["width"] * 0.6, middle_y, buttons=1)
        zoomed = browser.evaluate(SETTLED.format("window.zoomed"))
        after = browser.evaluate(f"document.getElementById('{chart}')._fullLayout.xaxis.range.slice()")
        assert zoomed is not None and "xaxis.range[0]" in zoomed, zoomed
        assert after != before and after[0] > before[0] and after[1] < before[1]
        assert browser.errors == []
