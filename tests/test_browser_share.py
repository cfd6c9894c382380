"""Shareable links and the map's CSV download in headless Chromium against the real Streamlit server."""

from __future__ import annotations

import csv
import re
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from bench.browser import map_frame
from bench.server import start_app, stop_app
from vae.checkpoint import load_atlas
from vae.data import CLASS_NAMES

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TIMEOUT = 90_000  # ms; the first visit loads torch, the models and the atlases


def settled(page: Page) -> None:
    """Wait until the page's script has finished, without an exception."""
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=TIMEOUT
    )
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def address(page: Page) -> dict[str, str]:
    """The query parameters of the page's address, decoded."""
    return {key: values[-1] for key, values in parse_qs(urlsplit(page.url).query).items()}


def wait_for_z(page: Page, old: str) -> list[float]:
    """Wait until the address's z is no longer `old`; return its numbers."""
    page.wait_for_function("(old) => new URLSearchParams(location.search).get('z') !== old", arg=old, timeout=30_000)
    return [float(v) for v in address(page)["z"].split(",")]


def test_a_fresh_server_opened_at_a_link_runs_the_app_with_that_model_and_point(page, checkpoints_dir):
    proc, url = start_app({"VAE_CHECKPOINTS": str(checkpoints_dir)})  # its first visit is the link
    try:
        page.goto(f"{url}/map?model=fashion-mnist-vae-z2&z=0.5,-1")
        expect(map_frame(page).get_by_text("z₁ = +0.50, z₂ = -1.00")).to_be_visible(timeout=TIMEOUT)
        settled(page)
        sidebar = page.locator('[data-testid="stSidebar"]')
        expect(sidebar.get_by_role("combobox", name="Dataset")).to_have_value("Fashion-MNIST")  # app.py's picker
        expect(sidebar.locator('[data-testid="stSidebarNavLink"]')).to_have_count(8)  # app.py's pages, not pages/*.py
        expect(page.locator('[data-testid="stAlertContentWarning"]')).to_have_count(0)
        expect(map_frame(page).locator(".js-plotly-plot")).to_be_visible(timeout=TIMEOUT)
        assert address(page) == {"model": "fashion-mnist-vae-z2", "z": "0.5,-1"}
    finally:
        stop_app(proc)


def test_moving_the_point_rewrites_the_address_without_a_reload(page, app_url):
    page.goto(f"{app_url}/map?model=mnist-vae-z2")
    expect(page.get_by_role("heading", name="Latent map")).to_be_visible(timeout=TIMEOUT)
    settled(page)
    assert wait_for_z(page, None) == [0.0, 0.0]
    page.evaluate("() => { window.sameDocument = true; }")  # lost if the page reloads

    slider = map_frame(page).locator("#sliders input").first  # the z₁ slider, in the map chart's panel
    slider.focus()
    page.keyboard.press("ArrowRight")
    moved = wait_for_z(page, "0,0")
    assert moved[0] > 0 and moved[1] == 0

    plot = map_frame(page).locator(".nsewdrag").first
    box = plot.bounding_box()
    page.mouse.click(box["x"] + 0.92 * box["width"], box["y"] + 0.08 * box["height"])  # top right: empty space
    clicked = wait_for_z(page, address(page)["z"])
    assert clicked[0] > moved[0] and clicked[1] > 1  # the decoded point is the clicked spot
    expect(map_frame(page).get_by_text(f"z₁ = {clicked[0]:+.2f}, z₂ = {clicked[1]:+.2f}")).to_be_visible()
    assert page.evaluate("() => window.sameDocument") is True
    assert address(page)["model"] == "mnist-vae-z2"


def test_the_map_points_download_as_csv(page, app_url, checkpoints_dir):
    page.goto(f"{app_url}/map?model=mnist-vae-z2")
    expect(page.get_by_role("heading", name="Latent map")).to_be_visible(timeout=TIMEOUT)
    settled(page)
    page.get_by_role("button", name=re.compile("Download")).click()
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="Map points (CSV)").click()
    download = info.value
    assert download.suggested_filename == "mnist-vae-z2-latent-points.csv"
    with open(download.path(), newline="") as f:
        header, *rows = csv.reader(f)
    assert header == ["index", "label", "class", "x", "y", "mu_1", "mu_2", "logvar_1", "logvar_2"]
    assert len(rows) == 10_000
    atlas = load_atlas(checkpoints_dir / "mnist-vae-z2")
    for i in (0, 4321, 9999):
        row = rows[i]
        assert row[:3] == [str(i), str(atlas["labels"][i]), CLASS_NAMES["mnist"][atlas["labels"][i]]]
        values = np.array(row[3:], dtype=np.float32)
        assert np.array_equal(values, np.concatenate([atlas["mu"][i], atlas["mu"][i], atlas["logvar"][i]]))
