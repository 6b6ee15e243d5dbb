"""feature_flags.json: schema-checked on every read, key-path messages, validated and atomic writes."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gitops import (
    FeatureFlags,
    PredictionEngine,
    Rollout,
    Stage,
    feature_flags_schema,
    inspect_feature_flags,
    load_feature_flags,
    parse_feature_flags,
    render_feature_flags,
    save_feature_flags,
)
from gitops._names import ROLLOUT_KEY
from tests.gitops.conftest import SHIPPED_FLAGS
from tradeloop import Provenance, orphaned_temp_files
from tradeloop.errors import StateFileError

PROVENANCE = Provenance(
    run_id="20300101T000000Z-0badc0de", git_sha="nogit", written_at="2030-01-01T00:00:00+00:00"
)
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def a_rollout(**changes: Any) -> dict[str, Any]:
    rollout = {
        "stage": "LIMITED",
        "phase": "progressing",
        "canary_fraction": 0.1,
        "config_hash": "0123456789abcdef",
        "previous_config_hash": None,
        "previous_params": None,
        "pr_number": 42,
        "started_at": "2030-01-01T12:00:00+00:00",
        "updated_at": "2030-01-01T13:00:00+00:00",
        "status": None,
    }
    rollout.update(changes)
    return rollout


def a_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SHIPPED_FLAGS.read_text())
    document["rollouts"] = {"ema_cross/SP500": a_rollout()}
    document.update(changes)
    return document


def write_and_load(path: Path, content: str) -> str:
    """Write ``content``, load it expecting failure, check the reader left everything as it was."""
    path.write_text(content)
    before = sorted(path.parent.iterdir())
    with pytest.raises(StateFileError) as raised:
        load_feature_flags(path)
    assert path.read_text() == content, "the reader must never write"
    assert sorted(path.parent.iterdir()) == before, "the reader must create no file"
    return str(raised.value)


def test_the_shipped_flags_are_valid() -> None:
    flags = load_feature_flags(SHIPPED_FLAGS)
    assert flags.schema_version == 2
    assert flags.prediction_engine == PredictionEngine(enabled=False, model=None, min_confidence=0.6)
    assert flags.rollouts == {}
    assert SHIPPED_FLAGS.read_text() == render_feature_flags(flags)


def test_the_schema_is_valid_draft_2020_12_and_shipped_as_package_data() -> None:
    schema = feature_flags_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert resources.files("gitops").joinpath("schemas", "feature_flags.schema.json").is_file()
    assert schema["properties"]["rollouts"]["propertyNames"]["pattern"] == ROLLOUT_KEY
    assert schema["$defs"]["rollout"]["properties"]["stage"]["enum"] == [stage.value for stage in Stage]
    assert schema["additionalProperties"] is False


def test_a_valid_rollout_is_read() -> None:
    flags = parse_feature_flags(json.dumps(a_document()))
    rollout = flags.rollout("ema_cross", "SP500")
    assert rollout == Rollout(
        stage=Stage.LIMITED,
        canary_fraction=0.1,
        config_hash="0123456789abcdef",
        pr_number=42,
        started_at=START,
        updated_at=START + timedelta(hours=1),
    )
    assert flags.rollout("ema_cross", "NASDAQ") is None


def test_the_exact_canary_fraction_message(flags_file: Path) -> None:
    document = a_document(rollouts={"ema_cross/SP500": a_rollout(canary_fraction=1.5)})
    message = write_and_load(flags_file, json.dumps(document, indent=2))
    assert (
        message == "feature_flags.json: rollouts.ema_cross/SP500.canary_fraction must be in (0, 1), got 1.5"
    )


def test_a_truncated_file_names_line_column_and_the_fix(flags_file: Path) -> None:
    text = json.dumps(a_document(), indent=2)
    message = write_and_load(flags_file, text[: len(text) // 2])
    assert message.startswith("feature_flags.json: not valid JSON at line ")
    assert ", column " in message
    assert "restore it with `git checkout -- feature_flags.json`" in message


def test_an_empty_file_is_reported(flags_file: Path) -> None:
    assert "not valid JSON at line 1, column 1" in write_and_load(flags_file, "")


BAD_DOCUMENTS: dict[str, tuple[dict[str, Any], str]] = {
    "wrong type": (
        {"rollouts": {"ema_cross/SP500": a_rollout(pr_number="42")}},
        'rollouts.ema_cross/SP500.pr_number must be an integer or null, got "42"',
    ),
    "bad stage": (
        {"rollouts": {"ema_cross/SP500": a_rollout(stage="HOT")}},
        'rollouts.ema_cross/SP500.stage must be one of COLD, WARM, LIMITED, FULL, got "HOT"',
    ),
    "zero canary fraction": (
        {"rollouts": {"ema_cross/SP500": a_rollout(canary_fraction=0)}},
        "rollouts.ema_cross/SP500.canary_fraction must be in (0, 1), got 0",
    ),
    "capital while WARM": (
        {"rollouts": {"ema_cross/SP500": a_rollout(stage="WARM", canary_fraction=0.1)}},
        "rollouts.ema_cross/SP500.canary_fraction must be 0, got 0.1 (0: COLD and WARM trade no capital on "
        "the new config (WARM trades on paper))",
    ),
    "capital once failed": (
        {"rollouts": {"ema_cross/SP500": a_rollout(phase="failed", canary_fraction=0.1)}},
        "rollouts.ema_cross/SP500.canary_fraction must be 0, got 0.1 (0: a failed rollout trades nothing",
    ),
    "FULL still progressing": (
        {"rollouts": {"ema_cross/SP500": a_rollout(stage="FULL", canary_fraction=1.0)}},
        'rollouts.ema_cross/SP500.phase must be one of succeeded, failed, got "progressing"',
    ),
    "check with an unknown outcome": (
        {
            "rollouts": {
                "ema_cross/SP500": a_rollout(
                    status={
                        "checked_at": "2030-01-01T13:00:00+00:00",
                        "stage": "LIMITED",
                        "outcome": "maybe",
                        "decision": "hold",
                        "reason": "",
                        "failed_checks": 0,
                        "checks": [],
                    }
                )
            }
        },
        'rollouts.ema_cross/SP500.status.outcome must be one of pass, fail, inconclusive, error, got "maybe"',
    ),
    "bad rollout key": (
        {"rollouts": {"ema cross": a_rollout()}},
        'rollouts has the key "ema cross", which is not a rollout key "<strategy>/<symbol>"',
    ),
    "unknown top-level key": (
        {"rollout": {}},
        "rollout is not a known key (allowed: schema_version, provenance, prediction_engine, rollouts). "
        "Did you mean rollouts?",
    ),
    "unknown rollout field": (
        {"rollouts": {"ema_cross/SP500": a_rollout(stag="WARM")}},
        "rollouts.ema_cross/SP500.stag is not a known key",
    ),
    "missing field": (
        {"rollouts": {"ema_cross/SP500": {k: v for k, v in a_rollout().items() if k != "config_hash"}}},
        "rollouts.ema_cross/SP500.config_hash is missing; add it: a config hash",
    ),
    "bad hash": (
        {"rollouts": {"ema_cross/SP500": a_rollout(config_hash="XYZ")}},
        "rollouts.ema_cross/SP500.config_hash must be a config hash: 16 to 64 lowercase hex digits, "
        'got "XYZ"',
    ),
    "time without offset": (
        {"rollouts": {"ema_cross/SP500": a_rollout(started_at="2030-01-01T12:00:00")}},
        "rollouts.ema_cross/SP500.started_at must be an ISO-8601 time with a UTC offset",
    ),
    "impossible date": (
        {"rollouts": {"ema_cross/SP500": a_rollout(started_at="2030-13-01T12:00:00+00:00")}},
        'rollouts.ema_cross/SP500.started_at must be a real calendar time, got "2030-13-01T12:00:00+00:00"',
    ),
    "updated before started": (
        {"rollouts": {"ema_cross/SP500": a_rollout(updated_at="2029-01-01T00:00:00+00:00")}},
        "rollouts.ema_cross/SP500.updated_at must not be before started_at",
    ),
    "schema version": ({"schema_version": 3}, "schema_version must be 2, got 3"),
    "engine on without model": (
        {"prediction_engine": {"enabled": True, "model": None, "min_confidence": 0.6}},
        "prediction_engine.model must be a string, got null "
        "(a model name is required while the engine is enabled)",
    ),
    "confidence out of range": (
        {"prediction_engine": {"enabled": False, "model": None, "min_confidence": 1.2}},
        "prediction_engine.min_confidence must be in [0, 1], got 1.2",
    ),
    "not an object": ({"rollouts": []}, "rollouts must be an object, got []"),
}


@pytest.mark.parametrize("case", list(BAD_DOCUMENTS))
def test_schema_violations_name_the_key_path_and_value(case: str, flags_file: Path) -> None:
    changes, expected = BAD_DOCUMENTS[case]
    message = write_and_load(flags_file, json.dumps(a_document(**changes), indent=2))
    assert message.startswith("feature_flags.json: ")
    assert expected in message


def test_a_bad_rollout_key_is_not_checked_further() -> None:
    document = a_document(rollouts={"Bad Key": {}})
    _, problems = inspect_feature_flags(json.dumps(document))
    assert len(problems) == 1 and '"Bad Key"' in problems[0]


def test_every_problem_is_collected_in_path_order(flags_file: Path) -> None:
    document = a_document(
        schema_version=3, rollouts={"ema_cross/SP500": a_rollout(stage="HOT", pr_number="x")}
    )
    message = write_and_load(flags_file, json.dumps(document))
    assert message.startswith("feature_flags.json: rollouts.ema_cross/SP500.pr_number must be an integer")
    assert message.endswith("(and 2 more; `tradeloop state check` lists them all)")


def test_not_a_number_and_duplicate_keys_are_refused(flags_file: Path) -> None:
    text = json.dumps(a_document(), indent=2)
    assert "NaN is not a JSON number" in write_and_load(flags_file, text.replace("0.1", "NaN"))
    duplicated = text.replace('"stage": "LIMITED"', '"stage": "LIMITED", "stage": "FULL"')
    assert 'the key "stage" appears twice' in write_and_load(flags_file, duplicated)


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(StateFileError, match=r"feature_flags\.json: not found at"):
        load_feature_flags(tmp_path / "feature_flags.json")


def test_save_formats_stably_with_sorted_rollouts(tmp_path: Path) -> None:
    path = tmp_path / "feature_flags.json"
    rollout = Rollout.from_document(a_rollout())
    flags = FeatureFlags(provenance=PROVENANCE)
    for key in ("rsi_reversion/SP500", "ema_cross/SP500", "ema_cross/NASDAQ"):
        strategy, symbol = key.split("/")
        flags = flags.with_rollout(strategy, symbol, rollout)
    written = save_feature_flags(path, flags, PROVENANCE)
    text = path.read_text()
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text.startswith('{\n  "schema_version": 2,\n  "provenance": {\n    "run_id"')
    document = json.loads(text)
    assert list(document["rollouts"]) == ["ema_cross/NASDAQ", "ema_cross/SP500", "rsi_reversion/SP500"]
    assert load_feature_flags(path) == written
    assert orphaned_temp_files(path) == []
    assert written.with_rollout("ema_cross", "NASDAQ", None).rollout("ema_cross", "NASDAQ") is None


def test_save_refuses_invalid_flags_and_leaves_the_file_alone(flags_file: Path) -> None:
    before = flags_file.read_bytes()
    bad_rollout = Rollout.from_document(a_rollout())
    candidates = [
        FeatureFlags(provenance=PROVENANCE).with_rollout(
            "ema_cross", "SP500", _replace(bad_rollout, canary_fraction=1.5)
        ),
        FeatureFlags(provenance=PROVENANCE).with_rollout("Ema Cross", "SP500", bad_rollout),
        FeatureFlags(provenance=PROVENANCE).with_rollout(
            "ema_cross", "SP500", _replace(bad_rollout, started_at=datetime(2030, 1, 1))
        ),
        FeatureFlags(provenance=PROVENANCE, prediction_engine=PredictionEngine(min_confidence=float("nan"))),
    ]
    for flags in candidates:
        with pytest.raises(StateFileError, match="refusing to write"):
            save_feature_flags(flags_file, flags, PROVENANCE)
    assert flags_file.read_bytes() == before
    assert orphaned_temp_files(flags_file) == []


def test_the_exact_refusal_message(flags_file: Path) -> None:
    rollout = _replace(Rollout.from_document(a_rollout()), canary_fraction=1.5)
    flags = FeatureFlags(provenance=PROVENANCE).with_rollout("ema_cross", "SP500", rollout)
    with pytest.raises(StateFileError) as raised:
        save_feature_flags(flags_file, flags, PROVENANCE)
    assert str(raised.value) == (
        "refusing to write an invalid feature_flags.json: "
        "feature_flags.json: rollouts.ema_cross/SP500.canary_fraction must be in (0, 1), got 1.5"
    )


def _replace(rollout: Rollout, **changes: Any) -> Rollout:
    return dataclasses.replace(rollout, **changes)


times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


def _fraction(stage: Stage, failed: bool, share: float) -> float:
    if failed or stage in (Stage.COLD, Stage.WARM):
        return 0.0
    return 1.0 if stage == Stage.FULL else share


def _phase(stage: Stage, failed: bool) -> str:
    return "failed" if failed else "succeeded" if stage == Stage.FULL else "progressing"


rollouts = st.builds(
    lambda stage, failed, share, config_hash, previous, pr, start, delta: Rollout(
        stage=stage,
        canary_fraction=_fraction(stage, failed, share),
        config_hash=config_hash,
        previous_config_hash=previous,
        pr_number=pr,
        started_at=start,
        updated_at=start + delta,
        phase=_phase(stage, failed),
        previous_params={"timeframe": "5m", "rsi_period": 14} if pr else None,
    ),
    st.sampled_from(Stage),
    st.booleans(),
    st.floats(min_value=0, max_value=1, exclude_min=True, exclude_max=True),
    st.from_regex(r"[0-9a-f]{16}", fullmatch=True),
    st.none() | st.from_regex(r"[0-9a-f]{16,64}", fullmatch=True),
    st.none() | st.integers(min_value=1, max_value=10**6),
    times,
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=90)),
)
rollout_keys = st.tuples(
    st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), st.from_regex(r"[A-Z0-9]{1,8}", fullmatch=True)
)


@given(
    st.dictionaries(rollout_keys, rollouts, max_size=5), st.booleans(), st.floats(min_value=0, max_value=1)
)
def test_render_then_parse_round_trips(
    entries: dict[tuple[str, str], Rollout], enabled: bool, min_confidence: float
) -> None:
    engine = PredictionEngine(
        enabled=enabled, model="gbm-v1" if enabled else None, min_confidence=min_confidence
    )
    flags = FeatureFlags(provenance=PROVENANCE, prediction_engine=engine)
    for (strategy, symbol), rollout in entries.items():
        flags = flags.with_rollout(strategy, symbol, rollout)
    text = render_feature_flags(flags)
    assert parse_feature_flags(text) == flags
    assert render_feature_flags(parse_feature_flags(text)) == text


def _schema_1_document(**rollout: Any) -> dict[str, Any]:
    document = a_document(schema_version=1)
    document["rollouts"] = {
        "ema_cross/SP500": {
            "stage": "COLD", "canary_fraction": 0.1, "config_hash": "0123456789abcdef",
            "previous_config_hash": "fedcba9876543210", "pr_number": 7,
            "started_at": "2030-01-01T12:00:00+00:00", "updated_at": "2030-01-01T12:00:00+00:00", **rollout,
        }
    }  # fmt: skip
    return document


@pytest.mark.parametrize(
    ("stage", "fraction", "phase", "read_fraction"),
    [("COLD", 0.1, "progressing", 0.0), ("WARM", 0.1, "progressing", 0.0),
     ("LIMITED", 0.5, "progressing", 0.5), ("FULL", 1.0, "succeeded", 1.0)],
)  # fmt: skip
def test_a_schema_1_file_is_read_as_schema_2(
    flags_file: Path, stage: str, fraction: float, phase: str, read_fraction: float
) -> None:
    text = json.dumps(_schema_1_document(stage=stage, canary_fraction=fraction), indent=2) + "\n"
    flags_file.write_text(text)
    flags = load_feature_flags(flags_file)
    assert flags_file.read_text() == text, "reading upgrades in memory only"
    assert flags.schema_version == 2
    rollout = flags.rollout("ema_cross", "SP500")
    assert rollout is not None
    assert (rollout.stage.value, rollout.phase, rollout.canary_fraction) == (stage, phase, read_fraction)
    assert rollout.previous_config_hash == "fedcba9876543210" and rollout.previous_params is None
    assert rollout.status is None and rollout.pr_number == 7
    # The next write is schema 2, and reads back as what was read.
    save_feature_flags(flags_file, flags, PROVENANCE)
    assert json.loads(flags_file.read_text())["schema_version"] == 2
    assert load_feature_flags(flags_file).rollouts == flags.rollouts


def test_a_bad_schema_1_file_keeps_its_schema_1_message(flags_file: Path) -> None:
    document = _schema_1_document(canary_fraction=1.5)
    message = write_and_load(flags_file, json.dumps(document))
    assert message == (
        "feature_flags.json: rollouts.ema_cross/SP500.canary_fraction must be in (0, 1], got 1.5"
    )
