"""Drawing on /image in headless Chromium: the pad prepares, encodes and decodes every stroke in the browser, as the
Python pipeline would, and hands the board to the server only when a stroke ends; without the runtime the server
does it all."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from vae import images

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PAD = "[data-testid='stMain'] iframe[title$='draw_pad']"
SEVEN = [(70, 70), (130, 66), (200, 64), (185, 120), (160, 170), (140, 215)]  # a '7' on the 280 x 280 board
BAR = [(105, 140), (150, 138), (195, 136)]


def open_pad(page, app_url, query: str = ""):
    page.goto(f"{app_url}/image{query}")
    page.locator("[data-testid='stButtonGroup'] button", has_text="Draw").click(timeout=120_000)
    page.wait_for_selector(PAD, timeout=120_000)
    return page.frame_locator(PAD)


def pad_value(page, expression: str):
    """Evaluate `expression` in the pad's frame."""
    return page.frame_locator(PAD).locator("body").evaluate(f"() => {expression}")


def stroke(page, pad, points, finish: bool = True) -> None:
    """Draw through `points` (board pixels) with the mouse; leave the button down if not `finish`."""
    box = pad.locator("#board").bounding_box()
    at = [(box["x"] + x * box["width"] / 280, box["y"] + y * box["height"] / 280) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=6)
    if finish:
        page.mouse.up()


def canvas_sum(page, selector: str) -> int:
    return pad_value(
        page,
        f"{{ const c = document.querySelector('{selector}'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i];"
        " return s; }",
    )


def board_rgba(page) -> np.ndarray:
    url = pad_value(page, "document.getElementById('board').toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))


def server_reconstruction(page) -> np.ndarray:
    """The grey levels of the reconstruction the server drew beside the pad."""
    page.get_by_text("Its reconstruction").wait_for(timeout=120_000)
    column = page.locator("[data-testid='stColumn']", has=page.get_by_text("Its reconstruction")).last
    picture = column.locator("img").first
    picture.wait_for(timeout=60_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=picture.element_handle())
    return np.array(
        picture.evaluate(
            "img => { const c = document.createElement('canvas'); c.width = img.naturalWidth;"
            " c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);"
            " return Array.from(g.getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0)); }"
        )
    )


def test_drawing_updates_the_reconstruction_and_posterior_live_and_the_server_only_at_stroke_end(
    app_url, page, tmp_path
):
    sent_to_server: list[float] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda _: sent_to_server.append(1)))
    pad = open_pad(page, app_url)
    page.wait_for_function(
        f'() => {{ const w = document.querySelector("{PAD}").contentWindow;'
        " return w.__live === 'on' && w.document.querySelector('#map .main-svg'); }",
        timeout=120_000,
    )
    page.get_by_text("Nothing drawn yet.").wait_for()
    assert canvas_sum(page, "#recon") == 0

    frames_before = len(sent_to_server)
    stroke(page, pad, SEVEN, finish=False)
    page.wait_for_function(f'() => document.querySelector("{PAD}").contentWindow.__updates >= 2', timeout=30_000)
    page.screenshot(path=tmp_path / "drawing.png")  # mid-stroke, 1280 x 800
    assert canvas_sum(page, "#recon") > 0  # the browser model reconstructed the half-drawn digit
    first = pad_value(page, "window.__posterior")
    assert np.isfinite(first["mean"]).all() and first["cov"] is not None
    assert pad_value(page, "window.__sent") == 0
    assert len(sent_to_server) == frames_before  # nothing reached the server while the pen was down
    assert page.get_by_text("Nothing drawn yet.").is_visible()

    page.mouse.up()
    assert server_reconstruction(page).max() > 100  # the stroke's end reran the page on the server
    assert pad_value(page, "window.__sent") == 1

    browser_input = np.array(pad_value(page, "window.__prepared"), dtype=np.float64).reshape(28, 28)
    python_input = images.prepare_array(board_rgba(page), "mnist").pixels.astype(np.float64)
    assert np.abs(browser_input - python_input).mean() <= 2.0
    assert browser_input.max() == 255

    recon_before, posterior_before = canvas_sum(page, "#recon"), pad_value(page, "window.__posterior")
    stroke(page, pad, BAR)
    page.wait_for_function(f'() => document.querySelector("{PAD}").contentWindow.__sent === 2', timeout=30_000)
    assert canvas_sum(page, "#recon") != recon_before
    assert pad_value(page, "window.__posterior")["mean"] != posterior_before["mean"]
    browser_input = np.array(pad_value(page, "window.__prepared"), dtype=np.float64).reshape(28, 28)
    python_input = images.prepare_array(board_rgba(page), "mnist").pixels.astype(np.float64)
    assert np.abs(browser_input - python_input).mean() <= 2.0
    assert page.locator("[data-testid='stException']").count() == 0


def test_without_the_runtime_the_pad_says_so_in_one_line_and_the_server_reconstructs(app_url, page):
    page.route("**/*.wasm", lambda route: route.abort())
    page.route("**/tf-*.js", lambda route: route.abort())
    pad = open_pad(page, app_url)
    pad.get_by_text("Live preview off").wait_for(timeout=120_000)

    stroke(page, pad, SEVEN)
    assert server_reconstruction(page).max() > 100
    assert pad_value(page, "window.__updates") == 0
    assert pad_value(page, "window.__live") == "off"
    assert page.locator("[data-testid='stException']").count() == 0


def test_a_16_dimensional_model_places_the_drawing_on_the_pca_plane_as_python_does(app_url, page, checkpoints_dir):
    import torch

    from vae.anomaly import posterior_on_map
    from vae.checkpoint import load_atlas, load_model
    from vae.latent import map_projection

    pad = open_pad(page, app_url, "?model=fashion-mnist-vae-z16")
    page.wait_for_function(
        f'() => {{ const w = document.querySelector("{PAD}").contentWindow;'
        " return w.__live === 'on' && w.document.querySelector('#map .main-svg'); }",
        timeout=120_000,
    )
    stroke(page, pad, [(60, 60), (220, 60), (220, 220), (60, 220), (60, 62)])  # a square bag
    server_reconstruction(page)

    browser_input = np.array(pad_value(page, "window.__prepared"), dtype=np.uint8).reshape(28, 28)
    python_input = images.prepare_array(board_rgba(page), "fashion-mnist").pixels
    assert np.abs(browser_input.astype(float) - python_input).mean() <= 2.0

    folder = checkpoints_dir / "fashion-mnist-vae-z16"
    model = load_model(folder)[0]
    with torch.no_grad():
        mu, logvar = model.encode(torch.from_numpy(browser_input).float().div(255)[None, None])
    mean, cov = posterior_on_map(mu[0].numpy(), logvar[0].numpy(), map_projection(load_atlas(folder), "pca"))
    posterior = pad_value(page, "window.__posterior")
    # the browser runs the float16 web export of the same weights
    assert np.allclose(posterior["mean"], mean, atol=0.05 * (1 + np.abs(mean).max()))
    assert np.allclose(posterior["cov"], cov, rtol=0.1, atol=1e-3)


def drawings() -> list[tuple[str, np.ndarray]]:
    """Varied RGBA drawings that walk every branch of the preparation: dark ink on paper (inverted), transparency
    (composited), blurred and thin strokes, a small drawing (scaled up), a wide one, both datasets' framing."""
    from PIL import ImageDraw, ImageFilter

    rng = np.random.default_rng(12)
    out = []
    for i, (w, h) in enumerate([(280, 280), (280, 280), (200, 120), (90, 90), (280, 280), (160, 240)]):
        paper, ink = ((255, 255, 255, 255), (20, 20, 20, 255)) if i % 3 == 1 else ((0, 0, 0, 255), (255, 255, 255, 255))
        if i == 4:
            paper, ink = (0, 0, 0, 0), (250, 240, 230, 255)  # light ink on a transparent board
        image = Image.new("RGBA", (w, h), paper)
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(1, 4))):
            points = [tuple(int(v) for v in rng.integers(8, [w - 8, h - 8])) for _ in range(int(rng.integers(2, 5)))]
            draw.line(points, fill=ink, width=int(rng.integers(2, 20)), joint="curve")
        if i % 2 == 0:
            image = image.filter(ImageFilter.GaussianBlur(1.5))
        out.append(("mnist" if i % 2 == 0 else "fashion-mnist", np.asarray(image)))
    return out


def test_the_browser_prepares_any_drawing_as_the_python_pipeline_does(app_url, page):
    open_pad(page, app_url)
    page.wait_for_function(f'() => document.querySelector("{PAD}").contentWindow.prepareDrawing', timeout=120_000)
    for dataset, rgba in [*drawings(), ("mnist", np.zeros((280, 280, 4), np.uint8) + [0, 0, 0, 255])]:
        h, w = rgba.shape[:2]
        pixels, mnist = rgba.astype(int).ravel().tolist(), str(dataset == "mnist").lower()
        call = f"prepareDrawing(Uint8ClampedArray.from({pixels}), {w}, {h}, {{mnist: {mnist}}})"
        browser = pad_value(page, f"(r => r && Array.from(r))({call})")
        try:
            python = images.prepare_array(rgba, dataset).pixels.astype(np.float64)
        except images.ImageError:  # blank: nothing to prepare
            assert browser is None
            continue
        assert np.abs(np.array(browser, dtype=np.float64).reshape(28, 28) - python).mean() <= 2.0, dataset
