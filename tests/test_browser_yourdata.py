"""End to end in headless Chromium: upload a PNG through the real /image page; open /anomaly and move its threshold."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_upload_a_png_and_see_the_reconstruction(app_url, page, tmp_path, data_dir):
    from vae.data import load_split

    digit = load_split("mnist", False, data_dir).images.numpy()[0]
    path = tmp_path / "digit.png"
    Image.fromarray(255 - digit).resize((280, 280), Image.Resampling.LANCZOS).save(path)  # dark ink on paper

    page.goto(f"{app_url}/image")
    page.wait_for_selector("[data-testid='stFileUploader']", timeout=120_000)
    page.set_input_files("[data-testid='stFileUploader'] input[type=file]", str(path))
    page.get_by_text("Its reconstruction").wait_for(timeout=120_000)

    column = page.locator("[data-testid='stColumn']", has=page.get_by_text("Its reconstruction")).last
    picture = column.locator("img").first
    picture.wait_for(timeout=60_000)
    assert picture.evaluate("img => img.complete && img.naturalWidth") >= 28
    source = picture.evaluate(
        "img => { const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;"
        " const g = c.getContext('2d'); g.drawImage(img, 0, 0);"
        " return Array.from(g.getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0)); }"
    )
    pixels = np.array(source)
    assert pixels.max() > 100 and pixels.min() < 50  # a light reconstruction on a dark field, not an empty box
    assert page.get_by_text("the threshold").count() >= 1
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0


def test_a_bad_file_gives_one_sentence_and_the_server_keeps_serving(app_url, page, tmp_path):
    bad = tmp_path / "drawing.png"
    bad.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"></svg>')
    page.goto(f"{app_url}/image")
    page.wait_for_selector("[data-testid='stFileUploader']", timeout=120_000)
    page.set_input_files("[data-testid='stFileUploader'] input[type=file]", str(bad))
    page.get_by_text("The file is an SVG drawing").wait_for(timeout=120_000)
    assert page.locator("[data-testid='stException']").count() == 0

    good = tmp_path / "square.png"
    buf = io.BytesIO()
    Image.fromarray(np.pad(np.full((40, 40), 255, np.uint8), 30)).save(buf, format="PNG")
    good.write_bytes(buf.getvalue())
    page.set_input_files("[data-testid='stFileUploader'] input[type=file]", str(good))
    page.get_by_text("Its reconstruction").wait_for(timeout=120_000)
    assert page.locator("[data-testid='stException']").count() == 0


def test_anomaly_page_opens_and_its_threshold_moves(app_url, page):
    page.goto(f"{app_url}/anomaly")
    page.get_by_text("When likelihood gets it backwards").wait_for(timeout=120_000)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=120_000)
    assert page.locator("[data-testid='stException']").count() == 0  # histogram, ROC and complexity drawn, no error

    false_alarms = page.locator("[data-testid='stMetric']", has_text="False alarms").locator(
        "[data-testid='stMetricValue']"
    )
    assert false_alarms.inner_text() == "1.0%"
    page.locator("[data-testid='stSlider'] input[type=range]").first.focus()
    page.keyboard.press("Home")  # the lowest threshold: nearly everything is flagged
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stMetric]')].some(m => m.innerText.includes('False alarms')"
        " && !m.innerText.includes('1.0%'))",
        timeout=60_000,
    )
    assert float(false_alarms.inner_text().rstrip("%")) > 90
    assert page.locator("[data-testid='stException']").count() == 0
