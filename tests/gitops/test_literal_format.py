"""The literal formatter: values read back unchanged, and the layout is what ruff format produces."""

from __future__ import annotations

import ast
import random
import subprocess
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gitops._literal_format import LINE_LENGTH, format_assignment, format_literal
from tests.gitops.conftest import REPO_ROOT
from tests.gitops.test_constants_writer import ruff

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
values = st.recursive(
    scalars,
    lambda inner: st.dictionaries(st.text(max_size=12), inner, max_size=6) | st.lists(inner, max_size=6),
    max_leaves=40,
)


@given(values)
def test_a_formatted_literal_reads_back_equal(value: Any) -> None:
    assert ast.literal_eval(format_literal(value)) == value
    assert ast.literal_eval(format_assignment("X", value).partition(" = ")[2]) == value


def test_short_containers_stay_on_one_line_and_long_ones_split() -> None:
    assert format_assignment("A: Final", {"x": 1, "y": [1.5, "s"]}) == 'A: Final = {"x": 1, "y": [1.5, "s"]}'
    long = {f"key_{index}": index * 1.5 for index in range(20)}
    lines = format_assignment("B: Final", {"outer": long}).splitlines()
    assert lines[0] == "B: Final = {"
    assert lines[1] == '    "outer": {'
    assert lines[2] == '        "key_0": 0.0,'
    assert lines[-2:] == ["    },", "}"]
    assert max(map(len, lines)) <= LINE_LENGTH


def test_strings_use_double_quotes_unless_they_hold_one() -> None:
    assert format_literal("plain") == '"plain"'
    assert format_literal("it's") == '"it\'s"'
    assert format_literal('say "hi"') == "'say \"hi\"'"
    assert format_literal("tab\tand\nnewline") == '"tab\\tand\\nnewline"'
    assert format_literal((1,)) == "(1,)"


def test_the_layout_is_stable_under_ruff_format(tmp_path: Path) -> None:
    rng = random.Random(7)

    def random_value(depth: int) -> Any:
        if depth == 0 or rng.random() < 0.3:
            return rng.choice(
                [rng.randint(-999, 99999), round(rng.uniform(-100, 100), 4), "word" * rng.randint(1, 9)]
            )
        return {
            f"k{index}_{'x' * rng.randint(0, 20)}": random_value(depth - 1)
            for index in range(rng.randint(0, 6))
        }

    body = "\n\n".join(format_assignment(f"VALUE_{index}: Final", random_value(4)) for index in range(40))
    path = tmp_path / "generated.py"
    path.write_text(f"from typing import Final\n\n{body}\n")
    result = subprocess.run(
        [
            str(ruff()),
            "format",
            "--check",
            "--diff",
            "--config",
            str(REPO_ROOT / "pyproject.toml"),
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
