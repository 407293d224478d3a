"""The import rules of tracker/, checked by parsing every module's imports with `ast` (nothing is imported).

- tracker/api/ translates HTTP: only the error mapping (problems.py) and the app's dependencies (deps.py) may
  import SQLAlchemy; SQL lives in tracker/queries (reads) and tracker/service (use cases).
- No module imports from a higher layer (LAYERS, lowest first; a module may import its own layer).
- No import cycles between tracker's subpackages.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import ROOT

TRACKER = ROOT / "tracker"

# Lowest first. Names are module prefixes below `tracker.`; the longest prefix that matches places a module.
LAYERS: tuple[tuple[str, ...], ...] = (
    # settings and small helpers any layer may use; web.urls spells the public pages' URLs (the digest links them);
    # observability: metrics and JSON logs, which every layer reports to; markup: HTML to text (ingestion, matching)
    ("config", "keyfile", "leader", "web.urls", "observability", "markup"),
    ("domain",),
    ("store",),
    ("projections",),
    ("matching", "extract"),
    # The one write path (unit of work, plain tables) and the matcher's wiring to it, which ingestion, the
    # digest and the audit build on.
    ("repository",),
    ("suggestions",),
    ("queries",),
    ("ingest", "digest", "audit"),
    # Use cases sit above those: fetching a feed now runs an ingestion pass, attaching evidence by hand uses
    # ingestion's canonical link, unsubscribing reads a digest token.
    ("service", "seeding"),
    ("web",),  # the public reader pages (HTML over the queries); the API app includes their router
    ("api", "scheduler"),
    ("cli", "bootstrap"),
)

# Imports that break the rules today, excluded from both checks. Each must still occur (delete it once fixed).
KNOWN_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset({
    # Settings check the sender address with the mail code's own parser (one copy of the rule), imported inside
    # the validator. TODO: move that check below config (e.g. into domain/subscriber.py) and drop this line.
    ("tracker.config", "tracker.digest.deliver"),
})

SQL_IN_API = {"problems.py", "deps.py"}  # error mapping of database errors; request-scoped wiring


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file (function-level imports included)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def _tracker_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in TRACKER.rglob("*.py") if "__pycache__" not in p.parts}


MODULES = _tracker_modules()


def _known(name: str) -> str | None:
    """The tracker module an imported name refers to (a name imported from a module counts as the module)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _edges() -> set[tuple[str, str]]:
    edges = set()
    for module, path in MODULES.items():
        for name in _imports(path):
            target = _known(name) if name.startswith("tracker.") else None
            if target is not None and target != module and target != "tracker":
                edges.add((module, target))
    return edges


EDGES = _edges()


def _placement(module: str) -> tuple[int, str]:
    """(layer index, unit) of a module: the unit is the LAYERS name that placed it."""
    best: tuple[int, str] | None = None
    for index, names in enumerate(LAYERS):
        for name in names:
            prefix = f"tracker.{name}"
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(name) > len(best[1])):
                best = (index, name)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best


def _unit(module: str) -> str:
    """A subpackage (or top-level module) of tracker."""
    return _placement(module)[1].split(".")[0]


def test_only_error_mapping_and_dependencies_use_sqlalchemy_in_the_api() -> None:
    using = sorted(
        path.name for path in (TRACKER / "api").glob("*.py")
        if any(name == "sqlalchemy" or name.startswith("sqlalchemy.") for name in _imports(path))
    )
    assert set(using) <= SQL_IN_API, f"tracker/api modules running SQL themselves: {sorted(set(using) - SQL_IN_API)}"


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        if module != "tracker":
            _placement(module)


def test_no_module_imports_a_higher_layer() -> None:
    upward = sorted(
        f"{source} (layer {_placement(source)[0]}) imports {target} (layer {_placement(target)[0]})"
        for source, target in EDGES - KNOWN_EXCEPTIONS
        if source != "tracker" and _placement(target)[0] > _placement(source)[0]
    )
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def _cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one unit (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        graph[source].add(target)
        graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_between_subpackages() -> None:
    units = {
        (_unit(source), _unit(target)) for source, target in EDGES - KNOWN_EXCEPTIONS
        if source != "tracker" and _unit(source) != _unit(target)
    }
    assert _cycles(units) == []


@pytest.mark.parametrize("exception", sorted(KNOWN_EXCEPTIONS))
def test_known_exceptions_still_occur(exception: tuple[str, str]) -> None:
    assert exception in EDGES, f"{exception[0]} no longer imports {exception[1]}: delete it from KNOWN_EXCEPTIONS"


# Where the event store's write calls may appear: the store itself and the one write path. Replay takes the
# append lock to rebuild the read models, appending nothing.
WRITERS = {"store", "repository"}
LOCK_ONLY = {"tracker/projections/rebuild.py"}


def _write_calls(path: Path) -> list[str]:
    """`.append(...)` on a store or transaction, and `.transaction()` opened outside the write path."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if node.func.attr == "transaction" or (node.func.attr == "append" and owner_name in ("store", "tx")):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {owner_name}.{node.func.attr}()")
    return found


def test_every_write_goes_through_the_repository() -> None:
    outside = [
        call
        for path in TRACKER.rglob("*.py")
        if "__pycache__" not in path.parts and path.relative_to(TRACKER).parts[0] not in WRITERS
        and str(path.relative_to(ROOT)) not in LOCK_ONLY
        for call in _write_calls(path)
    ]
    assert outside == [], "writes that bypass tracker/repository (and so the read models): " + ", ".join(outside)
    # the check itself sees what it is looking for
    assert _write_calls(TRACKER / "repository" / "unit_of_work.py")
