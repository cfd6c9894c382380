"""/map decodes in the browser: a slider drag and a hover morph the image on every frame, the server hears only the
release, and with the runtime blocked the server decodes (headless Chromium against the real server)."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from bench.browser import MAP_FRAME, map_frame

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TIMEOUT = 90_000  # ms; the first visit loads torch, the models and the atlases
SHOTS = os.environ.get("VAE_SCREENSHOTS")  # a folder: save 1280x800 screenshots mid-gesture there

# Installed in the page before the gesture: counts the server's script runs (the app's script state) and, on every
# animation frame, the distinct images the chart's canvas shows.
WATCH = """(frameSelector) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const w = window.__watch = {runs: 0, images: new Set(), on: true};
  new MutationObserver(() => {
    if (app.getAttribute('data-test-script-state') === 'running') w.runs += 1;
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  const canvas = document.querySelector(frameSelector).contentDocument.getElementById('decoded');
  const tick = () => {
    if (!w.on) return;
    w.images.add(canvas.toDataURL());
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""
CANVAS = "(sel) => document.querySelector(sel).contentDocument.getElementById('decoded').toDataURL()"
CHANGED = f"([sel, before]) => ({CANVAS})(sel) !== before"
RESTORED = f"([sel, before]) => ({CANVAS})(sel) === before"
WATCHED = "() => { window.__watch.on = false; return {runs: window.__watch.runs, images: window.__watch.images.size}; }"


def open_map(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name="Latent map")).to_be_visible(timeout=TIMEOUT)
    expect(map_frame(page).locator(".js-plotly-plot")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=TIMEOUT
    )


def wait_runtime(page: Page) -> None:
    """Until the chart has decoded an image itself (the runtime and the model are loaded)."""
    page.wait_for_function(
        "(sel) => (document.querySelector(sel).contentWindow.__decodedFrames || 0) > 0", arg=MAP_FRAME, timeout=TIMEOUT
    )


def canvas_image(page: Page) -> str:
    return map_frame(page).locator("#decoded").evaluate("(c) => c.toDataURL()")


def slider_box(page: Page, i: int) -> dict:
    box = map_frame(page).locator("#sliders input").nth(i).bounding_box()
    assert box is not None
    return box


def address_z(page: Page) -> str | None:
    return parse_qs(urlparse(page.url).query).get("z", [None])[0]


def shot(page: Page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"))


def test_a_two_second_slider_drag_morphs_the_image_every_frame_and_reruns_the_server_once(page, app_url):
    open_map(page, app_url + "/map")
    wait_runtime(page)
    box = slider_box(page, 0)
    y = box["y"] + box["height"] / 2
    x0, x1 = box["x"] + 8, box["x"] + box["width"] - 8
    page.evaluate(WATCH, MAP_FRAME)
    page.mouse.move(x0, y)
    page.mouse.down()
    steps = 120  # about 2 s at one move a frame
    for i in range(1, steps + 1):
        page.mouse.move(x0 + (x1 - x0) * i / steps, y)
        page.evaluate("() => new Promise((r) => requestAnimationFrame(() => r()))")
        if i == steps // 2:
            shot(page, "map-mid-drag")
    during = page.evaluate(WATCHED)
    page.mouse.up()
    assert during["images"] >= 30, during
    assert during["runs"] <= 2, during  # the server hears the release, not the drag
    assert address_z(page) == "0,0"
    # on release the address follows: the slider went to its right end
    page.wait_for_function("() => parseFloat(new URLSearchParams(location.search).get('z')) > 3", timeout=30_000)


def test_hovering_the_map_decodes_the_point_under_the_pointer_and_leaving_restores_the_pinned_one(page, app_url):
    open_map(page, app_url + "/map")
    wait_runtime(page)
    pinned = canvas_image(page)
    plot = map_frame(page).locator(".nsewdrag").first.bounding_box()
    assert plot is not None
    page.mouse.move(plot["x"] + plot["width"] * 0.2, plot["y"] + plot["height"] * 0.25)
    page.mouse.move(plot["x"] + plot["width"] * 0.22, plot["y"] + plot["height"] * 0.27)
    page.wait_for_function(
        CHANGED,
        arg=[MAP_FRAME, pinned],
        timeout=10_000,
    )
    shot(page, "map-mid-hover")
    page.mouse.move(5, 5)  # off the chart
    page.wait_for_function(
        RESTORED,
        arg=[MAP_FRAME, pinned],
        timeout=10_000,
    )


def test_a_code_from_the_server_moves_the_sliders(page, app_url):
    open_map(page, app_url + "/map?z=1.5,-1")
    values = map_frame(page).locator("#sliders span")
    expect(values).to_have_text(["1.50", "-1.00"], timeout=TIMEOUT)  # the link's point
    page.get_by_role("button", name="Centre").click()
    expect(values).to_have_text(["0.00", "0.00"], timeout=30_000)
    page.wait_for_function("() => new URLSearchParams(location.search).get('z') === '0,0'", timeout=30_000)


@pytest.mark.parametrize("projection", ["PCA", "UMAP"])
def test_hovering_a_sixteen_dimensional_map_decodes_under_the_pointer(page, app_url, projection):
    open_map(page, app_url + "/map?model=mnist-vae-z16")
    if projection == "UMAP":
        page.locator("[data-testid='stButtonGroup']").get_by_text("UMAP", exact=True).click()
        expect(page.get_by_text("UMAP has no inverse")).to_be_visible(timeout=TIMEOUT)
        expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
            "data-test-script-state", "notRunning", timeout=TIMEOUT
        )
    wait_runtime(page)
    pinned = canvas_image(page)
    plot = map_frame(page).locator(".nsewdrag").first.bounding_box()
    assert plot is not None
    for i in range(20):  # across the map, until the image under the pointer differs from the pinned one
        page.mouse.move(plot["x"] + plot["width"] * (0.1 + 0.04 * i), plot["y"] + plot["height"] * 0.4)
        page.evaluate("() => new Promise((r) => requestAnimationFrame(() => r()))")
    page.wait_for_function(CHANGED, arg=[MAP_FRAME, pinned], timeout=10_000)
    shot(page, f"map-z16-{projection.lower()}-hover")
    page.mouse.move(5, 5)
    page.wait_for_function(RESTORED, arg=[MAP_FRAME, pinned], timeout=10_000)


OVERLAY = """(gd) => { const tiles = document.getElementById('tiles');
  const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; };
  return {decodes: window.__overlayDecodes || 0, x: gd._fullLayout.xaxis.range, y: gd._fullLayout.yaxis.range,
          range: tiles && tiles.dataset.range ? JSON.parse(tiles.dataset.range) : null,
          shown: tiles !== null && getComputedStyle(tiles).display !== 'none',
          box: tiles ? box(tiles) : null, plot: box(gd.querySelector('.nsewdrag')),
          under_points: tiles !== null && tiles.parentElement.nextElementSibling === gd.querySelector('.gl-container'),
          pixels: tiles ? tiles.toDataURL() : null}; }"""


def test_the_manifold_overlay_is_decoded_again_for_the_view_after_a_zoom(page, app_url):
    open_map(page, app_url + "/map")
    page.get_by_text("Manifold overlay").click()
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=TIMEOUT
    )
    wait_runtime(page)
    frame = map_frame(page)
    chart = frame.locator(".js-plotly-plot")
    page.wait_for_function(  # Python's tiles first
        "(sel) => (document.querySelector(sel).contentDocument.querySelector('.js-plotly-plot').layout.images || [])"
        ".length > 100",
        arg=MAP_FRAME,
        timeout=TIMEOUT,
    )
    state = chart.evaluate(OVERLAY)
    assert state["decodes"] == 0 and not state["shown"]
    sheets = []
    for zooms in (1, 2):
        chart.hover()
        frame.locator(".modebar-btn[data-attr='zoom'][data-val='in']").click()
        page.wait_for_function(
            "([sel, n]) => document.querySelector(sel).contentWindow.__overlayDecodes >= n",
            arg=[MAP_FRAME, zooms],
            timeout=10_000,
        )
        state = chart.evaluate(OVERLAY)
        (x0, x1), (y0, y1) = state["x"], state["y"]
        assert state["range"] == pytest.approx([x0, x1, y0, y1])  # decoded for the visible range
        assert state["shown"] and state["under_points"]
        assert state["box"] == pytest.approx(state["plot"], abs=1.5)  # and covering the plot area
        sheets.append(state["pixels"])
    assert sheets[0] != sheets[1]
    shot(page, "map-overlay-zoomed")
    # A pan: while it drags the tiles move with the data; on release they are decoded for the new view.
    area = frame.locator(".nsewdrag").first.bounding_box()  # in the page, for the mouse
    assert area is not None
    middle = (area["x"] + area["width"] / 2, area["y"] + area["height"] / 2)
    page.mouse.move(*middle)
    page.mouse.down()
    for step in range(1, 7):
        page.mouse.move(middle[0] + 10 * step, middle[1])
    dragging = chart.evaluate(OVERLAY)
    assert dragging["decodes"] == 2 and dragging["box"][0] > state["plot"][0] + 30  # the old tiles, moved right
    page.mouse.up()
    page.wait_for_function(
        "(sel) => document.querySelector(sel).contentWindow.__overlayDecodes >= 3", arg=MAP_FRAME, timeout=10_000
    )
    state = chart.evaluate(OVERLAY)
    (x0, x1), (y0, y1) = state["x"], state["y"]
    assert state["range"] == pytest.approx([x0, x1, y0, y1])
    assert state["box"] == pytest.approx(state["plot"], abs=1.5)


def test_with_the_runtime_blocked_the_server_decodes_and_says_so(page, app_url):
    page.route("**/*.wasm", lambda route: route.abort())
    open_map(page, app_url + "/map")
    expect(page.get_by_text("Decoding in the browser is unavailable here")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=TIMEOUT
    )
    frame = map_frame(page)
    before = canvas_image(page)
    slider = frame.locator("#sliders input").first
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        CHANGED,
        arg=[MAP_FRAME, before],
        timeout=30_000,
    )
    assert frame.locator("body").evaluate("() => window.__decodedFrames") == 0  # the server's image, not ours
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
