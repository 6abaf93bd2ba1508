"""Dependencies between the project's packages point one way (docs/architecture.md, "Packages").

`ingest/` and `packager/` import nothing of the project but themselves; `transcode/` imports
`ingest/` and `packager/`; `server/` imports those two (and `migrations/`, to upgrade its DB)
and `transcode/` only to start and talk to a worker,
i.e. the contract's module (it starts the worker as `python -m transcode.worker`, a string,
not an import). Every import counts, also one inside a function or under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("server", "ingest", "transcode", "packager", "bench", "tests", "migrations", "player")

# package → the project's packages it may import (besides itself)
ALLOWED_PACKAGES = {
    "ingest": set(),
    "packager": set(),
    "transcode": {"ingest", "packager"},
    "server": {"ingest", "packager", "migrations"},  # the node upgrades its DB on start
}
# modules of a package not in the list above that it may import anyway
ALLOWED_MODULES = {
    "server": {"transcode.contract"},  # the node↔worker contract: the config, commands, events
}


def imported_names(path: Path, package_root: Path) -> set[str]:
    """What `path` imports, absolute (relative imports resolved): `a.b` for `import a.b`,
    `X.Y` for each `Y` of `from X import Y` (Y is a module of X or a name in it)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = path.relative_to(package_root).with_suffix("").parts
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                module = ".".join(here[: len(here) - node.level] + ((module,) if module else ()))
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def violations(package_root: Path, package: str) -> list[str]:
    allowed = ALLOWED_PACKAGES[package] | {package}
    modules = ALLOWED_MODULES.get(package, set())
    found = []
    for path in sorted((package_root / package).rglob("*.py")):
        for name in sorted(imported_names(path, package_root)):
            if name.split(".")[0] not in PROJECT or name.split(".")[0] in allowed:
                continue
            if any(name == module or name.startswith(f"{module}.") for module in modules):
                continue
            found.append(f"{path.relative_to(package_root)} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED_PACKAGES))
def test_package_imports_point_one_way(package: str) -> None:
    assert violations(ROOT, package) == []


def test_the_worker_sources_live_in_ingest() -> None:
    """What a worker opens (pipe, pull, WHIP) is under ingest/, not transcode/."""
    for module in ("pipe", "demuxed", "pull/source", "pull/srt", "whip/peer", "whip/media", "whip/video"):
        assert (ROOT / "ingest" / f"{module}.py").is_file(), module
    for old in ("pipe_source", "pull_source", "pull_srt", "whip_source", "webrtc_media", "webrtc_video", "demuxed"):
        assert not (ROOT / "transcode" / f"{old}.py").exists(), old


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_check_catches_every_form_of_import(tmp_path: Path) -> None:
    """The checker itself: absolute, `from`, relative, function-local and TYPE_CHECKING
    imports are all seen, and only the named modules are let through."""
    write(tmp_path, "ingest/__init__.py", "")
    write(tmp_path, "ingest/a.py", "import transcode.worker\n")
    write(tmp_path, "ingest/b.py", "def f():\n    from server import app\n")
    write(
        tmp_path,
        "ingest/c.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from packager.live import X\n",
    )
    write(tmp_path, "ingest/d.py", "from . import media\nfrom .rtmp import server\nimport av\n")
    write(tmp_path, "packager/e.py", "from ..server import settings\n")
    write(tmp_path, "server/f.py", "from transcode.contract import WorkerConfig\nfrom transcode import contract\n")
    write(tmp_path, "server/g.py", "from transcode.worker import run\n")
    write(tmp_path, "server/h.py", "import transcode\n")
    assert violations(tmp_path, "ingest") == [
        "ingest/a.py imports transcode.worker",
        "ingest/b.py imports server.app",
        "ingest/c.py imports packager.live.X",
    ]
    assert violations(tmp_path, "packager") == ["packager/e.py imports server.settings"]
    assert violations(tmp_path, "server") == [
        "server/g.py imports transcode.worker.run",
        "server/h.py imports transcode",
    ]
