"""/elbo in headless Chromium against a real server: a click on a model's point of the rate–distortion plane opens
that model on the latent map."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

from vae.sweep import BETAS, sweep_name

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TIMEOUT = 90_000  # ms; the first visit loads torch, the models and the atlases
SHOTS = os.environ.get("VAE_SCREENSHOTS")  # a folder: save 1280x800 screenshots there

# The page position of the point of the trace named `trace` whose customdata is `name`, from Plotly's own axes.
POINT_AT = """([trace, name]) => {
  for (const gd of document.querySelectorAll(".js-plotly-plot")) {
    const t = (gd._fullData || []).find((d) => d.name === trace);
    if (!t) continue;
    const i = Array.from(t.customdata).indexOf(name);
    const L = gd._fullLayout, box = gd.querySelector(".nsewdrag").getBoundingClientRect();
    return [box.left + L.xaxis.d2p(t.x[i]), box.top + L.yaxis.d2p(t.y[i])];
  }
  return null;
}"""


def plane(page: Page, url: str, model: str) -> None:
    page.goto(f"{url}/elbo?model={model}")
    expect(page.get_by_text("models on the rate–distortion plane")).to_be_visible(timeout=TIMEOUT)
    page.locator(".js-plotly-plot .nsewdrag").first.scroll_into_view_if_needed()
    page.wait_for_function(f"() => ({POINT_AT})(['β sweep', '{model}']) !== null", timeout=TIMEOUT)


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_a_click_on_a_point_of_the_plane_opens_that_model_on_the_map(page, app_url, dataset):
    plane(page, app_url, sweep_name(dataset, 1.0))
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"elbo-plane-{dataset}.png"))
    target = sweep_name(dataset, 4.0)
    x, y = page.evaluate(POINT_AT, ["β sweep", target])
    page.mouse.click(x, y)
    page.wait_for_url(f"**/map?model={target}*", timeout=TIMEOUT)
    expect(page.get_by_text("Unknown model")).to_have_count(0)
    caption = page.locator("[data-testid='stSidebar'] [data-testid='stCaptionContainer']").first
    expect(caption).to_contain_text("β=4", timeout=TIMEOUT)
    # back on /elbo the old click is forgotten: the page stays
    page.get_by_role("link", name="The ELBO's trade-off").click()
    expect(page.get_by_text("models on the rate–distortion plane")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(SLIDER)).to_be_visible(timeout=TIMEOUT)
    assert "/elbo" in page.url


SLIDER = "iframe[title$='beta_sweep']"


def sweep_frame(page: Page, url: str, model: str, mode: str):
    """Open /elbo for `model` and return the β slider's frame once its sweep is drawn in `mode`."""
    page.goto(f"{url}/elbo?model={model}")
    expect(page.locator(SLIDER)).to_be_visible(timeout=TIMEOUT)
    page.locator(SLIDER).scroll_into_view_if_needed()
    frame = page.locator(SLIDER).element_handle().content_frame()
    frame.wait_for_function(f"window.__betaMode === '{mode}'", timeout=TIMEOUT)
    return frame


WATCH_RUNS = """() => {
  const w = window.__runs = {n: 0};
  new MutationObserver(() => {
    const app = document.querySelector('[data-test-script-state]');
    if (app && app.getAttribute('data-test-script-state') === 'running') w.n += 1;
  }).observe(document.body, {attributes: true, subtree: true, attributeFilter: ['data-test-script-state']});
}"""


@pytest.mark.parametrize("mode", ["live", "server"])
def test_the_beta_slider_swaps_the_map_grid_and_samples_in_place(page, app_url, mode):
    if mode == "server":  # the runtime's files blocked: the server's images
        page.route("**/tf-core.es2017.min.js", lambda route: route.abort())
    frame = sweep_frame(page, app_url, sweep_name("mnist", 1.0), mode)
    labels = frame.locator("#ticks span").all_inner_texts()
    assert labels == ["AE"] + [f"β = {b:g}" for b in BETAS]
    assert frame.evaluate("window.__betaIndex") == 4 and frame.locator("#label").inner_text() == "β = 1"
    digests = {4: frame.evaluate("window.__betaDigest()")}
    frame.locator("#beta").focus()
    page.evaluate(WATCH_RUNS)
    before = frame.evaluate("window.__betaSwaps")
    for key, index in (("ArrowRight", 5), ("ArrowRight", 6), ("ArrowRight", 7), ("Home", 0)):
        page.keyboard.press(key)
        frame.wait_for_function(f"window.__betaIndex === {index}", timeout=10_000)
        digests[index] = frame.evaluate("window.__betaDigest()")
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"elbo-slider-{mode}.png"))
    assert frame.evaluate("window.__betaSwaps") - before == 4
    assert len(set(digests.values())) == 5  # every model's grid differs
    assert frame.locator("#label").inner_text() == "AE"
    # each press is also a release: the server hears the index and names that model on its button
    expect(page.get_by_role("button", name="Open AE on the latent map")).to_be_visible(timeout=TIMEOUT)
    assert frame.evaluate("window.__betaMode") == mode  # the frame was not reloaded by the reruns


def test_dragging_the_beta_slider_swaps_without_a_script_run_until_the_release(page, app_url):
    frame = sweep_frame(page, app_url, sweep_name("fashion-mnist", 1.0), "live")
    box = page.locator(SLIDER).element_handle().content_frame().locator("#beta").bounding_box()
    y = box["y"] + box["height"] / 2
    page.evaluate(WATCH_RUNS)
    page.mouse.move(box["x"] + 4, y)
    page.mouse.down()
    seen = set()
    for i in range(41):
        page.mouse.move(box["x"] + 4 + (box["width"] - 8) * i / 40, y)
        seen.add(frame.evaluate("window.__betaIndex"))
    runs = page.evaluate("window.__runs.n")
    page.mouse.up()
    assert seen == set(range(8)) and runs == 0
    expect(page.get_by_role("button", name="Open β = 8 on the latent map")).to_be_visible(timeout=TIMEOUT)


GRID_PIXELS = """() => {
  const c = document.getElementById('grid');
  return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0));
}"""


@pytest.mark.parametrize("mode", ["live", "server"])
def test_the_beta_sliders_grid_is_the_images_pytorch_decodes(page, app_url, checkpoints_dir, mode):
    from statistics import NormalDist

    import numpy as np

    from pages.beta_sweep import GRID, QUANTILE
    from vae import latent
    from vae.checkpoint import load_model
    from vae.sweep import SWEEP_DIR

    if mode == "server":
        page.route("**/tf-core.es2017.min.js", lambda route: route.abort())
    name = sweep_name("fashion-mnist", 2.0)
    frame = sweep_frame(page, app_url, name, mode)
    shown = np.array(frame.evaluate(GRID_PIXELS), dtype=np.float64).reshape(GRID * 28, GRID * 28)
    model, _ = load_model(checkpoints_dir / SWEEP_DIR / name)
    codes = latent.manifold_grid(GRID, NormalDist().inv_cdf(QUANTILE), "gaussian").reshape(-1, 2)
    tiles = latent.decode(model, codes.astype(np.float32)).reshape(GRID, GRID, 28, 28) * 255
    expected = tiles.transpose(0, 2, 1, 3).reshape(GRID * 28, GRID * 28)
    assert np.abs(shown - expected).mean() < 2.0  # grey levels, of 255
