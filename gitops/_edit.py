"""Precise edits of ``config/constants.py``: only the changed literals move, every other byte stays.

:func:`save_constants` renders the whole file; a pull request should instead show exactly the values that
changed. :func:`edit_constants_text` finds each literal's source span with ``ast`` (line, column and end
column) and splices in the new value, laid out like :mod:`gitops._literal_format` lays out the whole file:

- an existing value is replaced in its exact span (a scalar stays on its line);
- a mapping given for an existing dict is merged into it key by key (nothing is ever deleted);
- a new key goes into its dict on a line of its own, at the dict's item indentation, in sorted position
  (``timeframe`` first) when the dict's keys are sorted and at the end otherwise; a dict laid out on one
  line (such as ``{}``) is re-laid out as a whole;
- a missing optional constant (``REGIME_LOADOUTS``) is appended with its spec comment.

The provenance header comment lines and the ``PROVENANCE`` literal are refreshed. The result is validated
with :func:`gitops.parse_constants` and every change is read back before it is returned.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Mapping
from typing import Any

from gitops._checks import value_kind
from gitops._constants import CONSTANTS_FILE, parse_constants
from gitops._constants_render import _comment, _printable
from gitops._constants_spec import CONSTANT_SPECS
from gitops._literal_format import format_assignment, format_lines, format_literal
from tradeloop import Provenance
from tradeloop.errors import StateFileError

__all__ = ["KeyPath", "edit_constants_text"]

KeyPath = tuple[str, ...]
_MANAGED = frozenset({"SCHEMA_VERSION", "PROVENANCE"})
_HEADER_LABELS = {"run_id": "run id:", "git_sha": "git sha:", "written_at": "written at:"}
_ITEM_INDENT = 4


class _EditError(Exception):
    """An edit that cannot be made; turned into a StateFileError naming the key path and value."""


def edit_constants_text(
    text: str,
    changes: Mapping[KeyPath, Any],
    *,
    provenance: Provenance,
    file_name: str = CONSTANTS_FILE.as_posix(),
) -> str:
    """``text`` with each key path set to its value and the provenance refreshed; nothing else moves.

    Parameters
    ----------
    text
        The current, valid source of ``config/constants.py``.
    changes
        Key path → value, e.g. ``("LIVE_PARAMS", "ema_cross", "SP500", "ema_fast"): 13``. The first
        element names the constant. A mapping value is merged into an existing dict; a path into a
        missing dict creates the nested dicts (e.g. a new regime loadout).
    provenance
        The run id, git sha and time written to the header comment and to ``PROVENANCE``.
    file_name
        The name used in messages.

    Returns
    -------
    str
        The edited source; it parses, validates, and reads back every changed value.

    Raises
    ------
    tradeloop.errors.StateFileError
        ``text`` is invalid, a key path is malformed, names ``SCHEMA_VERSION``/``PROVENANCE`` or runs
        through a non-dict, a value cannot be written as a literal, or the edited file would not validate.
        The message names the key path and the value.
    """
    parse_constants(text, file_name)
    edited = text
    for path, value in changes.items():
        _check_path(path, value, file_name)
        try:
            edited = _set(edited, path, value)
        except (_EditError, TypeError) as exc:
            raise _failure(file_name, path, value, str(exc)) from exc
    for key, label in _HEADER_LABELS.items():
        value = getattr(provenance, key)
        edited = _set(edited, ("PROVENANCE", key), value)
        edited = _refresh_header_line(edited, label, value)
    _validate(edited, changes, file_name)
    return edited


def _failure(file_name: str, path: KeyPath, value: Any, reason: str) -> StateFileError:
    return StateFileError(f"{file_name}: cannot set {'.'.join(map(str, path))} = {value!r}: {reason}")


def _check_path(path: KeyPath, value: Any, file_name: str) -> None:
    if not isinstance(path, tuple) or not path or not all(isinstance(key, str) and key for key in path):
        raise _failure(
            file_name, tuple(map(str, path)), value, "a key path is a non-empty tuple of non-empty strings"
        )
    if path[0] not in CONSTANT_SPECS:
        raise _failure(file_name, path, value, f"{path[0]} is not a constant of the spec")
    if path[0] in _MANAGED:
        raise _failure(file_name, path, value, f"{path[0]} is managed by the writer; pass provenance=")


def _validate(edited: str, changes: Mapping[KeyPath, Any], file_name: str) -> None:
    try:
        constants = parse_constants(edited, file_name)
    except StateFileError as exc:
        path, value = next(iter(changes.items()), (("PROVENANCE",), None))
        raise _failure(file_name, path, value, f"the edited file would be invalid: {exc}") from exc
    values = constants.constants()
    for path, value in changes.items():
        read = _lookup(values, path)
        if not _same(read, value):
            raise _failure(file_name, path, value, f"the edited file reads back {read!r}")


def _lookup(values: Mapping[str, Any], path: KeyPath) -> Any:
    node: Any = values
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _same(read: Any, expected: Any) -> bool:
    if isinstance(expected, Mapping):
        return isinstance(read, Mapping) and all(
            key in read and _same(read[key], item) for key, item in expected.items()
        )
    return read == expected and value_kind(read) == value_kind(expected)


# Locating nodes ----------------------------------------------------------------------------------------


def _set(text: str, path: KeyPath, value: Any) -> str:
    module = ast.parse(text)
    assignment = _assignment(module, path[0])
    if assignment is None:
        return _append_constant(text, path[0], _nest(path[1:], value))
    node = assignment
    for depth in range(1, len(path)):
        if not isinstance(node, ast.Dict):
            raise _EditError(f"{'.'.join(path[:depth])} is not a dict")
        child = _dict_value(node, path[depth])
        if child is None:
            return _insert_key(text, node, path[depth], _nest(path[depth + 1 :], value))
        node = child
    if isinstance(value, Mapping) and isinstance(node, ast.Dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _EditError(f"dict keys must be strings, got {key!r}")
            text = _set(text, (*path, key), item)
        return text
    if _holds(node, value):
        return text
    return _replace(text, node, value)


def _holds(node: ast.expr, value: Any) -> bool:
    """Whether ``node`` already is the literal ``value`` (same kind), so that its text stays as it is."""
    try:
        current = ast.literal_eval(node)
    except ValueError:
        return False
    return _same(current, value) and (not isinstance(value, Mapping) or len(current) == len(value))


def _assignment(module: ast.Module, name: str) -> ast.expr | None:
    for statement in module.body:
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.target.id == name
            and statement.value is not None
        ):
            return statement.value
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name) and target.id == name:
                return statement.value
    return None


def _dict_value(node: ast.Dict, key: str) -> ast.expr | None:
    for key_node, value_node in zip(node.keys, node.values, strict=True):
        if isinstance(key_node, ast.Constant) and key_node.value == key:
            return value_node
    return None


def _nest(keys: KeyPath, value: Any) -> Any:
    for key in reversed(keys):
        value = {key: value}
    return value


# Source positions (ast columns are UTF-8 byte offsets) ---------------------------------------------------


class _Source:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8"))

    def line_start(self, lineno: int) -> int:
        return self.starts[lineno - 1]

    def line_end(self, lineno: int) -> int:
        """The offset of the line's end, before its line break."""
        return self.starts[lineno - 1] + len(self.lines[lineno - 1].rstrip("\r\n"))

    def indent(self, lineno: int) -> int:
        line = self.lines[lineno - 1]
        return len(line) - len(line.lstrip(" "))

    def starts_line(self, node: ast.expr) -> bool:
        """Whether ``node`` is the first thing on its line."""
        start = self.offset(node.lineno, node.col_offset)
        return not self.text[self.line_start(node.lineno) : start].strip()


def _start(source: _Source, node: ast.expr) -> int:
    return source.offset(node.lineno, node.col_offset)


def _end(source: _Source, node: ast.expr) -> int:
    assert node.end_lineno is not None and node.end_col_offset is not None
    return source.offset(node.end_lineno, node.end_col_offset)


# Edits -------------------------------------------------------------------------------------------------


def _replace(text: str, node: ast.expr, value: Any) -> str:
    """``node``'s span replaced by ``value``: in place for a scalar, re-laid out lines for a container."""
    source = _Source(text)
    if not isinstance(value, Mapping | list | tuple):
        return text[: _start(source, node)] + format_literal(value) + text[_end(source, node) :]
    return _relayout(source, node, value)


def _relayout(source: _Source, node: ast.expr, value: Any) -> str:
    """Lay out ``value`` in place of ``node``, keeping the text before and after it on its lines."""
    assert node.end_lineno is not None
    if _has_comment(source.text[_start(source, node) : _end(source, node)]):
        raise _EditError(
            f"the literal at line {node.lineno} holds comments that a re-layout would lose; "
            "lay the dict out one item per line with its closing brace on its own line"
        )
    first = source.line_start(node.lineno)
    last = source.line_end(node.end_lineno)
    prefix = source.text[first : _start(source, node)]
    suffix = source.text[_end(source, node) : last]
    indent = source.indent(node.lineno)
    lines = format_lines(value, indent=indent, head=prefix[indent:], tail=suffix)
    return source.text[:first] + "\n".join(lines) + source.text[last:]


def _has_comment(code: str) -> bool:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return "#" in code
    return any(token.type == tokenize.COMMENT for token in tokens)


def _insert_key(text: str, node: ast.Dict, key: str, value: Any) -> str:
    source = _Source(text)
    if not _one_item_per_line(source, node):
        merged = {**ast.literal_eval(node), key: value}
        return _relayout(
            source, node, _ordered(merged) if _is_sorted(list(ast.literal_eval(node))) else merged
        )
    assert node.end_lineno is not None
    keys = [key_node for key_node in node.keys if isinstance(key_node, ast.Constant)]
    item_indent = source.indent(keys[0].lineno) if keys else source.indent(node.end_lineno) + _ITEM_INDENT
    item = "\n".join(format_lines(value, indent=item_indent, head=f"{format_literal(key)}: ", tail=","))
    before = _following_key(source, node, key)
    if before is not None:
        at = source.line_start(_first_comment_line(source, before.lineno))
        return text[:at] + item + "\n" + text[at:]
    text = _ensure_trailing_comma(source, node)
    source = _Source(text)
    at = source.line_start(node.end_lineno)
    return text[:at] + item + "\n" + text[at:]


def _one_item_per_line(source: _Source, node: ast.Dict) -> bool:
    """Opening brace ends its line, every key starts a line, and the closing brace starts its line."""
    assert node.end_lineno is not None
    if node.lineno == node.end_lineno:
        return False
    closing = source.offset(node.end_lineno, node.end_col_offset or 0) - 1
    if source.text[source.line_start(node.end_lineno) : closing].strip():
        return False
    return all(key is not None and source.starts_line(key) for key in node.keys)


def _sort_key(key: object) -> tuple[bool, str]:
    return key != "timeframe", str(key)


def _is_sorted(keys: list[Any]) -> bool:
    return keys == sorted(keys, key=_sort_key)


def _ordered(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: mapping[key] for key in sorted(mapping, key=_sort_key)}


def _following_key(source: _Source, node: ast.Dict, key: str) -> ast.expr | None:
    """The first key sorting after ``key`` when the dict's keys are sorted, else None (append)."""
    keys = [key_node for key_node in node.keys if isinstance(key_node, ast.Constant)]
    names = [key_node.value for key_node in keys]
    if len(keys) != len(node.keys) or not _is_sorted(names):
        return None
    return next((key_node for key_node in keys if _sort_key(key_node.value) > _sort_key(key)), None)


def _first_comment_line(source: _Source, lineno: int) -> int:
    """``lineno``, or the first of the comment-only lines right above it (they belong to that item)."""
    while lineno > 1 and source.lines[lineno - 2].lstrip().startswith("#"):
        lineno -= 1
    return lineno


def _ensure_trailing_comma(source: _Source, node: ast.Dict) -> str:
    if not node.values:
        return source.text
    last = node.values[-1]
    end = _end(source, last)
    closing = source.offset(node.end_lineno or 0, node.end_col_offset or 0) - 1
    between = source.text[end:closing]
    if "," in _code_only(between):
        return source.text
    return source.text[:end] + "," + source.text[end:]


def _code_only(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def _append_constant(text: str, name: str, value: Any) -> str:
    spec = CONSTANT_SPECS[name]
    block = _comment(spec.comment) + "\n" + format_assignment(f"{name}: {spec.annotation}", value)
    return text.rstrip("\n") + "\n\n" + block + "\n"


def _refresh_header_line(text: str, label: str, value: str) -> str:
    """Rewrite ``# <label> <value>`` in the header comments above the first statement after the docstring."""
    module = ast.parse(text)
    body = module.body[1:] if module.body and isinstance(module.body[0], ast.Expr) else module.body
    header_end = _Source(text).line_start(body[0].lineno) if body else len(text)
    pattern = re.compile(rf"^(# {re.escape(label)}\s*).*$", re.MULTILINE)
    header = pattern.sub(lambda match: match.group(1) + _printable(value), text[:header_end], count=1)
    return header + text[header_end:]
