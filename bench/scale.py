"""Scale: the latent map with all 70,000 images (train and test) against the 10,000 the app shows.

Reports the figure's payload (the Plotly JSON the map chart gets, raw and gzip-compressed) and, in headless
Chromium against `streamlit run bench/scale_app.py` (the app's map chart alone), the time to draw it and to
answer an interaction:
  load    navigation -> map plotted (server run, transfer, parse, WebGL draw)
  click   a click on the map -> the server's rerun answered on the page ("1 selected")
  zoom    the modebar's zoom-in button (client side only) -> redrawn
Variants are interleaved in each repeat.

    python -m bench.scale                      # mnist-vae-z2, 5 repeats
    python -m bench.scale --model fashion-mnist-vae-z16 --repeats 3 --json scale.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
from pathlib import Path

import numpy as np
import torch

from bench.browser import MAP_FRAME, chromium, map_frame, new_page
from bench.server import machine, percentiles, print_table, running_app
from vae import figures, latent
from vae.checkpoint import load_atlas, load_model
from vae.data import CLASS_NAMES, load_split

VARIANTS = (10_000, 70_000)


@torch.no_grad()
def map_coords(folder: str, n: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Map positions (n, 2) and labels of the test images, then (n > 10,000) the training images, as the app maps."""
    model, card = load_model(folder)
    atlas = load_atlas(folder)
    projection = latent.map_projection(atlas)
    codes, labels = [atlas["mu"]], [atlas["labels"]]
    if n > len(atlas["mu"]):
        train = load_split(card["dataset"], train=True, root=data_dir)
        mu = torch.cat([model.encode(x)[0] for x in train.as_float().split(2000)]).numpy()
        codes.append(mu[: n - len(atlas["mu"])])
        labels.append(train.labels.numpy()[: n - len(atlas["mu"])])
    return projection.to_map(np.concatenate(codes)), np.concatenate(labels)


def map_figure(folder: str, n: int, data_dir: str | None = None):
    """The /map figure (the class points; the chart draws the crosshair) over n images."""
    coords, labels = map_coords(folder, n, data_dir)
    card_dataset = load_model(folder)[1]["dataset"]
    return figures.latent_map_figure(coords, labels, CLASS_NAMES[card_dataset], height=470)


def payload(figure) -> dict:
    """Bytes of the figure's JSON as the chart gets it, and gzip-compressed (the websocket may deflate it)."""
    spec = figure.to_json().encode()
    return {"json_bytes": len(spec), "gzip_bytes": len(gzip.compress(spec, 6))}


# In the page, after `const __frameSelector = ...`; it reaches into the chart's frame (same origin).
# Times are epoch ms, comparable across frames.
_HOOK = """
const __now = () => performance.timeOrigin + performance.now();
window.__plots = [];
window.__selectedAt = 0;
const __count = (gd) => (gd._fullData || []).reduce((k, t) => k + (t.x ? t.x.length : 0), 0);
const __poll = () => {
  const frame = document.querySelector(__frameSelector);
  const doc = frame && frame.contentDocument;
  const gd = doc && doc.querySelector('.js-plotly-plot');
  if (doc && !doc.__scaleArmed) {
    doc.__scaleArmed = true;
    doc.addEventListener('pointerdown', (e) => {
      window.__press = doc.defaultView.performance.timeOrigin + e.timeStamp;
      window.__plots = [];
      window.__selectedAt = 0;
    }, true);
  }
  if (gd && gd.on && !gd.__scaleHooked) {
    gd.__scaleHooked = true;
    gd.on('plotly_afterplot', () => window.__plots.push({t: __now(), n: __count(gd)}));
    if (gd._fullData) window.__plots.push({t: __now(), n: __count(gd)});  // drawn before this poll: a frame late
  }
  if (window.__press && !window.__selectedAt && document.body && /[1-9][0-9,]* selected/.test(document.body.innerText))
    window.__selectedAt = __now();
  requestAnimationFrame(__poll);
};
requestAnimationFrame(__poll);
"""


def _plotted_after(page, n: int, timeout_ms: float) -> float:
    """Epoch ms of the first redraw with at least n points since the page opened or the last press."""
    page.wait_for_function("(n) => window.__plots.some((p) => p.n >= n)", arg=n, timeout=timeout_ms, polling="raf")
    return page.evaluate("(n) => window.__plots.find((p) => p.n >= n).t", n)


def measure(browser, url: str, n: int) -> dict:
    """Load, click and zoom times (ms) of the map with n images."""
    page = new_page(browser)
    page.add_init_script(f"const __frameSelector = {json.dumps(MAP_FRAME)};\n{_HOOK}")
    page.goto(f"{url}/?n={n}")
    load_ms = _plotted_after(page, n, 300_000) - page.evaluate("() => performance.timeOrigin")  # from navigation
    page.wait_for_function("() => /0 selected/.test(document.body.innerText)", timeout=60_000)
    frame = map_frame(page)
    box = frame.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + 0.37 * box["width"], box["y"] + 0.61 * box["height"])
    page.wait_for_function("() => window.__selectedAt", timeout=120_000, polling="raf")
    click_ms = page.evaluate("() => window.__selectedAt - window.__press")
    page.evaluate("() => { window.__plots = []; }")
    frame.locator(".js-plotly-plot").first.hover()
    t0 = page.evaluate("() => performance.timeOrigin + performance.now()")
    frame.locator(".modebar-btn[data-attr='zoom'][data-val='in']").first.click(force=True)
    zoom_ms = _plotted_after(page, n, 60_000) - t0
    page.context.close()
    return {"load_ms": load_ms, "click_ms": click_ms, "zoom_ms": zoom_ms}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="mnist-vae-z2", help="checkpoint folder name (default mnist-vae-z2)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--checkpoints", default=os.environ.get("VAE_CHECKPOINTS", "checkpoints"))
    p.add_argument("--data-dir", default=os.environ.get("VAE_DATA_DIR"))
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    folder = str(Path(args.checkpoints).resolve() / args.model)
    sizes = {n: payload(map_figure(folder, n, args.data_dir)) for n in VARIANTS}
    env = {"VAE_CHECKPOINTS": str(Path(args.checkpoints).resolve()), "SCALE_MODEL": args.model}
    raw: dict[int, list[dict]] = {n: [] for n in VARIANTS}
    with running_app(None, env, script="bench/scale_app.py") as url, chromium() as browser:
        for n in VARIANTS:
            measure(browser, url, n)  # warm-up: encodes the images once (cached by the server)
        for _ in range(args.repeats):
            for n in VARIANTS:
                try:
                    raw[n].append(measure(browser, url, n))
                except Exception as err:  # a missed redraw event; noted, and the repeat is not counted
                    print(f"{n} images: measurement failed ({type(err).__name__}); not counted")
    rows = []
    for n in VARIANTS:
        row = {"images": n, **sizes[n]}
        for key in ("load_ms", "click_ms", "zoom_ms"):
            row[key.replace("_ms", "_median_ms")] = percentiles([r[key] for r in raw[n] if r[key] is not None])[
                "median"
            ]
        rows.append(row)
    print_table(
        f"Scale: the map of {args.model} with 10,000 vs 70,000 images, headless Chromium ({machine()})",
        rows,
        list(rows[0]),
    )
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "raw": {str(k): v for k, v in raw.items()}, "machine": machine()}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
