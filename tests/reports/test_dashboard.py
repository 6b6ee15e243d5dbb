"""``tradeloop dashboard --out DIR`` through the CLI, on a real warehouse, a real git history and a real
Optuna study: every panel with data and its time range, the library once per site, git's texts escaped; an
empty or missing warehouse says "No data yet"; a newer warehouse schema is refused with its own error."""

from __future__ import annotations

import json
import re
import uuid
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, make_url, text
from typer.testing import CliRunner

from reports import PLOTLY_ASSET, chart, downsample
from tests.conftest import pg_url_or_skip
from tests.reports.dashboard_fixture import (
    HOSTILE,
    FixtureSize,
    fill_warehouse,
    make_history_repo,
    make_study,
    write_flags,
)
from tradeloop import Settings
from tradeloop.cli import app
from warehouse import SCHEMA_VERSION, Warehouse, get_warehouse

runner = CliRunner()
PANELS = ("cycles", "suggestions", "rollouts", "pairs", "studies", "matrix", "regimes")


def build(repo: Path, out: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, ["--repo", str(repo), "--json", "dashboard", "--out", str(out), *extra])
    document = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, document, result.stderr


@pytest.fixture
def full_home(tmp_path: Path) -> tuple[Path, Path]:
    """A home with every table filled (3 pairs, 45 days of hourly cycles), a study, flags, and a repository
    whose live state was changed by a hostile-titled commit and reverted."""
    home = Settings.from_env().home
    home.mkdir(parents=True, exist_ok=True)
    with get_warehouse(Settings.from_env()) as warehouse:
        fill_warehouse(warehouse, FixtureSize(pairs=3, hours=24 * 45))
    make_study(home)
    write_flags(home)
    return home, make_history_repo(tmp_path / "repo")


def sections(page: str) -> dict[str, str]:
    pattern = r'<section class="panel" id="(\w+)" data-panel="\w+" data-rows="(\d+)">(.*?)</section>'
    found = re.findall(pattern, page, flags=re.S)
    return {key: body for key, _, body in found}


def test_every_panel_has_data_and_its_time_range(full_home: tuple[Path, Path], tmp_path: Path) -> None:
    _, repo = full_home
    code, site, stderr = build(repo, tmp_path / "site")
    assert code == 0, stderr
    assert {p["key"]: p["rows"] > 0 for p in site["panels"]} == dict.fromkeys(PANELS, True)
    assert all(p["start"] and p["end"] for p in site["panels"])
    page = (tmp_path / "site" / "index.html").read_text()
    bodies = sections(page)
    assert list(bodies) == list(PANELS)
    for key, body in bodies.items():
        assert "time range: 20" in body, key
        assert "No data yet" not in body.split("<h3>")[0] or key == "rollouts", key
    # Charts from the library, loaded once per site from the asset next to the page.
    assert page.count("<script src=") == 1 and f'src="{PLOTLY_ASSET}"' in page
    assert (tmp_path / "site" / PLOTLY_ASSET).stat().st_size > 1_000_000
    assert page.count("Plotly.newPlot") >= 3 * 4 + 7
    assert "<svg" not in page
    # What the panels say: the caps, PR links, rollouts' last checks, the revert from git, the flags.
    assert "20 % cap" in page and 'href="https://github.com/acme/bot/pull/' in page
    # the KPI deltas vs the baseline on the backtest, the holdout (from the validation), paper and live
    assert (
        "holdout Δ Sharpe" in bodies["suggestions"]
        and "<td>0.250</td><td>-1.50 pp</td>" in bodies["suggestions"]
    )
    assert "— (not validated)" in bodies["suggestions"]
    assert "LIMITED" in bodies["rollouts"] and "figure vs threshold" in bodies["rollouts"]
    assert "Sharpe 0.10 &lt; baseline 1.20" in bodies["matrix"]
    assert "ema_cross-SP500-1d" in bodies["studies"]
    for figure in ("history", "importance", "parallel"):  # what optuna-dashboard shows, drawn by Optuna
        assert f'id="study-ema-cross-sp500-1d-{figure}"' in bodies["studies"], figure
    assert "Monthly returns" in bodies["pairs"] and "Rolling Sharpe" in bodies["pairs"]


def test_texts_from_git_are_escaped(full_home: tuple[Path, Path], tmp_path: Path) -> None:
    _, repo = full_home
    code, _, stderr = build(repo, tmp_path / "site")
    assert code == 0, stderr
    page = (tmp_path / "site" / "index.html").read_text()
    assert HOSTILE not in page and "<script>alert" not in page and "<img src=x" not in page
    assert escape(HOSTILE) in page  # the revert's subject quotes the hostile commit, shown as text


def test_a_missing_warehouse_gives_no_data_yet_and_creates_nothing(tmp_path: Path) -> None:
    home = Settings.from_env().home
    repo = make_history_repo(tmp_path / "repo", changes=False)
    code, site, stderr = build(repo, tmp_path / "site")
    assert code == 0, stderr
    assert site["empty"] is True and all(p["rows"] == 0 and p["start"] is None for p in site["panels"])
    page = (tmp_path / "site" / "index.html").read_text()
    for key, body in sections(page).items():
        assert "time range: no data yet" in body and "No data yet" in body, key
    assert not (home / "warehouse.db").exists()
    assert "no warehouse yet" in " ".join(site["notes"])


def test_an_empty_warehouse_and_no_repository_give_no_data_yet(tmp_path: Path) -> None:
    get_warehouse(Settings.from_env()).dispose()  # creates the tables, adds no row
    code, site, stderr = build(tmp_path / "not-a-repo", tmp_path / "site")
    assert code == 0, stderr
    assert site["empty"] is True
    assert any("no git history" in note for note in site["notes"])


def test_a_newer_warehouse_schema_is_refused_with_the_warehouses_error(tmp_path: Path) -> None:
    settings = Settings.from_env()
    with Warehouse(settings.warehouse_url) as warehouse, warehouse.engine.begin() as connection:
        connection.execute(text("UPDATE schema_version SET version = :v"), {"v": SCHEMA_VERSION + 1})
    code, document, stderr = build(tmp_path, tmp_path / "site")
    assert code == 2
    assert f"database schema version {SCHEMA_VERSION + 1} is newer than" in stderr
    assert "upgrade tradeloop" in stderr and document["error"]["type"] == "WarehouseError"
    assert not (tmp_path / "site" / "index.html").exists()


def test_the_job_summary_lists_the_panels(full_home: tuple[Path, Path], tmp_path: Path) -> None:
    _, repo = full_home
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    code, _, stderr = build(repo, tmp_path / "site", "--summary", str(summary))
    assert code == 0, stderr
    written = summary.read_text()
    assert written.startswith("# earlier step\n## Dashboard")
    assert "| Optimization cycles | 135 |" in written and "MB" in written


def test_a_chart_cannot_close_its_script() -> None:
    figure = {"data": [{"type": "scatter", "x": [1], "y": [2], "name": HOSTILE}], "layout": {}}
    html = chart("hostile", figure)
    assert "</script><script>" not in html and "<img" not in html and html.count("</script>") == 1


def test_downsample_keeps_the_extremes_within_its_limit() -> None:
    y = np.sin(np.linspace(0, 60, 100_000))
    y[54_321] = -5.0
    x, kept = downsample(np.arange(len(y)), y, 400)
    assert len(kept) <= 400 and kept.min() == -5.0 and kept.max() == y.max()
    assert x[0] == 0 and x[-1] == len(y) - 1 and np.all(np.diff(x) > 0)


@pytest.mark.postgres
def test_the_dashboard_reads_a_postgresql_warehouse_by_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = pg_url_or_skip()
    schema = f"t_{uuid.uuid4().hex}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        scoped_url = scoped.render_as_string(hide_password=False)
        with get_warehouse(scoped_url) as warehouse:
            fill_warehouse(warehouse, FixtureSize(pairs=2, hours=24 * 10))
        monkeypatch.setenv("TRADELOOP_DB_URL", scoped_url)
        code, site, stderr = build(make_history_repo(tmp_path / "repo"), tmp_path / "site", "--no-prices")
        assert code == 0, stderr
        rows = {p["key"]: p["rows"] for p in site["panels"]}
        assert rows["cycles"] == 20 and rows["pairs"] > 2 * 2 * 240 and rows["regimes"] == 2 * 240
        assert "time range: 2025-06-21 00:00" in (tmp_path / "site" / "index.html").read_text()
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def test_the_dashboard_reads_the_runs_validate_records() -> None:
    from reports._dashboard_data import VALIDATE_RUN_KIND
    from tradeloop.loop._validate import VALIDATE_KIND

    assert VALIDATE_RUN_KIND == VALIDATE_KIND
