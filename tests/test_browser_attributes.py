"""/map's slider along an attribute vector decodes in the browser as it is dragged, and the server hears only the
release (headless Chromium against the real server)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bench.browser import MAP_FRAME, map_frame
from tests.test_browser_decode import WATCH, WATCHED, address_z, open_map, shot, wait_runtime

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_dragging_the_thickness_slider_morphs_the_decoded_image_and_reports_the_code_on_release(page, app_url):
    open_map(page, app_url + "/map")
    wait_runtime(page)
    page.get_by_text("Attribute vector").click()  # the expander: the panel gets its direction slider
    along = map_frame(page).locator("#direction input")
    expect(along).to_have_attribute("aria-label", "along thickness ↑", timeout=60_000)
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=60_000
    )
    box = along.bounding_box()
    assert box is not None
    y, x0, x1 = box["y"] + box["height"] / 2, box["x"] + 6, box["x"] + box["width"] - 6
    before = map_frame(page).locator("#sliders span").all_inner_texts()
    linked = address_z(page) or ""
    page.evaluate(WATCH, MAP_FRAME)
    page.mouse.move(x0, y)
    page.mouse.down()
    for i in range(1, 41):
        page.mouse.move(x0 + (x1 - x0) * i / 40, y)
        page.evaluate("() => new Promise((r) => requestAnimationFrame(() => r()))")
        if i == 20:
            shot(page, "map-along-thickness")
    during = page.evaluate(WATCHED)
    page.mouse.up()
    assert during["images"] >= 10, during  # a new decoded image on many frames of the drag
    assert during["runs"] <= 2, during  # the server hears the release, not the drag
    after = map_frame(page).locator("#sliders span").all_inner_texts()
    assert after != before  # the z sliders moved with it
    # on release the code goes to the server, and the address follows
    page.wait_for_function("(z) => new URLSearchParams(location.search).get('z') !== z", arg=linked, timeout=30_000)
    sent = [float(v) for v in (address_z(page) or "").split(",")]
    assert sent == pytest.approx([float(v) for v in after], abs=0.006)
