"""Interaction latency on /map in headless Chromium: press -> new decoded image shown (and map redrawn).

Three interactions, each timed in the page's own clock from the key or pointer press (the event's timestamp)
to the frame after the new decoded image has loaded; the map's update (crosshair moved or map redrawn) too:
  slider  an arrow key on the focused z1 slider (one step)
  click   a click on the map (anywhere in the plot area: a point, or empty space)
  switch  a click in the sidebar that changes the model (latent size or VAE/AE), models already loaded once;
          the first visit of each model (it loads from disk) is reported as 'switch, first visit'.

    python -m bench.latency                    # own server on $VAE_CHECKPOINTS, 50 of each
    python -m bench.latency --url http://127.0.0.1:8501 --moves 20 --json latency.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bench.browser import chromium, instrument, map_plot_area, new_page, wait_map_drawn, wait_quiet, wait_shown
from bench.server import machine, percentiles, print_table, running_app

# One sidebar click each; the cycle visits the four models of a dataset and comes back to the start.
SWITCHES = (("Latent size", "z = 16"), ("Type", "Autoencoder"), ("Latent size", "z = 2"), ("Type", "VAE"))
GOALS = {"slider": (100, 250), "click": (100, 250)}  # median, p95 in ms (issue 5)


def slider_input(page):
    return (
        page.locator("[data-testid='stMain'] [data-testid='stSlider']")
        .filter(has_text="z₁")
        .locator("input[type=range]")
    )


def press_slider(page, i: int) -> dict | None:
    """One arrow-key step of z1: ten to the right, ten back, and so on (stays in range)."""
    slider_input(page).focus()
    page.keyboard.press("ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft")
    return _measure(page)


def click_map(page, i: int) -> dict | None:
    """A click at the i-th point of a fixed scatter of spots over the plot area (never the same spot twice)."""
    box = map_plot_area(page)
    fx = 0.1 + 0.8 * ((i * 0.618034) % 1.0)
    fy = 0.1 + 0.8 * ((i * 0.414214 + 0.5) % 1.0)
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    return _measure(page)


def switch_model(page, i: int) -> dict | None:
    label, option = SWITCHES[i % len(SWITCHES)]
    page.locator("[data-testid='stSidebar'] button").filter(has_text=option).first.click()
    return _measure(page)


def _measure(page) -> dict | None:
    """The probe's times for the last press; None when the image did not change (the same pixels twice)."""
    try:
        times = wait_shown(page, need_plot=True, timeout_ms=30_000)
    except Exception:  # playwright TimeoutError: nothing new was shown
        times = None
    wait_quiet(page)
    return times


def run(url: str, moves: int, switches: int) -> dict[str, list[dict]]:
    """All measurements, by interaction kind."""
    results: dict[str, list[dict]] = {"slider": [], "click": [], "switch, first visit": [], "switch": []}
    errors: list[str] = []
    with chromium() as browser:
        page = new_page(browser, errors)
        page.goto(f"{url}/map")
        wait_map_drawn(page, min_points=10_000)
        instrument(page)
        for i in range(moves):  # slider and click interleaved, so drift hits both alike
            results["slider"].append(press_slider(page, i))
            results["click"].append(click_map(page, i))
        # counted at each map update (all traces: the test images and any highlight)
        results["points"] = [{"n": page.evaluate("() => window.__probe.points || 0")}]
        for i in range(len(SWITCHES)):
            results["switch, first visit"].append(switch_model(page, i))
        for i in range(switches):
            results["switch"].append(switch_model(page, i))
    results["page errors"] = [{"error": e} for e in errors]
    return results


def summary(results: dict[str, list[dict]]) -> list[dict]:
    rows = []
    for kind in ("slider", "click", "switch", "switch, first visit"):
        done = [r for r in results[kind] if r is not None]
        image = percentiles([r["image"] for r in done])
        plotted = percentiles([r["map"] for r in done if r["map"] is not None])
        goal = GOALS.get(kind)
        rows.append(
            {
                "interaction": kind,
                "n": image["n"],
                "unchanged": len(results[kind]) - len(done),
                "image_median_ms": image["median"],
                "image_p95_ms": image["p95"],
                "map_median_ms": plotted["median"],
                "map_p95_ms": plotted["p95"],
                "goal_ms": f"{goal[0]} / {goal[1]}" if goal else "",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a running app (default: start one)")
    p.add_argument("--moves", type=int, default=50, help="slider presses and map clicks, each (default 50)")
    p.add_argument("--switches", type=int, default=20, help="model switches after the first visits (default 20)")
    p.add_argument("--checkpoints", default=os.environ.get("VAE_CHECKPOINTS", "checkpoints"))
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    env = {"VAE_CHECKPOINTS": str(Path(args.checkpoints).resolve())}
    with running_app(args.url, env) as url:
        results = run(url, args.moves, args.switches)
    rows = summary(results)
    print_table(
        f"/map interaction latency, headless Chromium 1280x800, {results['points'][0]['n']} points drawn ({machine()})",
        rows,
        list(rows[0]),
    )
    if results["page errors"]:
        print(f"page errors: {results['page errors']}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "raw": results, "machine": machine()}, indent=1))
    return 1 if results["page errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
