"""/interpolate in headless Chromium against a real server: the scrubber decodes every position along the path in the
browser (the code vae.latent.interpolate gives, the image PyTorch decodes), plays and pauses; with the runtime's
files blocked it steps through the server's strip frames and says so in one line."""

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
SCRUBBER = "iframe[title$='interpolation_scrubber']"
STEPS = 10  # the page's default
SHOTS = os.environ.get("VAE_SCREENSHOTS")  # a folder: save 1280x800 screenshots mid-gesture there

PIXELS = canvas_cells("canvas")


def scrubber_frame(page: Page, url: str, mode: str) -> Frame:
    """Open /interpolate and return the scrubber's frame once it decodes in `mode` ("live" or "server")."""
    page.goto(f"{url}/interpolate?model=mnist-vae-z2")
    expect(page.locator(SCRUBBER)).to_be_visible(timeout=TIMEOUT)
    frame = page.locator(SCRUBBER).element_handle().content_frame()
    frame.wait_for_function(f"window.__mode === '{mode}'", timeout=TIMEOUT)
    return frame


def path_ends(checkpoints_dir, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The default endpoints' codes: the first test image of class 0 and of class 1."""
    atlas = load_atlas(checkpoints_dir / name)
    a, b = (int(np.flatnonzero(atlas["labels"] == c)[0]) for c in (0, 1))
    return atlas["mu"][a], atlas["mu"][b]


def decoded(checkpoints_dir, name: str, code) -> np.ndarray:
    """Model `name`'s image of one code, 0..255 (784,)."""
    model, _ = load_model(checkpoints_dir / name)
    return latent.decode(model, np.asarray(code, dtype=np.float32)[None])[0].ravel() * 255


def test_scrubbing_decodes_every_position_in_the_browser_and_play_animates(page, app_url, checkpoints_dir):
    frame = scrubber_frame(page, app_url, "live")
    assert frame.locator("#note").text_content() == ""
    frame.locator("input[value=spherical]").check()
    slider = frame.locator("#position").bounding_box()
    y = slider["y"] + slider["height"] / 2
    page.mouse.move(slider["x"] + 2, y)
    page.mouse.down()
    images = set()
    for i in range(1, 25):
        before = frame.evaluate("window.__frames")
        page.mouse.move(slider["x"] + 2 + i * (slider["width"] - 4) / 24, y)
        frame.wait_for_function(f"window.__frames > {before}")
        images.add(frame.evaluate("document.querySelector('canvas').toDataURL()"))
        if i == 12 and SHOTS:
            page.screenshot(path=os.path.join(SHOTS, "interpolate-drag.png"))
    page.mouse.up()
    assert len(images) >= 20  # the image morphs on every step of the drag, before any release

    # At a step of the path: the code of vae.latent.interpolate, and each model's image of it as PyTorch decodes
    frame.evaluate(
        """(k) => { const s = document.querySelector('#position');
      s.value = Math.round(1000 * k / 9); s.dispatchEvent(new Event('input')); }""",
        3,
    )
    codes = frame.evaluate("window.__codes")
    for name, pixels, got in zip(("mnist-vae-z2", "mnist-ae-z2"), frame.evaluate(PIXELS), codes, strict=True):
        code = latent.interpolate(*path_ends(checkpoints_dir, name), STEPS, "spherical")[3]
        assert np.allclose(got, code, atol=0.01 * np.abs(code).max())  # the slider moves in steps of 1/1000
        assert np.abs(np.array(pixels) - decoded(checkpoints_dir, name, code)).mean() <= 2

    frame.locator("#play").click()
    start = frame.evaluate("[window.__frames, document.querySelector('#t').textContent]")
    frame.wait_for_function(f"window.__frames >= {start[0] + 60}")  # 30 animation frames, two models each
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "interpolate-play.png"))
    assert frame.evaluate("document.querySelector('#t').textContent") != start[1]
    frame.locator("#play").click()
    paused = frame.evaluate("""async () => { const n = window.__frames;
      for (let i = 0; i < 10; i++) await new Promise(requestAnimationFrame);
      return [n, window.__frames, document.querySelector('#play').textContent]; }""")
    assert paused[0] == paused[1] and paused[2] == "Play"


def test_without_the_runtime_the_scrubber_steps_through_the_servers_frames(page, app_url, checkpoints_dir):
    page.route("**/*.wasm", lambda route: route.abort())
    frame = scrubber_frame(page, app_url, "server")
    assert "could not load" in frame.locator("#note").text_content()
    assert frame.locator("#position").get_attribute("max") == str(STEPS - 1)
    frame.locator("#position").focus()
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    frame.wait_for_function("document.querySelector('#t').textContent === 't = 0.44'")
    # each model's canvas has painted the server's frame it shows now (a quick key press may skip a step's frame)
    frame.wait_for_function(
        "[...document.querySelectorAll('canvas[data-shows]')].filter((c) => c.dataset.painted === c.dataset.shows)"
        ".length === 2"
    )
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "interpolate-fallback.png"))
    for name, pixels in zip(("mnist-vae-z2", "mnist-ae-z2"), frame.evaluate(PIXELS), strict=True):
        code = latent.interpolate(*path_ends(checkpoints_dir, name), STEPS, "linear")[4]
        assert np.abs(np.array(pixels) - decoded(checkpoints_dir, name, code)).mean() <= 2
