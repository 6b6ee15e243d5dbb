"""The :class:`Warehouse` repository and :func:`get_warehouse`, its Optuna-style opener."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import pandas as pd
from sqlalchemy import ColumnElement, Connection, Engine, Select, Table, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, RowMapping
from sqlalchemy.exc import SQLAlchemyError, StatementError

from tradeloop import Settings, new_run_id, utc_now
from tradeloop._secrets import mask_secrets
from tradeloop.errors import TradeloopError, WarehouseError
from warehouse._connect import (
    WRITE_OPTION,
    check_reachable,
    create_warehouse_engine,
    ensure_schema,
    masked_url,
    prepare_engine,
    write_fault_fix,
)
from warehouse._fields import (
    BACKTEST_FIELDS,
    CHECK_FIELDS,
    EQUITY_FIELDS,
    PREDICTION_FIELDS,
    PROPOSAL_FIELDS,
    REGIME_FIELDS,
    ROLLOUT_FIELDS,
    RUN_FIELDS,
    TRADE_FIELDS,
    check_regime,
    check_trade,
    with_delta_pct,
)
from warehouse._records import AnalysisRecord, CheckRecord, ProposalRecord, RolloutRecord, RunRecord
from warehouse._schema import (
    PROPOSAL_OUTCOMES,
    RUN_STATUSES,
    BacktestResult,
    Base,
    Equity,
    ExperimentRun,
    OptimizationProposal,
    PredictionPerformance,
    RegimeDetection,
    Rollout,
    RolloutCheck,
    Trade,
)
from warehouse._types import UTCDateTime
from warehouse._validate import Field, as_utc_datetime, validate_row, validate_rows

__all__ = ["Warehouse", "get_warehouse"]

_FINISHED_STATUS = Field("status", "str", choices=tuple(s for s in RUN_STATUSES if s != "running"))
_OUTCOME = Field("outcome", "str", choices=PROPOSAL_OUTCOMES)


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


class Warehouse:
    """The results store: runs, backtest results, proposals, predictions, trades, regimes, rollouts.

    Opening it creates missing tables and checks the schema version. Every method runs in its own
    transaction and returns plain values (dataclasses, dicts, DataFrames with tz-aware UTC timestamps).

    Parameters
    ----------
    url
        A SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg://...``) or a prebuilt ``Engine``.
    **engine_kwargs
        Passed to ``sqlalchemy.create_engine`` when ``url`` is a URL, e.g.
        ``connect_args={"options": "-csearch_path=my_schema"}``.

    Raises
    ------
    WarehouseError
        The database is unreachable (the message masks the password), its driver is missing, or its schema
        version is newer than this code.
    """

    def __init__(self, url: str | URL | Engine, **engine_kwargs: Any) -> None:
        if isinstance(url, Engine):
            if engine_kwargs:
                raise TypeError("engine keyword arguments cannot be applied to a prebuilt Engine")
            self._engine = prepare_engine(url)
            self._owns_engine = False
        else:
            self._engine = create_warehouse_engine(url, **engine_kwargs)
            self._owns_engine = True
        try:
            check_reachable(self._engine)
            self._schema_version = ensure_schema(self._engine)
        except BaseException:
            self.dispose()
            raise

    # -- lifecycle ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL with its password masked."""
        return masked_url(self._engine.url)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @property
    def schema_version(self) -> int:
        return self._schema_version

    def dispose(self) -> None:
        """Close pooled connections (only of an engine this warehouse created)."""
        if self._owns_engine:
            self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"Warehouse({self.url!r})"

    # -- experiment runs ---------------------------------------------------------------------------------

    def start_run(
        self,
        kind: str,
        *,
        git_sha: str,
        run_id: str | None = None,
        config_hash: str | None = None,
        data_hash: str | None = None,
        seed: int | None = None,
        params: Mapping[str, Any] | None = None,
        notes: str | None = None,
        started_at: datetime | None = None,
        resume: bool = False,
    ) -> str:
        """Record the start of a run and return its run id (a new one unless ``run_id`` is given).

        With ``resume=True`` an existing run of the same kind is marked running again instead of refused.
        """
        record = {
            "run_id": run_id or new_run_id(),
            "kind": kind,
            "status": "running",
            "started_at": started_at,
            "git_sha": git_sha,
            "config_hash": config_hash,
            "data_hash": data_hash,
            "seed": seed,
            "params": params,
            "notes": notes,
        }
        row = validate_row("experiment_runs", RUN_FIELDS, record, None)
        runs = _table(ExperimentRun)
        with self._writing("start_run") as connection:
            existing = connection.execute(
                select(runs.c.kind).where(runs.c.run_id == row["run_id"])
            ).scalar_one_or_none()
            if existing is None:
                connection.execute(runs.insert().values(**row))
            elif not resume:
                raise WarehouseError(
                    f"experiment_runs.run_id {row['run_id']!r} already exists; pass a new run id "
                    "(tradeloop.new_run_id()) or resume=True to continue that run"
                )
            elif existing != kind:
                raise WarehouseError(
                    f"experiment_runs.run_id {row['run_id']!r} is a {existing!r} run, cannot resume it as "
                    f"{kind!r}; pass a new run id"
                )
            else:
                connection.execute(
                    update(runs)
                    .where(runs.c.run_id == row["run_id"])
                    .values(status="running", finished_at=None)
                )
        return str(row["run_id"])

    def finish_run(
        self, run_id: str, status: str, *, notes: str | None = None, finished_at: datetime | None = None
    ) -> None:
        """Record how a run ended: ``status`` is one of ok, error, timeout, interrupted."""
        checked = validate_row("experiment_runs", (_FINISHED_STATUS,), {"status": status}, None)
        values: dict[str, Any] = {
            "status": checked["status"],
            "finished_at": as_utc_datetime(finished_at or utc_now(), "experiment_runs.finished_at"),
        }
        if notes is not None:
            values["notes"] = notes
        runs = _table(ExperimentRun)
        with self._writing("finish_run") as connection:
            result = connection.execute(update(runs).where(runs.c.run_id == run_id).values(**values))
            if result.rowcount == 0:
                raise _unknown_run("experiment_runs", run_id)

    def get_run(self, run_id: str) -> RunRecord:
        runs = _table(ExperimentRun)
        rows = self._read(select(runs).where(runs.c.run_id == run_id))
        if not rows:
            raise _unknown_run("experiment_runs", run_id)
        return RunRecord.from_row(rows[0])

    def runs(self, kind: str | None = None) -> list[RunRecord]:
        """All runs (of ``kind`` when given), oldest first."""
        runs = _table(ExperimentRun)
        query = select(runs).order_by(runs.c.started_at, runs.c.id)
        if kind is not None:
            query = query.where(runs.c.kind == kind)
        return [RunRecord.from_row(row) for row in self._read(query)]

    # -- backtest results --------------------------------------------------------------------------------

    def add_backtest_results(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Insert result records in one transaction; return how many were new.

        A record whose ``cell_hash`` is already stored is skipped, so re-adding a result log is harmless.
        Each record's ``run_id`` must have been started with :meth:`start_run`.
        """
        rows = validate_rows("backtest_results", BACKTEST_FIELDS, records)
        if not rows:
            return 0
        results = _table(BacktestResult)
        statement = (
            self._insert(results)
            .on_conflict_do_nothing(index_elements=[results.c.cell_hash])
            .returning(results.c.cell_hash)
        )
        with self._writing("add_backtest_results") as connection:
            self._require_runs(connection, {row["run_id"] for row in rows}, "backtest_results")
            return len(connection.execute(statement, rows).all())

    def backtest_history(self, strategy: str, symbol: str, timeframe: str | None = None) -> pd.DataFrame:
        """Stored results for a strategy/symbol (and timeframe), oldest first, one row per cell."""
        results = _table(BacktestResult)
        query = select(results).where(results.c.strategy == strategy, results.c.symbol == symbol)
        if timeframe is not None:
            query = query.where(results.c.timeframe == timeframe)
        return self._frame(results, query.order_by(results.c.created_at, results.c.id))

    # -- optimization history ----------------------------------------------------------------------------

    def add_proposals(self, records: Iterable[Mapping[str, Any]]) -> list[int]:
        """Insert proposals (one per parameter); return their ids in the order given.

        ``delta_pct`` is computed from the current and proposed values when it is not given.
        """
        rows = [
            with_delta_pct(row) for row in validate_rows("optimization_history", PROPOSAL_FIELDS, records)
        ]
        if not rows:
            return []
        proposals = _table(OptimizationProposal)
        statement = proposals.insert().returning(proposals.c.id, sort_by_parameter_order=True)
        with self._writing("add_proposals") as connection:
            return [int(identity) for identity in connection.execute(statement, rows).scalars()]

    def set_proposal_outcome(
        self,
        outcome: str,
        *,
        ids: Iterable[int] | None = None,
        config_hash: str | None = None,
        proposal_hash: str | None = None,
        pr_url: str | None = None,
        pr_number: int | None = None,
        commit_sha: str | None = None,
        decided_at: datetime | None = None,
        only_from: Iterable[str] | None = None,
    ) -> int:
        """Set the outcome of the proposals with these ``ids``, ``config_hash`` or ``proposal_hash``.

        Exactly one selector is given. ``decided_at`` defaults to now; ``pr_url``, ``pr_number`` and
        ``commit_sha`` are kept when not given. With ``only_from``, only rows whose outcome is one of those
        change (``only_from=("proposed", "opened")`` never turns a merged row back into an opened one), and
        no matching row is not an error. Returns the number of rows changed.
        """
        checked = validate_row("optimization_history", (_OUTCOME,), {"outcome": outcome}, None)
        selectors = {"ids": ids, "config_hash": config_hash, "proposal_hash": proposal_hash}
        given = [name for name, value in selectors.items() if value is not None]
        if len(given) != 1:
            raise WarehouseError(
                "set_proposal_outcome: pass exactly one of ids=, config_hash= or proposal_hash="
            )
        proposals = _table(OptimizationProposal)
        id_list = None if ids is None else [int(identity) for identity in ids]
        selector: ColumnElement[bool]
        if id_list is not None:
            selector = proposals.c.id.in_(id_list)
        else:
            column = given[0]
            selector = proposals.c[column] == selectors[column]
        query = update(proposals).where(selector)
        if only_from is not None:
            query = query.where(proposals.c.outcome.in_(list(only_from)))
        decided = None if outcome == "proposed" else decided_at or utc_now()
        values: dict[str, Any] = {
            "outcome": checked["outcome"],
            "decided_at": None
            if decided is None
            else as_utc_datetime(decided, "optimization_history.decided_at"),
        }
        optional = {"pr_url": pr_url, "pr_number": pr_number, "commit_sha": commit_sha}
        values |= {name: value for name, value in optional.items() if value is not None}
        with self._writing("set_proposal_outcome") as connection:
            changed = connection.execute(query.values(**values)).rowcount
        if changed == 0 and only_from is None:
            target = f"ids {id_list}" if id_list is not None else f"{given[0]} {selectors[given[0]]!r}"
            raise WarehouseError(
                f"optimization_history: no proposal with {target}; list them with Warehouse.proposals()"
            )
        return int(changed)

    def proposals(
        self,
        strategy: str | None = None,
        symbol: str | None = None,
        *,
        timeframe: str | None = None,
        outcome: str | None = None,
        config_hash: str | None = None,
        proposal_hash: str | None = None,
    ) -> list[ProposalRecord]:
        """Proposals matching every filter given, oldest first."""
        proposals = _table(OptimizationProposal)
        query = select(proposals).order_by(proposals.c.created_at, proposals.c.id)
        filters = {
            "strategy": strategy,
            "symbol": symbol,
            "timeframe": timeframe,
            "outcome": outcome,
            "config_hash": config_hash,
            "proposal_hash": proposal_hash,
        }
        query = _where_equal(query, proposals, filters)
        return [ProposalRecord.from_row(row) for row in self._read(query)]

    # -- predictions, trades, regimes --------------------------------------------------------------------

    def add_predictions(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Insert prediction-performance rows; return how many."""
        return self._insert_rows(_table(PredictionPerformance), PREDICTION_FIELDS, records)

    def prediction_history(
        self, model: str | None = None, symbol: str | None = None, timeframe: str | None = None
    ) -> pd.DataFrame:
        table = _table(PredictionPerformance)
        query = _where_equal(select(table), table, {"model": model, "symbol": symbol, "timeframe": timeframe})
        return self._frame(table, query.order_by(table.c.ts, table.c.id))

    def add_trades(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Insert closed trades; return how many."""
        return self._insert_rows(_table(Trade), TRADE_FIELDS, records, check_trade)

    def trades(
        self,
        *,
        run_id: str | None = None,
        strategy: str | None = None,
        symbol: str | None = None,
        timeframe: str | None = None,
    ) -> pd.DataFrame:
        """Trades matching every filter given, by entry time."""
        table = _table(Trade)
        filters = {"run_id": run_id, "strategy": strategy, "symbol": symbol, "timeframe": timeframe}
        query = _where_equal(select(table), table, filters)
        return self._frame(table, query.order_by(table.c.entry_time, table.c.id))

    def add_regime_detections(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Insert regime detections; return how many."""
        return self._insert_rows(_table(RegimeDetection), REGIME_FIELDS, records, check_regime)

    def regime_history(self, symbol: str, timeframe: str | None = None) -> pd.DataFrame:
        """Regime detections for a symbol (and timeframe), by window end."""
        table = _table(RegimeDetection)
        query = _where_equal(select(table), table, {"symbol": symbol, "timeframe": timeframe})
        return self._frame(table, query.order_by(table.c.window_end, table.c.id))

    # -- rollouts ----------------------------------------------------------------------------------------

    def upsert_rollout(
        self,
        strategy: str,
        symbol: str,
        *,
        config_hash: str,
        stage: str,
        canary_fraction: float,
        status: str,
        reason: str | None = None,
        pr_number: int | None = None,
        at: datetime | None = None,
        previous_config_hash: str | None = None,
        stage_since: datetime | None = None,
    ) -> RolloutRecord:
        """Create or update the rollout of ``strategy``/``symbol``; return the stored state.

        ``started_at`` is kept while the ``config_hash`` stays the same and restarts when it changes.
        """
        now = at or utc_now()
        record = {
            "strategy": strategy,
            "symbol": symbol,
            "config_hash": config_hash,
            "stage": stage,
            "canary_fraction": canary_fraction,
            "status": status,
            "reason": reason,
            "pr_number": pr_number,
            "started_at": now,
            "updated_at": now,
            "previous_config_hash": previous_config_hash,
            "stage_since": stage_since,
        }
        row = validate_row("rollouts", ROLLOUT_FIELDS, record, None)
        table = _table(Rollout)
        insert = self._insert(table).values(**row)
        same_config = table.c.config_hash == insert.excluded.config_hash
        changes: dict[str, Any] = {
            name: insert.excluded[name] for name in row if name not in ("strategy", "symbol")
        }
        changes["started_at"] = case((same_config, table.c.started_at), else_=insert.excluded.started_at)
        upsert = insert.on_conflict_do_update(index_elements=[table.c.strategy, table.c.symbol], set_=changes)
        with self._writing("upsert_rollout") as connection:
            connection.execute(upsert)
            stored = (
                connection.execute(
                    select(table).where(table.c.strategy == strategy, table.c.symbol == symbol)
                )
                .mappings()
                .one()
            )
        return RolloutRecord.from_row(stored)

    def rollouts(self, strategy: str | None = None, symbol: str | None = None) -> list[RolloutRecord]:
        """Rollout states matching the filters, by strategy and symbol."""
        table = _table(Rollout)
        query = _where_equal(select(table), table, {"strategy": strategy, "symbol": symbol})
        rows = self._read(query.order_by(table.c.strategy, table.c.symbol))
        return [RolloutRecord.from_row(row) for row in rows]

    # -- deployment evidence -----------------------------------------------------------------------------

    def add_evidence_trades(self, records: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
        """Insert the bot's closed trades (each with a ``trade_id``); return ``(new, already stored)``.

        A trade whose ``trade_id`` is stored already is skipped, so ingesting a file twice adds nothing.
        """
        rows = validate_rows("trades", TRADE_FIELDS, records)
        for index, row in enumerate(rows):
            check_trade(row, index)
            if row["trade_id"] is None or row["mode"] is None or row["config_hash"] is None:
                raise WarehouseError(
                    f"trades (row {index}): trade_id, config_hash and mode are required for the bot's trades"
                )
        if not rows:
            return 0, 0
        table = _table(Trade)
        statement = (
            self._insert(table)
            .on_conflict_do_nothing(index_elements=[table.c.trade_id])
            .returning(table.c.trade_id)
        )
        with self._writing("add_evidence_trades") as connection:
            added = len(connection.execute(statement, rows).all())
        return added, len(rows) - added

    def trades_by_id(self, trade_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored trades with these ids, by id (plain column dicts)."""
        table = _table(Trade)
        wanted = sorted(set(trade_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            for row in self._read(select(table).where(table.c.trade_id.in_(chunk))):
                found[str(row["trade_id"])] = dict(row)
        return found

    def add_equity(self, records: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
        """Insert equity points; return ``(new, already stored)`` (a stored point is skipped)."""
        rows = validate_rows("equity", EQUITY_FIELDS, records)
        if not rows:
            return 0, 0
        table = _table(Equity)
        keys = [table.c.strategy, table.c.symbol, table.c.config_hash, table.c.mode, table.c.ts]
        statement = self._insert(table).on_conflict_do_nothing(index_elements=keys).returning(table.c.id)
        with self._writing("add_equity") as connection:
            added = len(connection.execute(statement, rows).all())
        return added, len(rows) - added

    def equity_points(
        self, strategy: str, symbol: str, config_hash: str, mode: str,
        *, start: datetime | None = None, end: datetime | None = None,
    ) -> list[tuple[datetime, float]]:  # fmt: skip
        """``(time, equity)`` of one parameter set in ``(start, end]``, by time."""
        table = _table(Equity)
        query = select(table.c.ts, table.c.equity_usd).where(
            table.c.strategy == strategy,
            table.c.symbol == symbol,
            table.c.config_hash == config_hash,
            table.c.mode == mode,
        )
        if start is not None:
            query = query.where(table.c.ts > as_utc_datetime(start, "equity.ts"))
        if end is not None:
            query = query.where(table.c.ts <= as_utc_datetime(end, "equity.ts"))
        return [(row["ts"], float(row["equity_usd"])) for row in self._read(query.order_by(table.c.ts))]

    def trade_pnls(
        self, strategy: str, symbol: str, config_hash: str, mode: str,
        *, start: datetime | None = None, end: datetime | None = None,
    ) -> list[float]:  # fmt: skip
        """The PnL (USD) of one parameter set's trades closed in ``(start, end]``, by exit time."""
        table = _table(Trade)
        query = select(table.c.pnl).where(
            table.c.strategy == strategy,
            table.c.symbol == symbol,
            table.c.config_hash == config_hash,
            table.c.mode == mode,
        )
        if start is not None:
            query = query.where(table.c.exit_time > as_utc_datetime(start, "trades.exit_time"))
        if end is not None:
            query = query.where(table.c.exit_time <= as_utc_datetime(end, "trades.exit_time"))
        rows = self._read(query.order_by(table.c.exit_time, table.c.id))
        return [float(row["pnl"]) for row in rows]

    def add_checks(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Insert the checks of canary analyses (one row per check); return how many."""
        return self._insert_rows(_table(RolloutCheck), CHECK_FIELDS, records)

    def rollout_checks(
        self,
        strategy: str | None = None,
        symbol: str | None = None,
        *,
        config_hash: str | None = None,
        stage: str | None = None,
        analysis_id: str | None = None,
    ) -> list[CheckRecord]:
        """Stored checks matching every filter given, by time of the analysis."""
        table = _table(RolloutCheck)
        filters = {"strategy": strategy, "symbol": symbol, "config_hash": config_hash, "stage": stage,
                   "analysis_id": analysis_id}  # fmt: skip
        query = _where_equal(select(table), table, filters).order_by(table.c.checked_at, table.c.id)
        return [CheckRecord.from_row(row) for row in self._read(query)]

    def analyses(
        self, strategy: str, symbol: str, config_hash: str, stage: str, *, since: datetime | None = None
    ) -> list[AnalysisRecord]:
        """The canary analyses of one rollout in one stage (checked after ``since``), oldest first."""
        table = _table(RolloutCheck)
        columns = [table.c.analysis_id, table.c.interval_index, table.c.checked_at, table.c.analysis_outcome,
                   table.c.decision, table.c.failed_checks, table.c.reason]  # fmt: skip
        query = (
            select(*columns)
            .distinct()
            .where(
                table.c.strategy == strategy,
                table.c.symbol == symbol,
                table.c.config_hash == config_hash,
                table.c.stage == stage,
            )
        )
        if since is not None:
            query = query.where(table.c.checked_at >= as_utc_datetime(since, "rollout_checks.checked_at"))
        rows = self._read(query)
        records = [AnalysisRecord.from_row(row) for row in rows]
        return sorted(records, key=lambda record: (record.checked_at, record.interval_index))

    # -- plumbing ----------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self, action: str) -> Iterator[Connection]:
        """A connection in a write transaction; database errors become ``WarehouseError``."""
        with self._translating(action), self._engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                yield connection

    @contextlib.contextmanager
    def _translating(self, action: str) -> Iterator[None]:
        try:
            yield
        except StatementError as exc:
            if isinstance(exc.orig, TradeloopError):
                raise exc.orig from None
            raise self._database_error(action, exc) from exc
        except SQLAlchemyError as exc:
            raise self._database_error(action, exc) from exc

    def _database_error(self, action: str, exc: SQLAlchemyError) -> WarehouseError:
        orig = getattr(exc, "orig", None)
        reason = str(orig if orig is not None else exc).strip().splitlines()
        password = self._engine.url.password
        line = reason[0] if reason else type(exc).__name__
        line = mask_secrets(line, [None if password is None else str(password)])
        fix = write_fault_fix(line)
        return WarehouseError(f"warehouse {self.url}: {action} failed: {line}" + (f"; {fix}" if fix else ""))

    def _read(self, query: Select[Any]) -> list[RowMapping]:
        with self._translating("read"), self._engine.connect() as connection:
            return list(connection.execute(query).mappings().all())

    def _frame(self, table: Table, query: Select[Any]) -> pd.DataFrame:
        frame = pd.DataFrame(
            [dict(row) for row in self._read(query)], columns=[c.name for c in table.columns]
        )
        for column in table.columns:
            if isinstance(column.type, UTCDateTime):
                frame[column.name] = pd.to_datetime(frame[column.name], utc=True)
        return frame

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        if self.backend == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _insert_rows(
        self,
        table: Table,
        fields: tuple[Field, ...],
        records: Iterable[Mapping[str, Any]],
        check: Callable[[Mapping[str, Any], int], None] | None = None,
    ) -> int:
        rows = validate_rows(table.name, fields, records)
        if check is not None:
            for index, row in enumerate(rows):
                check(row, index)
        if not rows:
            return 0
        with self._writing(f"insert into {table.name}") as connection:
            connection.execute(table.insert(), rows)
        return len(rows)

    def _require_runs(self, connection: Connection, run_ids: set[str], table: str) -> None:
        runs = _table(ExperimentRun)
        known = set(connection.execute(select(runs.c.run_id).where(runs.c.run_id.in_(run_ids))).scalars())
        missing = sorted(run_ids - known)
        if missing:
            raise WarehouseError(
                f"{table}.run_id {missing[0]!r} has no experiment_runs row; "
                "record the run with Warehouse.start_run before adding its results"
            )


def get_warehouse(
    url_or_settings: str | URL | Settings | Warehouse | Engine | None = None, **engine_kwargs: Any
) -> Warehouse:
    """Open the warehouse, Optuna-style: from a URL, ``Settings``, an ``Engine``, or the environment.

    ``None`` reads :meth:`tradeloop.Settings.from_env`: ``TRADELOOP_DB_URL`` when set, else SQLite at
    ``<TRADELOOP_HOME>/warehouse.db`` (the directory is created). A ``Warehouse`` is returned as is.
    """
    if isinstance(url_or_settings, Warehouse):
        return url_or_settings
    if url_or_settings is None:
        url_or_settings = Settings.from_env()
    if isinstance(url_or_settings, Settings):
        url_or_settings = url_or_settings.warehouse_url
    return Warehouse(url_or_settings, **engine_kwargs)


def _unknown_run(table: str, run_id: str) -> WarehouseError:
    return WarehouseError(f"{table}: no run with run_id {run_id!r}; start it with Warehouse.start_run first")


def _where_equal(query: Select[Any], table: Table, filters: Mapping[str, Any]) -> Select[Any]:
    for name, value in filters.items():
        if value is not None:
            query = query.where(table.c[name] == value)
    return query
