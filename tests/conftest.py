"""Shared fixtures: the real datasets, shipped checkpoints, a live Streamlit server and headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.server import ChromiumMissingError, launch_chromium, start_app, stop_app
from vae.data import DATASETS, DatasetMissingError, load_split, on_disk
from vae.data import data_dir as data_root

ROOT = Path(__file__).resolve().parents[1]


def _attempt(call, *args):
    """(call(*args), None), or (None, its one sentence) when a dataset or the browser is missing; the caller fails
    outside the except block, so the report is that sentence alone, not a chain of exceptions."""
    try:
        return call(*args), None
    except (DatasetMissingError, ChromiumMissingError) as err:
        return None, str(err)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real MNIST / Fashion-MNIST root, as the app finds it ($VAE_DATA_DIR, else ./data; relative to the repo
    root, where the app server runs), downloaded through torchvision on the first run; fails in one sentence."""
    root = ROOT / data_root()
    for name in DATASETS:
        if not on_disk(name, root):
            _, error = _attempt(load_split, name, False, root)  # torchvision downloads all four files
            if error:
                pytest.fail(error, pytrace=False)
    return root


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
def digits_npz(data_dir, tmp_path_factory) -> Path:
    """A real MNIST subset as the user's own .npz dataset, for short training runs: the first 2,000 training and 500
    test images, labelled."""
    import numpy as np

    train, test = load_split("mnist", True, data_dir), load_split("mnist", False, data_dir)
    path = tmp_path_factory.mktemp("digits") / "digits.npz"
    np.savez(
        path,
        x_train=train.images[:2000].numpy(),
        y_train=train.labels[:2000].numpy().astype(np.uint8),
        x_test=test.images[:500].numpy(),
        y_test=test.labels[:500].numpy().astype(np.uint8),
    )
    return path


@pytest.fixture
def real_models(monkeypatch, checkpoints_dir, data_dir, tmp_path_factory):
    """The app on the shipped checkpoints, an empty runs folder and the real datasets (AppTest files use it)."""
    monkeypatch.setenv("VAE_CHECKPOINTS", str(checkpoints_dir))
    monkeypatch.setenv("VAE_RUNS", str(tmp_path_factory.mktemp("runs")))  # no runs
    monkeypatch.setenv("VAE_DATA_DIR", str(data_dir))


@pytest.fixture(scope="session")
def checkpoints_dir() -> Path:
    """The checkpoints the app serves ($VAE_CHECKPOINTS or ./checkpoints)."""
    return Path(os.environ.get("VAE_CHECKPOINTS", ROOT / "checkpoints")).resolve()


@pytest.fixture(scope="session")
def app_url(checkpoints_dir, tmp_path_factory):
    """Base URL of a real Streamlit server running app.py for the whole session (the shipped models, no runs)."""
    proc, url = start_app({"VAE_CHECKPOINTS": str(checkpoints_dir), "VAE_RUNS": str(tmp_path_factory.mktemp("runs"))})
    yield url
    stop_app(proc)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium ($CHROMIUM, else chromium on the PATH, else Playwright's own); fails in one sentence."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b, error = _attempt(launch_chromium, p)
        if error:
            pytest.fail(error, pytrace=False)
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
