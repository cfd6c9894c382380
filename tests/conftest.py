"""Shared fixtures: the real datasets, shipped checkpoints, a live Streamlit server and headless Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run",
]  # fmt: skip


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real MNIST / Fashion-MNIST root ($VAE_DATA_DIR, in this repo's CI ../shared/data)."""
    path = Path(os.environ.get("VAE_DATA_DIR", ROOT.parent / "shared" / "data"))
    assert (path / "MNIST" / "raw").is_dir(), f"real data expected under {path}; set VAE_DATA_DIR"
    return path


@pytest.fixture(scope="session")
def checkpoints_dir() -> Path:
    """The checkpoints the app serves ($VAE_CHECKPOINTS or ./checkpoints)."""
    return Path(os.environ.get("VAE_CHECKPOINTS", ROOT / "checkpoints")).resolve()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str] | None = None, timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """Start `streamlit run app.py` on a free loopback port; return (process, base URL) once healthy."""
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
           f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
           "--server.fileWatcherType=none"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{proc.stdout.read()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.2)  # readiness poll, not a timing assertion
    proc.kill()
    raise RuntimeError(f"streamlit did not answer on {url} within {timeout} s")


@pytest.fixture(scope="session")
def app_url(checkpoints_dir):
    """Base URL of a real Streamlit server running app.py for the whole session."""
    proc, url = start_server({"VAE_CHECKPOINTS": str(checkpoints_dir)})
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh 1280x800 page; fails the test if the page logs an uncaught exception."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
