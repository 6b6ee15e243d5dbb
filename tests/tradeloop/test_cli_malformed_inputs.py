"""Generated malformed inputs through the CLI (issue 15): exit 1 or 2, one clear line, no traceback.

Hypothesis breaks valid files in ways that are sure to make them invalid (a missing column, an unparseable
value, a syntax error, random bytes, ...), sometimes with more damage on top, and feeds them to the commands
that read them: bar files (CSV, Parquet) to ``data check``, a proposal (JSON) to ``pr open`` (and, when it is
not even a JSON object, to ``validate``), a matrix
(YAML) to ``matrix plan``, the live state files to ``state check``, and bad option values to several
commands. Each run must end in exit 1 (a check that found problems, reported on stdout naming the file) or
exit 2 (exactly one ``error:`` line on stderr naming the file or the option), with no traceback, and must
leave the live state files as they were (no state file changed). The number of examples is bounded so that
CI stays fast.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.gitops.proposals import realistic_proposal
from tradeloop.cli import app

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = settings(max_examples=20, suppress_health_check=[HealthCheck.too_slow])
HEADER = ["timestamp", "open", "high", "low", "close", "volume"]
ROWS = 120
WORDS = st.text(alphabet="abcdefghjkmopqrsuvwxyz_!?#", min_size=1, max_size=8).filter(
    lambda w: w.lower() not in {"nan", "inf", "infinity", "na", "null", "none"}
)
NOISE = st.binary(min_size=1, max_size=64)


def _rows() -> list[list[str]]:
    return [[str(1_577_836_800 + 86_400 * i), "10", "11", "9", "10.5", "100"] for i in range(ROWS)]


@contextmanager
def _scratch() -> Iterator[Path]:
    """A fresh folder per example (pytest's tmp_path is one per test, shared by all examples)."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    (root / "config").mkdir()
    shutil.copy(REPO_ROOT / "config" / "constants.py", root / "config" / "constants.py")
    shutil.copy(REPO_ROOT / "feature_flags.json", root / "feature_flags.json")
    return root


def _state(repo: Path) -> str:
    digest = hashlib.sha256()
    for name in ("config/constants.py", "feature_flags.json"):
        digest.update((repo / name).read_bytes())
    return digest.hexdigest()


def _run_and_check(args: list[str], names: list[str], repo: Path, home: Path) -> None:
    """Run the CLI; assert exit 1 or 2, one line naming one of ``names``, no traceback, no state change."""
    before = _state(repo)
    result = CliRunner().invoke(app, ["--repo", str(repo), "--home", str(home), *args])
    output = result.stdout + result.stderr
    assert result.exit_code in (1, 2), output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in output, repr(result.exception)
    if result.exit_code == 2:
        lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1, output
        assert any(name in lines[0] for name in names), (names, lines[0])
    else:
        findings = [line for line in result.stdout.splitlines() if "error" in line]
        assert findings and any(name in result.stdout for name in names), output
    assert _state(repo) == before


# -- bar files ----------------------------------------------------------------------------------------------

CSV_BREAKS = ("header_only", "drop_column", "text_value", "empty_stamp", "text_stamp", "duplicate_header",
              "ragged", "garbage", "negative_price", "high_below_low", "duplicate_stamp")  # fmt: skip


@st.composite
def broken_csv(draw: st.DrawFn) -> bytes:
    header, rows = list(HEADER), _rows()
    kind = draw(st.sampled_from(CSV_BREAKS))
    row = draw(st.integers(0, ROWS - 2))
    column = draw(st.integers(1, 5))
    if kind == "garbage":
        return b"\x00" + draw(NOISE)
    if kind == "header_only":
        rows = []
    elif kind == "drop_column":
        header.pop(column)
        rows = [r[:column] + r[column + 1 :] for r in rows]
    elif kind == "text_value":
        rows[row][column] = draw(WORDS)
    elif kind == "empty_stamp":
        rows[row][0] = ""
    elif kind == "text_stamp":
        rows[row][0] = draw(WORDS)
    elif kind == "duplicate_header":
        header[column] = header[draw(st.integers(1, 5).filter(lambda c: c != column))]
    elif kind == "ragged":
        rows[row].append(draw(WORDS))
    elif kind == "negative_price":
        rows[row][draw(st.integers(1, 4))] = "-" + rows[row][column]
    elif kind == "high_below_low":
        rows[row][2], rows[row][3] = "8", "12"
    elif kind == "duplicate_stamp":
        rows[row + 1][0] = rows[row][0]
    text = "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    if draw(st.booleans()):  # more damage on top, anywhere after the header
        at = draw(st.integers(len(",".join(header)) + 1, len(text)))
        text = text[:at] + draw(WORDS) + text[at:]
    return text.encode()


@given(data=broken_csv())
@EXAMPLES
def test_a_malformed_csv_file(data: bytes, repo: Path) -> None:
    with _scratch() as scratch:
        path = scratch / "bars.csv"
        path.write_bytes(data)
        _run_and_check(["data", "check", str(path)], ["bars.csv"], repo, scratch / "home")


@st.composite
def broken_parquet(draw: st.DrawFn) -> bytes:
    frame = pd.DataFrame(
        [[float(v) for v in r[1:]] for r in _rows()], columns=HEADER[1:],
        index=pd.DatetimeIndex([int(r[0]) * 10**9 for r in _rows()], tz="UTC", name="timestamp"),
    )  # fmt: skip
    kind = draw(
        st.sampled_from(("empty", "drop_column", "text_column", "nan", "duplicate_stamp", "bytes", "cut"))
    )
    column = draw(st.sampled_from(HEADER[1:]))
    if kind == "empty":
        frame = frame.iloc[:0]
    elif kind == "drop_column":
        frame = frame.drop(columns=[column])
    elif kind == "text_column":
        frame[column] = draw(WORDS)
    elif kind == "nan":
        frame.iloc[draw(st.integers(0, ROWS - 1)), HEADER.index(column) - 1] = float("nan")
    elif kind == "duplicate_stamp":
        frame.index = frame.index[:1].append(frame.index[:-1])
    if kind == "bytes":
        return draw(NOISE)
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    data = buffer.getvalue()
    return data[: draw(st.integers(1, len(data) - 1))] if kind == "cut" else data


@given(data=broken_parquet())
@EXAMPLES
def test_a_malformed_parquet_file(data: bytes, repo: Path) -> None:
    with _scratch() as scratch:
        path = scratch / "bars.parquet"
        path.write_bytes(data)
        _run_and_check(["data", "check", str(path)], ["bars.parquet"], repo, scratch / "home")


# -- documents ----------------------------------------------------------------------------------------------

JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), WORDS, st.lists(st.integers(), max_size=2))


@st.composite
def broken_json(
    draw: st.DrawFn, document: dict[str, object], optional: frozenset[str] = frozenset()
) -> bytes:
    """``document`` broken: a required key deleted or of another type, the text cut short, not an object, or
    bytes that are not UTF-8."""
    kind = draw(st.sampled_from(("delete", "retype", "cut", "bytes", "not_an_object")))
    key = draw(st.sampled_from(sorted(set(document) - optional)))
    if kind == "bytes":
        return b"\xff" + draw(NOISE)
    if kind == "not_an_object":
        return json.dumps(draw(st.lists(JSON_VALUES, max_size=3))).encode()
    if kind == "cut":
        text = json.dumps(document)
        return text[: draw(st.integers(0, len(text) - 2))].encode()
    changed = dict(document)
    if kind == "delete":
        del changed[key]
    else:
        changed[key] = draw(JSON_VALUES.filter(lambda value: type(value) is not type(document[key])))
    return json.dumps(changed).encode()


PROPOSAL = realistic_proposal()
#: What a proposal may leave out (the search record, guardrails, candidates, cadence) or word freely.
OPTIONAL = frozenset({"cadence", "candidates", "guardrails", "search", "reason"})


@given(data=broken_json(PROPOSAL, OPTIONAL))
@EXAMPLES
def test_a_malformed_proposal(data: bytes, repo: Path) -> None:
    with _scratch() as scratch:
        path = scratch / "proposal.json"
        path.write_bytes(data)
        args = ["pr", "open", "--proposal", str(path), "--forge", "local", "--dry-run"]
        _run_and_check(args, ["proposal.json"], repo, scratch / "home")
        if not data.startswith(b"{") or not data.rstrip().endswith(b"}"):  # not a JSON object at all
            _run_and_check(["validate", "--proposal", str(path)], ["proposal.json"], repo, scratch / "home")


MATRIX = """\
symbols:
  SP500: sp500
  NASDAQ: nasdaq
  DEMO: reverting
strategies:
  ema_cross: [SP500, NASDAQ]
timeframes: [1d]
windows: [90d, full]
neighbourhood:
  samples: 2
  seed: 7
"""
YAML_BREAKS = {
    "unknown key": lambda w: MATRIX + f"{w}: 1\n",
    "bad window": lambda w: MATRIX.replace("90d", w),
    "bad timeframe": lambda w: MATRIX.replace("[1d]", f"[{w}]"),
    "unknown strategy": lambda w: MATRIX.replace("ema_cross", w),
    "negative samples": lambda w: MATRIX.replace("samples: 2", f"samples: -{len(w)}"),
    "syntax": lambda w: MATRIX.replace("[SP500, NASDAQ]", f"[SP500, {w}"),
    "duplicate key": lambda w: MATRIX + "timeframes: [1d]\n",
    "wrong type": lambda w: MATRIX.replace("windows: [90d, full]", f"windows: {w}"),
}


@given(kind=st.sampled_from(sorted(YAML_BREAKS)), word=WORDS.filter(lambda w: w not in {"full", "y", "n"}))
@EXAMPLES
def test_a_malformed_matrix(kind: str, word: str, repo: Path) -> None:
    with _scratch() as scratch:
        path = scratch / "matrix.yaml"
        path.write_text(YAML_BREAKS[kind](word), encoding="utf-8")
        _run_and_check(
            ["matrix", "plan", "--shards", "1", "--matrix", str(path)], ["matrix.yaml"], repo, scratch
        )


CONSTANTS_BREAKS = {
    "syntax": lambda w: f"{w} = (\n",
    "nul": lambda w: f"X = 1\x00{w}\n",
    "call": lambda w: f"MIN_TRADES = {w}()\n",
    "wrong type": lambda w: f'MIN_TRADES: Final[int] = "{w}"\n',
    "unknown constant": lambda w: f"{w.upper()}_X = 1\n",
}


@given(kind=st.sampled_from(sorted(CONSTANTS_BREAKS)), word=WORDS.filter(str.isidentifier))
@EXAMPLES
def test_a_malformed_constants_file(kind: str, word: str) -> None:
    with _scratch() as scratch:
        repo = scratch / "repo"
        (repo / "config").mkdir(parents=True)
        shutil.copy(REPO_ROOT / "feature_flags.json", repo / "feature_flags.json")
        text = (REPO_ROOT / "config" / "constants.py").read_text(encoding="utf-8")
        (repo / "config" / "constants.py").write_text(text + CONSTANTS_BREAKS[kind](word), encoding="utf-8")
        _run_and_check(["state", "check"], ["constants.py"], repo, scratch / "home")


FLAGS = json.loads((REPO_ROOT / "feature_flags.json").read_text(encoding="utf-8"))


@given(data=broken_json(FLAGS))
@EXAMPLES
def test_a_malformed_feature_flags_file(data: bytes) -> None:
    with _scratch() as scratch:
        repo = scratch / "repo"
        (repo / "config").mkdir(parents=True)
        shutil.copy(REPO_ROOT / "config" / "constants.py", repo / "config" / "constants.py")
        (repo / "feature_flags.json").write_bytes(data)
        _run_and_check(["state", "check"], ["feature_flags.json"], repo, scratch / "home")


# -- arguments ----------------------------------------------------------------------------------------------

BAD_NUMBERS = st.sampled_from(["-1", "0", "nan", "inf", "-inf", "1e400", "", "abc", "1/0", "--", "0x10"])
ARGUMENTS = {
    "--days": lambda v: ["data", "show", "sp500", "--days", v],
    "--random": lambda v: ["sweep", "-s", "ema_cross", "-d", "sp500", "--random", v],
    "--shards": lambda v: ["matrix", "plan", "--shards", v],
    "--timeout": lambda v: ["optimize", "-s", "ema_cross", "--symbol", "SP500", "-t", "1d", "--cadence",
                            "weekly", "--timeout", v],
    "--param": lambda v: ["backtest", "-s", "ema_cross", "-d", "sp500", "--param", f"ema_fast={v}"],
    "--max-cells": lambda v: ["matrix", "plan", "--shards", "1", "--max-cells", v],
    "--trials": lambda v: ["cycle", "--trials", v],
}  # fmt: skip


@given(option=st.sampled_from(sorted(ARGUMENTS)), value=BAD_NUMBERS)
@EXAMPLES
def test_a_bad_option_value(option: str, value: str, repo: Path) -> None:
    with _scratch() as scratch:
        names = [option, option.removeprefix("--"), *(["ema_fast"] if option == "--param" else [])]
        _run_and_check(ARGUMENTS[option](value), names, repo, scratch / "home")
