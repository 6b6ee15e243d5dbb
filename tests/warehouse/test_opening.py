"""Opening the warehouse: from the environment, settings, URLs and engines; refusals that mask passwords."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from tests.warehouse.conftest import Backend
from tradeloop import Settings
from tradeloop.errors import WarehouseError
from warehouse import SCHEMA_VERSION, Warehouse, create_warehouse_engine, get_warehouse, masked_url

FAKE_PASSWORD = "s3cr3t-hunter2"


def test_default_is_sqlite_under_home_and_creates_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "not" / "there" / "yet"
    monkeypatch.setenv("TRADELOOP_HOME", str(home))
    with get_warehouse() as warehouse:
        assert warehouse.backend == "sqlite"
        warehouse.start_run("data-check", git_sha="abc")
    assert (home / "warehouse.db").is_file()
    assert warehouse.url == f"sqlite:///{(home / 'warehouse.db').resolve()}"


def test_settings_url_and_warehouse_are_all_accepted(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", repo=tmp_path)
    with get_warehouse(settings) as from_settings:
        assert get_warehouse(from_settings) is from_settings
        run_id = from_settings.start_run("matrix", git_sha="abc")
    with get_warehouse(settings.warehouse_url) as from_url:
        assert from_url.get_run(run_id).kind == "matrix"


def test_db_url_in_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELOOP_DB_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    with get_warehouse() as warehouse:
        assert warehouse.url.endswith("elsewhere.db")
    assert (tmp_path / "elsewhere.db").is_file()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    with (
        get_warehouse(f"sqlite:///{tmp_path / 'wh.db'}") as warehouse,
        warehouse.engine.connect() as connection,
    ):
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 1000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_prebuilt_engine_is_used_and_left_open(backend: Backend) -> None:
    engine = create_warehouse_engine(backend.url, **backend.engine_kwargs)
    try:
        with Warehouse(engine) as warehouse:
            assert warehouse.engine is engine
            run_id = warehouse.start_run("validate", git_sha="abc")
        with engine.connect() as connection:  # still usable after the warehouse is disposed
            kinds = connection.execute(
                text("SELECT kind FROM experiment_runs WHERE run_id = :r"), {"r": run_id}
            )
            assert kinds.scalar_one() == "validate"
        with pytest.raises(TypeError, match="prebuilt Engine"):
            Warehouse(engine, pool_size=3)
    finally:
        engine.dispose()


def test_a_newer_schema_is_refused_with_both_versions_and_the_fix(backend: Backend) -> None:
    url = make_url(backend.url)
    if backend.name == "postgres" and url.password is None:
        url = url.set(password=FAKE_PASSWORD)  # trust auth ignores it; it must still never be shown
    url_text = url.render_as_string(hide_password=False)
    with Warehouse(url_text, **backend.engine_kwargs) as warehouse, warehouse.engine.begin() as connection:
        connection.execute(text("UPDATE schema_version SET version = :v"), {"v": SCHEMA_VERSION + 1})

    with pytest.raises(WarehouseError) as caught:
        Warehouse(url_text, **backend.engine_kwargs)
    message = str(caught.value)
    assert f"database schema version {SCHEMA_VERSION + 1} is newer than" in message
    assert f"schema version {SCHEMA_VERSION};" in message
    assert "upgrade tradeloop" in message
    assert masked_url(url_text) in message
    if url.password:
        assert str(url.password) not in message
        assert "***" in message


def test_an_older_schema_is_refused(backend: Backend) -> None:
    with backend.open() as warehouse, warehouse.engine.begin() as connection:
        connection.execute(text("UPDATE schema_version SET version = 0"))
    with pytest.raises(
        WarehouseError, match=r"schema version 0 is older than schema version 1, the oldest .* fresh database"
    ):
        backend.open()


def test_an_unreachable_server_is_reported_without_the_password() -> None:
    url = f"postgresql+psycopg://tradeloop:{FAKE_PASSWORD}@127.0.0.1:1/results"
    with pytest.raises(WarehouseError) as caught:
        get_warehouse(url, connect_args={"connect_timeout": 5})
    message = str(caught.value)
    assert FAKE_PASSWORD not in message
    assert "postgresql+psycopg://tradeloop:***@127.0.0.1:1/results" in message
    assert message.startswith("cannot connect to warehouse")
    assert "port 1 failed" in message  # the driver's reason
    assert "\n" not in message


def test_a_sqlite_file_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(WarehouseError, match=r"cannot create directory .*a-file"):
        get_warehouse(f"sqlite:///{blocker / 'sub' / 'wh.db'}")


def test_a_file_that_is_not_a_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database " * 10)
    with pytest.raises(
        WarehouseError, match=r"notes.db: cannot open the SQLite file .*file is not a database"
    ):
        get_warehouse(f"sqlite:///{path}")


def test_unsupported_and_malformed_urls() -> None:
    with pytest.raises(
        WarehouseError, match=r"backend 'mysql' is not supported; use one of \['sqlite', 'postgresql'\]"
    ):
        get_warehouse(f"mysql://user:{FAKE_PASSWORD}@localhost/db")
    with pytest.raises(WarehouseError, match=r"warehouse URL 'nonsense' is not a database URL"):
        get_warehouse("nonsense")
    with pytest.raises(WarehouseError) as caught:
        get_warehouse(f"user:{FAKE_PASSWORD}@nowhere")
    assert FAKE_PASSWORD not in str(caught.value)


def test_context_manager_disposes_the_pool(tmp_path: Path) -> None:
    with get_warehouse(f"sqlite:///{tmp_path / 'wh.db'}") as warehouse:
        warehouse.start_run("matrix", git_sha="abc")
        pool = warehouse.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedin() >= 1
    assert warehouse.engine.pool is not pool  # disposed: a fresh, empty pool replaced it
    assert isinstance(warehouse.engine.pool, QueuePool)
    assert warehouse.engine.pool.checkedin() == 0
    assert repr(warehouse).startswith("Warehouse('sqlite:///")


def test_plain_sqlalchemy_sees_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "wh.db"
    get_warehouse(f"sqlite:///{path}").dispose()
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            names = {
                row[0]
                for row in connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")
            }
    finally:
        engine.dispose()
    assert names >= {
        "experiment_runs",
        "backtest_results",
        "optimization_history",
        "prediction_performance",
        "trades",
        "regime_detections",
        "rollouts",
        "schema_version",
    }


def test_the_warehouse_and_an_optuna_storage_share_one_database(backend: Backend) -> None:
    """The warehouse keeps its Alembic revision in its own table: Optuna's storage keeps its own in
    ``alembic_version``, and a warehouse revision left there (by tradeloop before) is moved out."""
    import optuna
    from sqlalchemy import create_engine, text

    backend.open().dispose()  # a warehouse at the newest schema
    engine = create_engine(backend.url, **backend.engine_kwargs)
    with engine.begin() as connection:  # what an earlier tradeloop left: its revision in alembic_version
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('0003')"))
    backend.open().dispose()  # opening it again moves that revision out
    storage = optuna.storages.RDBStorage(backend.url, engine_kwargs=dict(backend.engine_kwargs))
    study = optuna.create_study(storage=storage, study_name="shared")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    with backend.open() as reopened:  # and the warehouse opens beside Optuna's tables
        assert reopened.runs("matrix") == []
    with engine.connect() as connection:
        revisions = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
        ours = connection.execute(text("SELECT version_num FROM warehouse_alembic_version")).scalar_one()
    assert revisions and all(not revision.isdigit() for revision in revisions)  # Optuna's alone
    assert ours == "0003"
    storage.remove_session()
    engine.dispose()
