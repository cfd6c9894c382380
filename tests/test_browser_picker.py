"""The model picker in headless Chromium against a real Streamlit server: a run trained by the command line while the
app is open appears in its picker on the next rerun, without a restart, and opens; broken folders are listed with
their sentence while the open model stays in use."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from playwright.sync_api import Page, expect

from bench.server import start_app, stop_app
from vae.checkpoint import ATLAS, CARD, WEIGHTS, load_model, save_weights
from vae.sweep import BETAS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 90_000  # ms; the first visit loads torch, the models and the atlases
SWEEP = len(BETAS) + 1  # the β sweep's models of each dataset, listed after the runs


def settled(page: Page) -> None:
    """Wait until the page's script has finished, without an exception."""
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=TIMEOUT
    )
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def rerun(page: Page) -> None:
    """Rerun the page's script as Streamlit's R shortcut does (no reload, same session)."""
    page.locator('[data-testid="stMain"] h1').first.click()  # focus the page, not a widget
    page.keyboard.press("r")


def model_options(page: Page):
    """Open the sidebar's model select and return its options (close it with Escape)."""
    page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Model").click()
    return page.get_by_role("option")


def train_run(env: dict[str, str]) -> None:
    """Train a tiny MNIST VAE with the command line into $VAE_RUNS: one epoch, hidden 32-16, no IWAE bound."""
    command = [sys.executable, "-m", "vae.train", "--epochs", "1", "--hidden", "32", "16", "--iwae-k", "0", "--quiet"]
    done = subprocess.run(command, env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_run_trained_by_the_cli_appears_in_the_running_apps_picker(page, checkpoints_dir, data_dir, tmp_path):
    runs = tmp_path / "runs"
    env = {"VAE_CHECKPOINTS": str(checkpoints_dir), "VAE_RUNS": str(runs), "VAE_DATA_DIR": str(data_dir)}
    proc, url = start_app(env)
    try:
        page.goto(f"{url}/?model=mnist-vae-z2")
        expect(page.get_by_text("mnist-vae-z2", exact=True).first).to_be_visible(timeout=TIMEOUT)
        settled(page)
        expect(model_options(page)).to_have_count(4 + SWEEP)  # the shipped MNIST models and the β sweep's
        page.keyboard.press("Escape")

        train_run(env)
        [run] = [p for p in runs.iterdir() if p.is_dir()]
        rerun(page)
        settled(page)
        options = model_options(page)
        expect(options).to_have_count(5 + SWEEP)
        new = options.filter(has_text=re.compile(r"^VAE · z=2 · β=1 · −ELBO [\d.]+ · MLP 32-16 · 1 ep · run "))
        expect(new).to_have_count(1)
        new.click()
        page.wait_for_url(re.compile(f"model={run.name}"), timeout=TIMEOUT)
        settled(page)
        expect(page.get_by_text(run.name, exact=True).first).to_be_visible()  # the model card names it
        sidebar = page.locator('[data-testid="stSidebar"]')
        expect(sidebar.get_by_text(f"Run: {run}")).to_be_visible()

        half = runs / "mnist-vae-z2-20260101-1200-aaaa"  # half-written: no weights
        half.mkdir()
        shutil.copy(run / CARD, half / CARD)
        stale = runs / "mnist-vae-z2-20260101-1300-bbbb"  # retrained, atlas not rebuilt
        stale.mkdir()
        for f in (WEIGHTS, CARD, ATLAS):
            shutil.copy(run / f, stale / f)
        model, _ = load_model(stale)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01)
        save_weights(model, stale / WEIGHTS)
        rerun(page)
        settled(page)
        sidebar.get_by_text("Can't open 2 folders").click()
        expect(sidebar.get_by_text(f"{half / WEIGHTS} is missing, so the folder is half-written")).to_be_visible()
        expect(sidebar.get_by_text(f"{stale / ATLAS} was not built from the weights beside it")).to_be_visible()
        expect(page.get_by_text(run.name, exact=True).first).to_be_visible()  # the open model stays in use
        expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
        expect(model_options(page)).to_have_count(5 + SWEEP)
    finally:
        stop_app(proc)
