"""The Docker image's install steps (scripts/install-package.sh, which docker/Dockerfile runs),
run into a fresh venv: the installed package, not the checkout, serves the player's scripts.

Docker cannot run in CI here, so this is the image's proof that the player works: before
issue 23 the Dockerfile installed the package before npm had copied hls.js and dash.js into
the sources, and the image served the player without them.

The fresh venv sees the test environment's site-packages through a `.pth` line (a plain
path: their own `.pth` files, the checkout's editable install among them, are not run), so
the dependencies count as installed and the script's `pip install` resolves them without
downloading anything; the package itself goes into the venv's own site-packages, which come
first. Nodes run from a temporary directory, so the checkout is not on their `sys.path`.
"""

from __future__ import annotations

import site
import subprocess
import sys
import time
import venv
from pathlib import Path

import httpx
import pytest

from tests.support.node import Node

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install-package.sh"
VENDOR = ROOT / "server" / "delivery" / "static" / "vendor"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the package installed by the script."""
    home = tmp_path_factory.mktemp("install-package")
    venv.create(home / "venv", with_pip=True)
    packages = home / "venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    (packages / "test-environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    python = home / "venv" / "bin" / "python"
    run = subprocess.run([str(SCRIPT), str(python)], capture_output=True, text=True, cwd=home, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return home


def test_the_installed_package_is_the_venv_s_own(installed):
    python = installed / "venv" / "bin" / "python"
    where = subprocess.run(
        [str(python), "-c", "import server.delivery.player as p; print(p.STATIC)"],
        capture_output=True,
        text=True,
        cwd=installed,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed / "venv"), where
    for script in ("hls.min.js", "dash.all.min.js"):
        assert (Path(where) / "vendor" / script).read_bytes() == (VENDOR / script).read_bytes()


def test_the_installed_node_serves_the_player_s_scripts(installed):
    node = Node(installed / "data")
    node.data_dir.mkdir()
    process = subprocess.Popen(
        [str(installed / "venv" / "bin" / "headwater"), "serve"],
        env=node.env,
        cwd=installed,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{node.base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert process.poll() is None, "the installed node exited"
        for script in ("hls.min.js", "dash.all.min.js"):
            response = httpx.get(f"{node.base_url}/player/assets/{script}")
            assert response.status_code == 200, script
            assert "javascript" in response.headers["content-type"]
            assert response.content == (VENDOR / script).read_bytes()
    finally:
        process.terminate()
        process.wait(timeout=15)
