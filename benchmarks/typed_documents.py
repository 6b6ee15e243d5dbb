"""How typed the documents between the stages are: untyped document annotations and document parse sites.

Usage: ``python benchmarks/typed_documents.py [ROOT] [--list]`` (ROOT: a checkout, default this one).

Measured with ``ast`` on the source, nothing imported:

(a) every function parameter and return value in ``gitops/``, ``optimizer/`` and ``validation/`` annotated
    ``dict[str, Any]`` or ``Mapping[str, Any]`` (``| None`` included, and module-level aliases of them such as
    ``Verdict = Mapping[str, Any]``);
(b) of those, the ones that carry the proposal (contract 2), the verdict (contract 3) or the search-record
    reference: a parameter named ``proposal``, ``verdict``, ``document``, ``doc``, ``parsed``, ``reference``,
    ``search_record`` or ``record``, or the return value of a function that builds, parses, withholds or
    serialises one of them. A package's own files are left out: ``feature_flags.json`` (gitops), the
    search record's columns (optimizer) and the pull request's hidden metadata (gitops writes and reads it);
(c) the places a proposal or verdict document is parsed in the product code (not the tests): calls of
    ``parse_proposal``, ``load_proposal``, ``parse_verdict``, ``load_verdict``, ``Proposal.from_json`` /
    ``.read``, ``Verdict.from_json`` / ``.read``, and ``json.loads`` of a proposal, a verdict or a captured
    command output.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

PACKAGES = ("gitops", "optimizer", "validation")
PRODUCT = ("tradeloop", "warehouse", "backtest_matrix", "optimizer", "validation", "gitops", "reports")
UNTYPED = re.compile(r"^(dict|Mapping)\[str, *Any\]( \| None)?$")
DOCUMENT_NAMES = {"proposal", "verdict", "document", "doc", "parsed", "reference", "search_record", "record"}
DOCUMENT_RETURNS = {
    "build_proposal", "parse_proposal", "load_proposal", "parse_verdict", "load_verdict", "withhold_proposal",
    "to_json", "record_reference", "_document", "_proposal", "_search_record", "settle_proposal", "holdout",
}  # fmt: skip
OWN_FILES = {"gitops/_feature_flags.py", "optimizer/_search_record.py"}
OWN_NAMES = {"metadata"}
PARSERS = re.compile(
    r"\b(parse_proposal|parse_verdict|load_proposal|load_verdict|Proposal\.from_json|Verdict\.from_json|"
    r"Proposal\.read|Verdict\.read)\("
)


def _aliases(tree: ast.Module) -> set[str]:
    return {
        node.targets[0].id
        for node in tree.body
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and UNTYPED.match(ast.unparse(node.value))
    }


def untyped_annotations(root: Path) -> tuple[list[str], list[str]]:
    """(a) and (b): ``path:line function(parameter or return)`` for each."""
    untyped, documents = [], []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            aliases = _aliases(tree)
            where = str(path.relative_to(root))
            for node in ast.walk(tree):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                params = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                for name, annotation in [(a.arg, a.annotation) for a in params] + [("return", node.returns)]:
                    if annotation is None:
                        continue
                    text = ast.unparse(annotation).strip("'\"")
                    if not (UNTYPED.match(text) or text.replace(" | None", "") in aliases):
                        continue
                    entry = f"{where}:{node.lineno} {node.name}({name})"
                    untyped.append(entry)
                    own = where in OWN_FILES or name in OWN_NAMES
                    returned = name == "return" and node.name in DOCUMENT_RETURNS
                    if not own and (name in DOCUMENT_NAMES or returned):
                        documents.append(entry)
    return untyped, documents


def parse_sites(root: Path) -> list[str]:
    """(c): ``path:line: code`` for each."""
    sites = []
    for package in PRODUCT:
        for path in sorted((root / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.strip()
                if code.startswith(("def ", "#", "from ", "import ", '"', "`")) or ":func:" in line:
                    continue
                loads = "json.loads(" in line and re.search(r"proposal|verdict|buffer", line)
                if PARSERS.search(line) or loads:
                    sites.append(f"{path.relative_to(root)}:{number}: {code[:100]}")
    return sites


def main(argv: list[str]) -> int:
    root = Path(next((arg for arg in argv if not arg.startswith("--")), Path(__file__).resolve().parents[1]))
    untyped, documents = untyped_annotations(root)
    sites = parse_sites(root)
    print(f"(a) dict/Mapping[str, Any] parameters and returns in {', '.join(PACKAGES)}: {len(untyped)}")
    print(f"(b) of which carry a proposal, a verdict or a search-record reference: {len(documents)}")
    print(f"(c) places a proposal or verdict document is parsed: {len(sites)}")
    if "--list" in argv:
        for title, rows in (("(b)", documents), ("(c)", sites)):
            print(title)
            for row in rows:
                print("   ", row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
