"""Reading a constants module without running it: ``ast`` plus ``ast.literal_eval``.

``config/constants.py`` arrives through pull requests, so it is never imported or executed. Only a
docstring, ``from __future__`` / ``typing`` imports and ``NAME = literal`` (optionally annotated)
assignments are accepted; anything else is reported with its line.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops._problems import restore_hint

__all__ = ["Assignment", "read_assignments"]

_TYPING_NAMES = frozenset({"Final", "Any", "int", "float", "bool", "str", "dict", "list", "tuple", "None"})
_SCALAR_ANNOTATIONS: Mapping[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
}
_ALLOWED = (
    "the file may hold only a docstring, `from __future__` / `typing` imports and `NAME = literal` "
    "assignments (it is parsed, never run)"
)


@dataclass(frozen=True)
class Assignment:
    """One ``NAME = literal`` statement: the name, its value, its line, and the line of every dict key.

    ``readable`` is false when the value is not a literal (or the annotation is not allowed); the problem
    is already reported and ``value`` is ``None``.
    """

    name: str
    value: Any
    line: int
    key_lines: Mapping[str, int] = field(default_factory=dict)
    readable: bool = True


def read_assignments(text: str, file_name: str) -> tuple[list[Assignment], list[str]]:
    """Parse ``text`` and return its literal assignments and every problem found (full messages)."""
    nul = text.find("\x00")
    if nul >= 0:  # ast reports NUL bytes without a position
        line = text.count("\n", 0, nul) + 1
        column = nul - (text.rfind("\n", 0, nul) + 1) + 1
        return [], [
            f"{file_name}: line {line}, column {column}: a NUL byte (\\x00) in the file, which is not Python "
            f"source (a binary file, or a damaged write?); delete it or {restore_hint(file_name)}"
        ]
    try:
        module = ast.parse(text, filename=file_name)
    except SyntaxError as exc:
        where = (
            f"line {exc.lineno}, column {exc.offset}" if exc.lineno is not None else "a line it cannot name"
        )
        return [], [
            f"{file_name}: syntax error at {where}: {exc.msg}; fix that line or {restore_hint(file_name)}"
        ]
    assignments: list[Assignment] = []
    problems: list[str] = []
    for index, statement in enumerate(module.body):
        if _is_docstring(statement, index) or _is_allowed_import(statement):
            continue
        target, value_node, annotation = _assignment_parts(statement)
        if target is None or value_node is None:
            problems.append(
                f"{file_name}: line {statement.lineno}: `{_source(text, statement)}` is not allowed; "
                f"{_ALLOWED}; remove it"
            )
            continue
        assignment, found = _read_assignment(text, file_name, target, value_node, annotation)
        problems.extend(found)
        assignments.append(assignment)
    problems.extend(_duplicate_names(assignments, file_name))
    return assignments, problems


def _is_docstring(statement: ast.stmt, index: int) -> bool:
    return (
        index == 0
        and isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _is_allowed_import(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.ImportFrom):
        return statement.level == 0 and statement.module in {"__future__", "typing"}
    if isinstance(statement, ast.Import):
        return all(alias.name == "typing" for alias in statement.names)
    return False


def _assignment_parts(statement: ast.stmt) -> tuple[str | None, ast.expr | None, ast.expr | None]:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target = statement.targets[0]
        if isinstance(target, ast.Name):
            return target.id, statement.value, None
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id, statement.value, statement.annotation
    return None, None, None


def _read_assignment(
    text: str, file_name: str, name: str, value_node: ast.expr, annotation: ast.expr | None
) -> tuple[Assignment, list[str]]:
    line = value_node.lineno
    unreadable = Assignment(name=name, value=None, line=line, readable=False)
    if annotation is not None and not _is_plain_annotation(annotation):
        return unreadable, [
            f"{file_name}: {name} (line {line}) has the annotation `{_source(text, annotation)}`; "
            "use `Final` or `Final[int]` / `Final[float]` / `Final[str]` / `Final[bool]`"
        ]
    try:
        value = ast.literal_eval(value_node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return unreadable, [
            f"{file_name}: {name} (line {line}) must be a literal, got `{_source(text, value_node)}`; "
            "write the value itself (a number, string, True/False/None, or a dict/list of them): "
            "the file is parsed, never run"
        ]
    key_lines: dict[str, int] = {}
    problems = _walk_dict_keys(value_node, name, key_lines, file_name)
    if annotation is not None:
        problems.extend(_annotation_mismatch(name, line, annotation, value, file_name))
    return Assignment(name=name, value=value, line=line, key_lines=key_lines), problems


def _is_plain_annotation(node: ast.expr) -> bool:
    """Only typing names (``Final``, ``Final[float]``, ``dict[str, int]``...), never a call or other name."""
    if isinstance(node, ast.Name):
        return node.id in _TYPING_NAMES
    if isinstance(node, ast.Attribute):
        return isinstance(node.value, ast.Name) and node.value.id == "typing" and node.attr in _TYPING_NAMES
    if isinstance(node, ast.Constant):
        return node.value is None
    if isinstance(node, ast.Subscript):
        return _is_plain_annotation(node.value) and _is_plain_annotation(node.slice)
    if isinstance(node, ast.Tuple):
        return all(_is_plain_annotation(element) for element in node.elts)
    return False


def _annotation_mismatch(name: str, line: int, annotation: ast.expr, value: Any, file_name: str) -> list[str]:
    """``X: Final[int] = 0.5`` misleads a reviewer: the annotation must agree with a scalar value."""
    inner = annotation.slice if isinstance(annotation, ast.Subscript) else None
    if not isinstance(inner, ast.Name) or inner.id not in _SCALAR_ANNOTATIONS:
        return []
    allowed = _SCALAR_ANNOTATIONS[inner.id]
    if isinstance(value, allowed) and (inner.id == "bool" or not isinstance(value, bool)):
        return []
    return [
        f"{file_name}: {name} (line {line}) is annotated `Final[{inner.id}]` but its value is "
        f"{value!r} ({type(value).__name__}); make the annotation and the value agree"
    ]


def _walk_dict_keys(node: ast.expr, path: str, key_lines: dict[str, int], file_name: str) -> list[str]:
    """Record the line of every string-keyed dict entry and report keys written twice in one dict."""
    if not isinstance(node, ast.Dict):
        return []
    problems: list[str] = []
    seen: dict[object, int] = {}
    for key_node, value_node in zip(node.keys, node.values, strict=True):
        if not isinstance(key_node, ast.Constant):
            continue
        key = key_node.value
        if key in seen:
            problems.append(
                f"{file_name}: {path} has the key {key!r} twice (lines {seen[key]} and {key_node.lineno}); "
                "keep one of them"
            )
            continue
        seen[key] = key_node.lineno
        child = f"{path}.{key!s}"
        key_lines[child] = value_node.lineno
        problems.extend(_walk_dict_keys(value_node, child, key_lines, file_name))
    return problems


def _duplicate_names(assignments: list[Assignment], file_name: str) -> list[str]:
    first_line: dict[str, int] = {}
    problems = []
    for assignment in assignments:
        if assignment.name in first_line:
            problems.append(
                f"{file_name}: {assignment.name} is assigned twice (lines {first_line[assignment.name]} and "
                f"{assignment.line}); keep one assignment"
            )
        else:
            first_line[assignment.name] = assignment.line
    return problems


def _source(text: str, node: ast.AST) -> str:
    segment = ast.get_source_segment(text, node) or type(node).__name__
    first_line = segment.splitlines()[0] if segment else segment
    shortened = first_line if len(first_line) <= 80 else first_line[:77] + "..."
    return shortened + (" ..." if "\n" in segment and shortened == first_line else "")
