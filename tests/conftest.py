"""Shared fixtures: the real datasets, shipped checkpoints, a live Streamlit server and headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.server import CHROMIUM, CHROMIUM_ARGS, start_app, stop_app

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real MNIST / Fashion-MNIST root ($VAE_DATA_DIR, in this repo's CI ../shared/data)."""
    path = Path(os.environ.get("VAE_DATA_DIR", ROOT.parent / "shared" / "data"))
    assert (path / "MNIST" / "raw").is_dir(), f"real data expected under {path}; set VAE_DATA_DIR"
    return path


@pytest.fixture
def truncated_mnist(data_dir, tmp_path) -> Path:
    """A dataset root whose MNIST/raw holds the four unpacked files, the test images cut short (as by an
    interrupted copy); returns that raw folder."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / f).symlink_to(data_dir / "MNIST" / "raw" / f)
    (raw / "t10k-images-idx3-ubyte").write_bytes(
        (data_dir / "MNIST" / "raw" / "t10k-images-idx3-ubyte").read_bytes()[:5000]
    )
    return raw


@pytest.fixture(scope="session")
def checkpoints_dir() -> Path:
    """The checkpoints the app serves ($VAE_CHECKPOINTS or ./checkpoints)."""
    return Path(os.environ.get("VAE_CHECKPOINTS", ROOT / "checkpoints")).resolve()


@pytest.fixture(scope="session")
def app_url(checkpoints_dir):
    """Base URL of a real Streamlit server running app.py for the whole session."""
    proc, url = start_app({"VAE_CHECKPOINTS": str(checkpoints_dir)})
    yield url
    stop_app(proc)


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
