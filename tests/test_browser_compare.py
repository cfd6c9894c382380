"""/compare in headless Chromium against a real server: hovering either map decodes the point under the pointer with
both models in the browser (the images PyTorch decodes), with a crosshair on both maps; with the runtime's files
blocked a click decodes the point on the server, and the page says so in one line."""

from __future__ import annotations

import os

import numpy as np
import pytest
from playwright.sync_api import Frame, Page, expect

from bench.browser import canvas_cells
from vae import latent
from vae.checkpoint import load_atlas, load_model

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TIMEOUT = 90_000  # ms; the first visit loads torch, the models and the atlases
MAPS = "iframe[title$='compare_maps']"
SHOTS = os.environ.get("VAE_SCREENSHOTS")  # a folder: save 1280x800 screenshots mid-gesture there
PIXELS = canvas_cells("canvas.decoded-image")


def maps_frame(page: Page, url: str, model: str, mode: str) -> Frame:
    """Open /compare for `model` and return the maps' frame once it decodes in `mode` ("live" or "server")."""
    page.goto(f"{url}/compare?model={model}")
    expect(page.locator(MAPS)).to_be_visible(timeout=TIMEOUT)
    frame = page.locator(MAPS).element_handle().content_frame()
    frame.wait_for_function(f"window.__mode === '{mode}'", timeout=TIMEOUT)
    return frame


def plot_area(page: Page, i: int) -> dict:
    """Map i's plot area in page coordinates, scrolled into view."""
    area = page.frame_locator(MAPS).locator(".nsewdrag").nth(i)
    area.scroll_into_view_if_needed()
    return area.bounding_box()


def decoded(checkpoints_dir, name: str, codes) -> np.ndarray:
    """Model `name`'s images of codes (n, z), 0..255 (n, 784)."""
    model, _ = load_model(checkpoints_dir / name)
    return latent.decode(model, np.asarray(codes, dtype=np.float32)).reshape(len(codes), -1) * 255


@pytest.mark.parametrize("model", ["mnist-vae-z2", "mnist-vae-z16"])
def test_hovering_either_map_decodes_that_point_with_both_models(page, app_url, checkpoints_dir, model):
    frame = maps_frame(page, app_url, model, "live")
    partner = model.replace("vae", "ae")
    assert frame.locator("#note").text_content() == ""
    for i in range(2):
        box = plot_area(page, i)
        seen = set()
        for step in range(12):
            before = frame.evaluate("window.__frames")
            page.mouse.move(box["x"] + box["width"] * (0.2 + 0.05 * step), box["y"] + box["height"] * 0.5)
            frame.wait_for_function(f"window.__frames >= {before + 2}")  # both models painted
            seen.add(frame.evaluate("document.querySelector('canvas.decoded-image').toDataURL()"))
            if i == 0 and step == 6 and SHOTS:
                page.screenshot(path=os.path.join(SHOTS, f"compare-hover-{model}.png"))
        assert len(seen) >= 8  # the image follows the pointer
        crosses = frame.evaluate("Array.from(document.querySelectorAll('.cross'), (c) => c.style.display)")
        assert crosses == ["block", "block"]  # the point, marked on both maps

        point = np.array(frame.evaluate("window.__point"))
        codes = frame.evaluate("window.__codes")
        for name, code, pixels in zip((model, partner), codes, frame.evaluate(PIXELS), strict=True):
            atlas = load_atlas(checkpoints_dir / name)
            expected = latent.map_projection(atlas).to_latent(point[None])[0]  # the point itself, or the PCA plane
            assert np.allclose(code, expected, atol=1e-4)
            assert np.abs(np.array(pixels) - decoded(checkpoints_dir, name, [code])[0]).mean() <= 2
        images = frame.evaluate(PIXELS)
        assert np.abs(np.array(images[0]) - np.array(images[1])).mean() > 2  # two models, two different images


def test_without_the_runtime_a_click_decodes_the_point_on_the_server(page, app_url, checkpoints_dir):
    page.route("**/*.wasm", lambda route: route.abort())
    frame = maps_frame(page, app_url, "mnist-vae-z2", "server")
    assert "could not load" in frame.locator("#note").text_content()
    box = plot_area(page, 1)
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)
    frame.wait_for_function("window.__serverFrames >= 2", timeout=TIMEOUT)
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "compare-fallback.png"))
    point = frame.evaluate("window.__point")
    for name, pixels in zip(("mnist-vae-z2", "mnist-ae-z2"), frame.evaluate(PIXELS), strict=True):
        assert np.abs(np.array(pixels) - decoded(checkpoints_dir, name, [point])[0]).mean() <= 2
