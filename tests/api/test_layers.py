"""The API's layers, read from the source: SQL only in server/db/, route modules apart."""

from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"
ROUTE_MODULES = {
    "server.api.streams",
    "server.api.overlays",
    "server.api.quality_sets",
    "server.api.videos",
    "server.whip",
    "server.delivery.player",
}
# What a module outside server/db/ may take from SQLAlchemy: the session types it is handed.
SESSION_TYPES = {"AsyncSession", "async_sessionmaker"}
QUERY_CALLS = {"execute", "scalar", "scalars", "get", "add", "add_all", "delete", "commit", "refresh", "flush"}


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in SERVER.rglob("*.py"):
        name = ".".join(path.relative_to(SERVER.parent).with_suffix("").parts)
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_route_modules_do_not_import_each_other():
    for name, tree in modules().items():
        if name in ROUTE_MODULES:
            others = imported(tree) & (ROUTE_MODULES - {name})
            assert not others, f"{name} imports {others}"


def test_sql_lives_in_server_db():
    for name, tree in modules().items():
        if name.startswith("server.db."):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                taken = {alias.name for alias in node.names}
                assert node.module == "sqlalchemy.ext.asyncio" and taken <= SESSION_TYPES, (name, taken)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("sqlalchemy") for a in node.names), name
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("db", "session")
                and node.func.attr in QUERY_CALLS
            ):
                raise AssertionError(f"{name}:{node.lineno} queries the DB ({node.func.value.id}.{node.func.attr})")
