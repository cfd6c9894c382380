"""/elbo in headless Chromium against a real server: a click on a model's point of the rate–distortion plane opens
that model on the latent map."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

from vae.sweep import sweep_name

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
