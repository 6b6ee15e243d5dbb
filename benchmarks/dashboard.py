"""How long ``tradeloop dashboard`` takes, and how big the site is, for a year of hourly cycles × 20 pairs.

Run from the repository root::

    .venv/bin/python benchmarks/dashboard.py                      # 3 timed builds, median
    .venv/bin/python benchmarks/dashboard.py --repeats 3 --json benchmarks/results/dashboard.json
    .venv/bin/python benchmarks/dashboard.py --screenshot docs/dashboard.png   # the README's picture

The set-up (untimed; ``tests/reports/dashboard_fixture.py``): a SQLite warehouse with, per pair and per hourly
cycle over 365 days, a live and a paper equity point, a proposal of two parameters (with its outcome, PR and
KPIs), an analysis of three rollout checks and a regime detection; a trade every 12 hours per mode; the
nightly matrix's latest results; a git repository whose live state was changed and reverted; an Optuna
study of 25 trials. Each timed run is the whole ``tradeloop dashboard --out DIR`` in-process (the CLI's whole
path): every table read, every panel drawn, the site written. Target (issue 20): at most 30 s, under 10 MB.

``--screenshot`` builds a smaller home (2 pairs, 60 days: the page's top is the same) and writes a PNG of the
top of the page through headless chromium (``tests/browser.py``); it is a documented command, not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from typer.testing import CliRunner  # noqa: E402

from tests.reports.dashboard_fixture import (  # noqa: E402
    FixtureSize,
    fill_warehouse,
    make_history_repo,
    make_study,
    write_flags,
)
from tradeloop.cli import app  # noqa: E402
from warehouse import get_warehouse  # noqa: E402

YEAR = FixtureSize(pairs=20, hours=24 * 365, proposal_every=1, check_every=1)
TARGET_SECONDS = 30.0
TARGET_BYTES = 10_000_000


def make_home(root: Path, size: FixtureSize) -> tuple[Path, Path]:
    home = root / "home"
    home.mkdir(parents=True)
    with get_warehouse(f"sqlite:///{home / 'warehouse.db'}") as warehouse:
        fill_warehouse(warehouse, size)
    make_study(home)
    write_flags(home)
    return home, make_history_repo(root / "repo")


def build(home: Path, repo: Path, out: Path) -> dict[str, Any]:
    args = ["--json", "--home", str(home), "--repo", str(repo), "dashboard", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    if result.exit_code != 0:
        raise SystemExit(result.stdout + result.stderr)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def screenshot(path: Path) -> None:
    from tests.browser import chromium_path, open_browser

    executable = chromium_path()
    if executable is None:
        raise SystemExit("chromium is not installed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as scratch:
        home, repo = make_home(Path(scratch), FixtureSize(pairs=2, hours=24 * 60))
        site = build(home, repo, Path(scratch) / "site")
        with open_browser(executable, 1400, 2400) as browser:
            browser.open(Path(site["index"]).as_uri())
            browser.evaluate("new Promise(r => setTimeout(r, 500))")
            browser.screenshot(path, 1400, 2400)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--screenshot", type=Path, help="write the README's PNG here instead of timing")
    options = parser.parse_args()
    if options.screenshot:
        screenshot(options.screenshot)
        return
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        home, repo = make_home(Path(scratch), YEAR)
        print(f"set-up: {time.perf_counter() - started:.1f} s", flush=True)
        seconds, site = [], {}
        for repeat in range(options.repeats):
            started = time.perf_counter()
            site = build(home, repo, Path(scratch) / f"site-{repeat}")
            seconds.append(time.perf_counter() - started)
            print(f"build {repeat + 1}: {seconds[-1]:.2f} s, {site['size_bytes'] / 1e6:.2f} MB", flush=True)
    figures = {
        "pairs": YEAR.pairs, "hours": YEAR.hours, "rows": {p["key"]: p["rows"] for p in site["panels"]},
        "seconds": seconds, "median_s": statistics.median(seconds), "size_bytes": site["size_bytes"],
        "target_s": TARGET_SECONDS, "target_bytes": TARGET_BYTES,
    }  # fmt: skip
    print(json.dumps(figures, indent=2))
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
