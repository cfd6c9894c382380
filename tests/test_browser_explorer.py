"""The explorer pages in headless Chromium against the real Streamlit server (conftest's `app_url` and `page`)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from bench.browser import MAP_FRAME, map_frame

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PAGES = {"/map": "Latent map", "/": "VAE Latent Explorer", "/interpolate": "Interpolation", "/compare": "VAE vs AE"}
TIMEOUT = 90_000  # ms; the first visit loads torch, the models and the atlases


def open_page(page: Page, url: str, title: str) -> None:
    """Go to `url` and wait until the page's script has finished."""
    page.goto(url)
    expect(page.get_by_role("heading", name=title)).to_be_visible(timeout=TIMEOUT)
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=TIMEOUT
    )
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


@pytest.mark.parametrize(("path", "title"), PAGES.items())
def test_page_opens_with_the_navigation_and_no_exception(page, app_url, path, title):
    open_page(page, app_url + path, title)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("Latent map")).to_be_visible()
    expect(sidebar.get_by_text("Dataset")).to_be_visible()  # app.py ran: the model picker is there
    if path == "/interpolate":
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=TIMEOUT)
    if path == "/compare":  # both maps, in the hover component's frame
        maps = page.frame_locator("iframe[title$='compare_maps']").locator(".js-plotly-plot")
        expect(maps).to_have_count(2, timeout=TIMEOUT)
    if path == "/map":
        expect(map_frame(page).locator(".js-plotly-plot")).to_be_visible(timeout=TIMEOUT)


def decoded_image(page: Page):
    """The decoded point: the canvas in the map chart's panel."""
    return map_frame(page).locator("#decoded")


def pixels(image) -> str:
    return image.evaluate("(c) => c.toDataURL()")


def wait_changed(page: Page, before: str) -> None:
    """Until the decoded image shows other pixels than `before` (a data: URI of the canvas)."""
    page.wait_for_function(
        "([sel, before]) => document.querySelector(sel).contentDocument.getElementById('decoded').toDataURL()"
        " !== before",
        arg=[MAP_FRAME, before],
        timeout=30_000,
    )


def z1_slider(page: Page):
    return map_frame(page).locator("#sliders input").first


def test_map_and_decoded_image_are_visible_together_at_1280x800(page, app_url):
    open_page(page, app_url + "/map", "Latent map")
    plot = map_frame(page).locator(".nsewdrag").first
    expect(plot).to_be_visible(timeout=TIMEOUT)
    for box in (plot.bounding_box(), decoded_image(page).bounding_box()):
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 800, box


def test_moving_a_slider_with_the_keyboard_decodes_a_new_image(page, app_url):
    open_page(page, app_url + "/map", "Latent map")
    before = pixels(decoded_image(page))
    slider = z1_slider(page)
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    wait_changed(page, before)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


CHART_STATE = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  if (!gd.__redraws) { gd.__redraws = 0; gd.on('plotly_afterplot', () => { gd.__redraws += 1; }); }
  const ring = (gd.layout.shapes || []).find((s) => s.type === 'circle');
  return {redraws: gd.__redraws, crosshair: ring ? [ring.xanchor, ring.yanchor] : null};
}"""


def test_a_slider_move_moves_the_crosshair_without_redrawing_the_points(page, app_url):
    open_page(page, app_url + "/map", "Latent map")
    expect(map_frame(page).locator(".js-plotly-plot")).to_be_visible(timeout=TIMEOUT)
    chart = map_frame(page).locator(".js-plotly-plot")
    before = chart.evaluate(CHART_STATE)
    assert before["crosshair"] == [0, 0]
    slider = z1_slider(page)
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "(sel) => { const gd = document.querySelector(sel).contentDocument.querySelector('.js-plotly-plot');"
        " const ring = gd.layout.shapes.find((s) => s.type === 'circle'); return ring && ring.xanchor > 0; }",
        arg=MAP_FRAME,
        timeout=30_000,
    )
    after = chart.evaluate(CHART_STATE)
    assert after["crosshair"][0] > 0 and after["crosshair"][1] == 0
    assert after["redraws"] == 0  # the points were not drawn again


def test_clicking_empty_space_on_the_map_decodes_that_spot(page, app_url):
    open_page(page, app_url + "/map", "Latent map")
    plot = map_frame(page).locator(".nsewdrag").first
    expect(plot).to_be_visible(timeout=TIMEOUT)
    before = pixels(decoded_image(page))
    box = plot.bounding_box()
    page.mouse.click(box["x"] + 0.92 * box["width"], box["y"] + 0.08 * box["height"])  # top right: no test codes
    wait_changed(page, before)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_a_box_selection_shows_its_images_and_rings_them_on_the_map(page, app_url):
    open_page(page, app_url + "/map", "Latent map")
    frame = map_frame(page)
    chart = frame.locator(".js-plotly-plot")
    expect(chart).to_be_visible(timeout=TIMEOUT)
    chart.hover()
    frame.locator(".modebar-btn[data-attr='dragmode'][data-val='select']").click()
    box = frame.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.7 * box["height"], steps=8)
    page.mouse.up()
    expect(page.get_by_text("images selected")).to_be_visible(timeout=30_000)
    page.wait_for_function(
        "(sel) => document.querySelector(sel).contentDocument.querySelector('.js-plotly-plot').data"
        ".some((t) => t.name === 'selected')",
        arg=MAP_FRAME,
        timeout=30_000,
    )
    state = chart.evaluate(
        "(gd) => ({rings: gd.data.find((t) => t.name === 'selected').x.length,"
        " dimmed: gd.data.some((t) => t.selectedpoints), boxes: (gd.layout.selections || []).length})"
    )
    shown = int(page.get_by_text("images selected").inner_text().split()[0].replace(",", ""))
    assert state == {"rings": shown, "dimmed": False, "boxes": 0}, state  # rings, not Plotly's own dimming


AXES = "(gd) => [gd.layout.xaxis.range.slice(), gd.layout.yaxis.range.slice()]"


def wait_for_crosshair_at(page: Page, chart, px: float) -> None:
    """Wait until the crosshair's ring stands at pixel column `px` of the plot area (within 0.1 in map units)."""
    x = chart.evaluate("(gd, px) => gd._fullLayout.xaxis.p2d(px)", px)
    page.wait_for_function(
        "([sel, x]) => { const gd = document.querySelector(sel).contentDocument.querySelector('.js-plotly-plot');"
        " const ring = gd.layout.shapes.find((s) => s.type === 'circle');"
        " return ring && Math.abs(ring.xanchor - x) < 0.1; }",
        arg=[MAP_FRAME, x],
        timeout=30_000,
    )


def test_quick_clicks_on_two_spots_keep_the_zoom_and_a_double_click_resets_it(page, app_url):
    open_page(page, app_url + "/map", "Latent map")
    frame = map_frame(page)
    chart = frame.locator(".js-plotly-plot")
    expect(chart).to_be_visible(timeout=TIMEOUT)
    home = chart.evaluate(AXES)
    chart.hover()
    frame.locator(".modebar-btn[data-attr='zoom'][data-val='in']").click()
    zoomed = chart.evaluate(AXES)
    assert zoomed[0][1] - zoomed[0][0] < 0.75 * (home[0][1] - home[0][0])
    box = frame.locator(".nsewdrag").first.bounding_box()
    first, second = (
        (box["x"] + 0.3 * box["width"], box["y"] + 0.5 * box["height"]),
        (box["x"] + 0.7 * box["width"], box["y"] + 0.4 * box["height"]),
    )
    page.mouse.click(*first)
    page.mouse.click(*second)  # well within Plotly's 300 ms double-click window
    wait_for_crosshair_at(page, chart, second[0] - box["x"])  # the second click was decoded...
    assert chart.evaluate(AXES) == zoomed  # ...and the zoom kept
    page.mouse.dblclick(*first)
    page.wait_for_function(
        "([sel, home]) => { const gd = document.querySelector(sel).contentDocument.querySelector('.js-plotly-plot');"
        " return JSON.stringify([gd.layout.xaxis.range, gd.layout.yaxis.range]) === JSON.stringify(home); }",
        arg=[MAP_FRAME, home],
        timeout=30_000,
    )
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_a_fast_second_click_is_not_taken_for_the_point_under_the_first(page, app_url):
    open_page(page, app_url + "/map", "Latent map")
    frame = map_frame(page)
    chart = frame.locator(".js-plotly-plot")
    expect(chart).to_be_visible(timeout=TIMEOUT)
    box = frame.locator(".nsewdrag").first.bounding_box()
    on_point = chart.evaluate(  # the pixel position of the test image nearest the plot's centre
        """(gd) => { const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, t = gd._fullData[0];
          const c = [xa._length / 2, ya._length / 2];
          let best = null;
          t.x.forEach((x, i) => { const p = [xa.d2p(x), ya.d2p(t.y[i])];
            const d = Math.hypot(p[0] - c[0], p[1] - c[1]); if (!best || d < best.d) best = {d, p}; });
          return best.p; }"""
    )
    empty = (box["x"] + 0.92 * box["width"], box["y"] + 0.08 * box["height"])  # top right: no test codes
    page.mouse.move(box["x"] + on_point[0], box["y"] + on_point[1])
    expect(frame.locator(".hoverlayer .hovertext")).to_be_visible(timeout=30_000)  # Plotly hovers the point
    page.mouse.down()
    page.mouse.up()
    page.mouse.click(*empty)  # faster than Plotly's hover follows the pointer
    wait_for_crosshair_at(page, chart, empty[0] - box["x"])
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_a_map_figure_that_cannot_load_is_one_sentence_and_the_decoded_image_still_shows(page, app_url):
    page.route("**/published/*.json", lambda route: route.abort())
    open_page(page, app_url + "/map", "Latent map")
    problem = map_frame(page).locator("#problem")
    expect(problem).to_have_text(
        "The map could not be drawn: its figure did not load (no answer from the server). "
        "Reload the page to try again.",
        timeout=TIMEOUT,
    )
    page.wait_for_function(  # Python's decode of the centre, in the panel
        "(sel) => document.querySelector(sel).contentWindow.__firstImageAt > 0", arg=MAP_FRAME, timeout=TIMEOUT
    )
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
