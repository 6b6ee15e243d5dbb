"""The nightly matrix definition (``backtest_matrix/matrix.yaml``): parsed and fully validated up front.

Every check runs before any backtest does: an unknown key or strategy, a bad timeframe or window, a
parameter outside its hard bounds or a value of the wrong type raises :class:`~tradeloop.errors.SettingsError`
naming the file, the key path and the value. Parsing only reads; it never writes anything.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from backtest_matrix.data import format_timeframe, parse_timeframe, resolve_source
from backtest_matrix.strategies import Strategy, get_strategy, strategy_names, unknown_name_message
from tradeloop.errors import DataSourceError, SettingsError, StrategyError

__all__ = [
    "DEFAULT_MATRIX_PATH",
    "LiveParams",
    "MatrixCell",
    "MatrixSpec",
    "NeighbourhoodSpec",
    "WindowSpec",
    "load_matrix_spec",
    "parse_matrix_spec",
]

#: The product's default matrix definition, shipped next to this package.
DEFAULT_MATRIX_PATH = Path(__file__).resolve().parent.parent / "matrix.yaml"

#: strategy → symbol → parameters, as ``gitops.load_constants(path).live_params`` returns them.
LiveParams = Mapping[str, Mapping[str, Mapping[str, object]]]

_TOP_LEVEL_KEYS = ("symbols", "strategies", "timeframes", "windows", "neighbourhood", "parameters")
_REQUIRED_KEYS = ("symbols", "strategies", "timeframes", "windows")
_NEIGHBOURHOOD_KEYS = ("samples", "seed")
_DEFAULT_SAMPLES = 8
_DEFAULT_SEED = 7
#: Keys of a live-parameter entry that are not strategy parameters.
_LIVE_META_KEYS = frozenset({"timeframe"})
_WINDOW = re.compile(r"^([0-9]+)d$")


@dataclass(frozen=True)
class WindowSpec:
    """One rolling window of the matrix.

    Attributes
    ----------
    name
        As written in the file: ``"30d"`` or ``"full"``.
    days
        The length in days, or ``None`` for the full history.
    """

    name: str
    days: int | None


@dataclass(frozen=True)
class NeighbourhoodSpec:
    """The seeded sample of parameter sets around each base set, within the per-cycle caps.

    Attributes
    ----------
    samples
        Parameter sets drawn per (strategy, symbol) in addition to the base set; 0 tests the base set only.
    seed
        Seed of the draw, so the same file gives the same matrix every night.
    """

    samples: int = _DEFAULT_SAMPLES
    seed: int = _DEFAULT_SEED


@dataclass(frozen=True)
class MatrixCell:
    """One (strategy, symbol, timeframe, window) combination; parameter sets are a further axis."""

    strategy: str
    symbol: str
    source: str
    timeframe: str
    window: WindowSpec


@dataclass(frozen=True)
class MatrixSpec:
    """A validated matrix definition.

    Attributes
    ----------
    sources
        symbol → data source spec (``"sp500"``, ``"nasdaq"``, ``"synthetic"`` or a file path).
    strategies
        strategy → the symbols it runs on (the file's list plus its live symbols), in file order.
    timeframes
        Canonical timeframe strings (``"60m"`` becomes ``"1h"``), in file order.
    windows
        The rolling windows, in file order.
    neighbourhood
        Size and seed of the neighbourhood sample.
    base_params
        strategy → symbol → the resolved base parameter set: strategy defaults, overlaid with the file's
        ``parameters`` section, overlaid with the live parameters where the pair is live.
    live
        The (strategy, symbol) pairs that are live in ``config/constants.py``.
    source
        Where the definition came from (for messages).
    live_timeframes
        (strategy, symbol) → the bar timeframe a live pair trades at. A live pair is backtested at it;
        the file's ``timeframes`` apply to it too only when the file lists the pair under ``strategies``
        (a pair that joins only because it is live is not resampled to timeframes it does not trade).
    listed
        The (strategy, symbol) pairs the file lists under ``strategies``.
    """

    sources: Mapping[str, str]
    strategies: Mapping[str, tuple[str, ...]]
    timeframes: tuple[str, ...]
    windows: tuple[WindowSpec, ...]
    neighbourhood: NeighbourhoodSpec
    base_params: Mapping[str, Mapping[str, Mapping[str, float]]]
    live: frozenset[tuple[str, str]]
    source: str = "matrix.yaml"
    live_timeframes: Mapping[tuple[str, str], str] = field(default_factory=dict)
    listed: frozenset[tuple[str, str]] | None = None

    def cells(self) -> Iterator[MatrixCell]:
        """Every (strategy, symbol, timeframe, window) combination, in file order."""
        for strategy, symbols in self.strategies.items():
            for symbol in symbols:
                for timeframe in self.pair_timeframes(strategy, symbol):
                    for window in self.windows:
                        yield MatrixCell(strategy, symbol, self.sources[symbol], timeframe, window)

    def pair_timeframes(self, strategy: str, symbol: str) -> tuple[str, ...]:
        """The timeframes ``strategy`` is backtested at on ``symbol`` (see ``live_timeframes``)."""
        pair = (strategy, symbol)
        listed = self.listed is None or pair in self.listed
        file_timeframes = self.timeframes if listed else ()
        live = self.live_timeframes.get(pair)
        if live is None or live in file_timeframes:
            return file_timeframes
        return (*file_timeframes, live)

    def is_live(self, strategy: str, symbol: str) -> bool:
        """Whether ``strategy`` trades ``symbol`` live."""
        return (strategy, symbol) in self.live

    @property
    def cell_count(self) -> int:
        """How many backtests the matrix holds, counted without building any of them."""
        pairs = sum(len(symbols) for symbols in self.strategies.values())
        return pairs * len(self.timeframes) * len(self.windows) * (1 + self.neighbourhood.samples)


def load_matrix_spec(
    path: Path | str = DEFAULT_MATRIX_PATH, *, live_params: LiveParams | None = None
) -> MatrixSpec:
    """Read and validate a matrix definition file.

    Parameters
    ----------
    path
        The YAML file; the shipped default when omitted.
    live_params
        strategy → symbol → parameters of the live bot (``gitops.load_constants(path).live_params``); the
        live pairs join the matrix and their parameters become its base sets. ``None``: no live pairs.

    Returns
    -------
    MatrixSpec

    Raises
    ------
    SettingsError
        When the file cannot be read or any value in it is invalid.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path}: cannot read the matrix definition: {error}") from None
    return parse_matrix_spec(text, source=str(path), live_params=live_params)


def parse_matrix_spec(
    text: str, *, source: str = "matrix.yaml", live_params: LiveParams | None = None
) -> MatrixSpec:
    """Parse and validate the text of a matrix definition (see :func:`load_matrix_spec`).

    Parameters
    ----------
    text
        The YAML text.
    source
        The name used in error messages, usually the file path.
    live_params
        As for :func:`load_matrix_spec`.

    Returns
    -------
    MatrixSpec

    Raises
    ------
    SettingsError
        Naming ``source``, the key path and the bad value (or the line, for YAML that does not parse).
    """
    return _Parser(source).parse(_load_yaml(text, source), live_params)


# -- YAML ------------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that rejects duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = " ".join(part for part in (error.context, error.problem) if part)
        raise SettingsError(f"{where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise SettingsError(f"{source}: not valid YAML: {error}") from None


# -- validation ------------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, message: str) -> SettingsError:
        return SettingsError(f"{self.source}: {message}")

    def mapping(self, value: object, path: str, shape: str) -> dict[Any, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"{path} must be a mapping {shape}, got {value!r}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(f"{path} keys must be strings, got {key!r} (quote it in the YAML)")
        return value

    def string_list(self, value: object, path: str, example: str) -> list[str]:
        if not isinstance(value, list) or not value:
            raise self.fail(f"{path} must be a non-empty list like {example}, got {value!r}")
        seen: set[str] = set()
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{path}[{index}] must be a string like {example}, got {item!r}")
            if item in seen:
                raise self.fail(f"{path}[{index}] repeats {item!r}")
            seen.add(item)
        return value

    def parse(self, document: object, live_params: LiveParams | None) -> MatrixSpec:
        if document is None:
            raise self.fail(f"is empty; it needs the keys {', '.join(_REQUIRED_KEYS)}")
        top = self.mapping(document, "the top level", "{symbols: ..., strategies: ..., ...}")
        for key in top:
            if key not in _TOP_LEVEL_KEYS:
                raise self.fail(
                    f"unknown key {key!r}.{_did_you_mean(key, list(_TOP_LEVEL_KEYS))} "
                    f"Known: {', '.join(_TOP_LEVEL_KEYS)}"
                )
        for key in _REQUIRED_KEYS:
            if key not in top:
                raise self.fail(f"the key {key!r} is missing")

        sources = self.sources(top["symbols"])
        strategies = self.strategies(top["strategies"], sources)
        timeframes = self.timeframes(top["timeframes"])
        windows = self.windows(top["windows"])
        neighbourhood = self.neighbourhood(top.get("neighbourhood", {}))
        overrides = self.overrides(top.get("parameters", {}))
        listed = frozenset((name, symbol) for name, symbols in strategies.items() for symbol in symbols)
        live = self.live(live_params, strategies, sources)
        base_params: dict[str, Mapping[str, Mapping[str, float]]] = {}
        for name, symbols in strategies.items():
            per_symbol: dict[str, Mapping[str, float]] = {}
            for symbol in symbols:
                values: dict[str, object] = dict(overrides.get(name, {}))
                where = f"{self.source}: parameters.{name}"
                if (name, symbol) in live and live_params is not None:
                    values.update(_strategy_params(live_params[name][symbol]))
                    where = f"{self.source}: live_params.{name}.{symbol}"
                try:
                    resolved = get_strategy(name).resolve(values, where=where)
                except StrategyError as error:
                    raise SettingsError(str(error)) from None
                per_symbol[symbol] = MappingProxyType(resolved)
            base_params[name] = MappingProxyType(per_symbol)
        return MatrixSpec(
            sources=MappingProxyType(sources),
            strategies=MappingProxyType({name: tuple(symbols) for name, symbols in strategies.items()}),
            timeframes=timeframes,
            windows=windows,
            neighbourhood=neighbourhood,
            base_params=MappingProxyType(base_params),
            live=frozenset(live),
            source=self.source,
            live_timeframes=MappingProxyType(_live_timeframes(live_params, live, timeframes)),
            listed=listed,
        )

    def sources(self, value: object) -> dict[str, str]:
        symbols = self.mapping(value, "symbols", "{SYMBOL: data source}, e.g. {SP500: sp500}")
        if not symbols:
            raise self.fail("symbols must name at least one symbol, e.g. {SP500: sp500}")
        for symbol, spec in symbols.items():
            if not isinstance(spec, str):
                raise self.fail(f"symbols.{symbol} must be a data source name like 'sp500', got {spec!r}")
            try:
                resolve_source(spec)
            except DataSourceError as error:
                raise self.fail(f"symbols.{symbol}: {error}") from None
        return dict(symbols)

    def strategies(self, value: object, sources: Mapping[str, str]) -> dict[str, list[str]]:
        table = self.mapping(value, "strategies", "{strategy: [SYMBOL, ...]}")
        known = strategy_names()
        result: dict[str, list[str]] = {}
        for name, symbols in table.items():
            path = f"strategies.{name}"
            if name not in known:
                raise SettingsError(unknown_name_message(f"{self.source}: {path}", "strategy", name, known))
            listed = self.string_list(symbols, path, "[SP500, NASDAQ]")
            for index, symbol in enumerate(listed):
                if symbol not in sources:
                    raise self.fail(
                        f"{path}[{index}] is {symbol!r}, which has no data source in symbols."
                        f"{_did_you_mean(symbol, list(sources))} Add it to symbols, e.g. {symbol}: synthetic"
                    )
            result[name] = list(listed)
        return result

    def timeframes(self, value: object) -> tuple[str, ...]:
        listed = self.string_list(value, "timeframes", "[1h, 1d]")
        canonical: list[str] = []
        for index, text in enumerate(listed):
            try:
                timeframe = format_timeframe(parse_timeframe(text))
            except DataSourceError as error:
                raise self.fail(f"timeframes[{index}]: {error}") from None
            if timeframe in canonical:
                raise self.fail(f"timeframes[{index}] {text!r} repeats {timeframe!r}")
            canonical.append(timeframe)
        return tuple(canonical)

    def windows(self, value: object) -> tuple[WindowSpec, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(f"windows must be a non-empty list like [30d, 90d, 365d, full], got {value!r}")
        windows: list[WindowSpec] = []
        for index, item in enumerate(value):
            match = _WINDOW.match(item) if isinstance(item, str) else None
            if item == "full":
                window = WindowSpec("full", None)
            elif match is not None and int(match.group(1)) > 0:
                window = WindowSpec(item, int(match.group(1)))
            else:
                raise self.fail(f"windows[{index}] must be a number of days like 30d or 'full', got {item!r}")
            if window in windows:
                raise self.fail(f"windows[{index}] repeats {item!r}")
            windows.append(window)
        return tuple(windows)

    def neighbourhood(self, value: object) -> NeighbourhoodSpec:
        table = self.mapping(value, "neighbourhood", "{samples: 8, seed: 7}")
        for key in table:
            if key not in _NEIGHBOURHOOD_KEYS:
                raise self.fail(
                    f"neighbourhood: unknown key {key!r}.{_did_you_mean(key, list(_NEIGHBOURHOOD_KEYS))} "
                    f"Known: {', '.join(_NEIGHBOURHOOD_KEYS)}"
                )
        samples = table.get("samples", _DEFAULT_SAMPLES)
        seed = table.get("seed", _DEFAULT_SEED)
        if not _is_int(samples) or samples < 0:
            raise self.fail(f"neighbourhood.samples must be a whole number >= 0, got {samples!r}")
        if not _is_int(seed) or seed < 0:
            raise self.fail(f"neighbourhood.seed must be a whole number >= 0, got {seed!r}")
        return NeighbourhoodSpec(samples=samples, seed=seed)

    def overrides(self, value: object) -> dict[str, dict[str, float]]:
        table = self.mapping(value, "parameters", "{strategy: {parameter: value}}")
        known = strategy_names()
        result: dict[str, dict[str, float]] = {}
        for name, params in table.items():
            path = f"parameters.{name}"
            if name not in known:
                raise SettingsError(unknown_name_message(f"{self.source}: {path}", "strategy", name, known))
            strategy = get_strategy(name)
            entries = self.mapping(params, path, "{parameter: value}")
            by_name = {param.name: param for param in strategy.space()}
            for key, number in entries.items():
                param = by_name.get(key)
                if param is None:
                    raise self.fail(
                        f"{path}.{key}: unknown parameter of {name}.{_did_you_mean(key, list(by_name))} "
                        f"Known: {', '.join(sorted(by_name))}"
                    )
                if (_is_int(number) or isinstance(number, float)) and not param.low <= number <= param.high:
                    raise self.fail(f"{path}.{key} = {number!r} is outside [{param.low:g}, {param.high:g}]")
                try:
                    param.coerce(number, where="")
                except StrategyError as error:
                    detail = str(error).removeprefix(": ")
                    raise self.fail(f"{path}.{key} = {number!r} is invalid: {detail}") from None
            self.resolve(strategy, entries, path)
            result[name] = dict(entries)
        return result

    def resolve(self, strategy: type[Strategy], values: Mapping[str, object], path: str) -> None:
        try:
            strategy.resolve(values, where=f"{self.source}: {path}")
        except StrategyError as error:
            raise SettingsError(str(error)) from None

    def live(
        self,
        live_params: LiveParams | None,
        strategies: dict[str, list[str]],
        sources: Mapping[str, str],
    ) -> set[tuple[str, str]]:
        """Add the live pairs to ``strategies`` (in place) and return them."""
        pairs: set[tuple[str, str]] = set()
        known = strategy_names()
        for name, per_symbol in (live_params or {}).items():
            if name not in known:
                where = f"{self.source}: live_params.{name}"
                raise SettingsError(unknown_name_message(where, "strategy", name, known))
            for symbol in per_symbol:
                if symbol not in sources:
                    raise self.fail(
                        f"live_params.{name}.{symbol}: the live symbol {symbol!r} has no data source; "
                        f"add it to symbols, e.g. {symbol}: synthetic"
                    )
                listed = strategies.setdefault(name, [])
                if symbol not in listed:
                    listed.append(symbol)
                pairs.add((name, symbol))
        if not strategies:
            raise self.fail("strategies is empty and nothing is live; list at least one strategy")
        return pairs


def _live_timeframes(
    live_params: LiveParams | None, live: set[tuple[str, str]], fallback: tuple[str, ...]
) -> dict[tuple[str, str], str]:
    """The canonical timeframe of every live pair (the file's first timeframe when an entry names none)."""
    timeframes: dict[tuple[str, str], str] = {}
    for strategy, symbol in live:
        entry = (live_params or {})[strategy][symbol]
        raw = entry.get("timeframe")
        try:
            timeframes[(strategy, symbol)] = (
                format_timeframe(parse_timeframe(str(raw))) if raw else fallback[0]
            )
        except DataSourceError as error:
            raise SettingsError(
                f"config/constants.py: LIVE_PARAMS.{strategy}.{symbol}.timeframe: {error}"
            ) from None
    return timeframes


def _strategy_params(entry: Mapping[str, object]) -> dict[str, object]:
    return {key: value for key, value in entry.items() if key not in _LIVE_META_KEYS}
