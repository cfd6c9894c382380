"""Interaction latency on /map against the floor, in headless Chromium, each timed on the page's own clock.

The floor is a Streamlit page with one st.slider and one pre-rendered st.image (bench/floor_app.py, its own server):
an arrow key on the slider -> the new image loaded and the next frame. /map decodes in its chart's frame and is timed
there from the event's timestamp to the paint of the decoded canvas (bench/browser.py):
  key     an arrow key on the focused z1 slider of the chart (one step)
  drag    one pointer move (5 px) while the z1 slider is held
  hover   one pointer move to a new spot over the plot area
  click   a click in the plot area -> the server's answer painted (a round trip; a hover paint is waited out first)
All five are interleaved, one of each per round, so drift on a shared machine hits them alike. Each is reported as
a ratio to the floor's median (issue 12: key, drag and hover median <= 0.25x, p95 <= 0.5x).

    python -m bench.latency                    # own servers on $VAE_CHECKPOINTS, 50 rounds
    python -m bench.latency --url http://127.0.0.1:8501 --rounds 20 --json latency.json
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from contextlib import ExitStack, suppress
from pathlib import Path

from bench.browser import (
    MAP_FRAME,
    arm_map,
    chromium,
    instrument,
    instrument_map,
    map_frame,
    map_plot_area,
    new_page,
    wait_map_drawn,
    wait_map_painted,
    wait_quiet,
    wait_shown,
)
from bench.server import machine, percentiles, report, running_app

KINDS = ("floor", "key", "drag", "hover", "click")
GOALS = {"key": (0.25, 0.5), "drag": (0.25, 0.5), "hover": (0.25, 0.5)}  # median, p95 as a fraction of the floor


def _direction(i: int) -> str:
    return "ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft"  # ten steps one way, ten back: stays in range


def press_floor(page, i: int) -> float | None:
    page.locator("[data-testid='stSlider'] input[type=range]").first.focus()
    page.keyboard.press(_direction(i))
    try:
        return wait_shown(page, need_plot=False, timeout_ms=30_000)["image"]
    except Exception:  # playwright TimeoutError: nothing new was shown
        return None
    finally:
        wait_quiet(page)


def _painted(page, timeout_ms: float = 10_000) -> float | None:
    try:
        return wait_map_painted(page, timeout_ms)
    except Exception:  # playwright TimeoutError: nothing was painted
        return None


def _address(page) -> str | None:
    return page.evaluate("() => new URLSearchParams(location.search).get('z')")


def _answered(page, before: str | None) -> None:
    """Until the server has answered a release (its run moved the address) and is idle, so its paint is not timed."""
    with suppress(Exception):  # playwright TimeoutError: the same address (a value at the end of its range)
        page.wait_for_function(
            "(before) => new URLSearchParams(location.search).get('z') !== before", arg=before, timeout=10_000
        )
    wait_quiet(page)


def press_key(page, i: int) -> float | None:
    map_frame(page).locator("#sliders input").first.focus()
    before = _address(page)
    arm_map(page)
    page.keyboard.press(_direction(i))
    t = _painted(page)
    _answered(page, before)  # the key's change event reruns the script once
    return t


def drag_step(page, i: int) -> float | None:
    box = map_frame(page).locator("#sliders input").first.bounding_box()
    x = box["x"] + box["width"] * (0.3 + 0.4 * ((i * 0.618034) % 1.0))
    y = box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    before = _address(page)
    arm_map(page)
    page.mouse.down()  # the thumb jumps here and paints; the step after it is timed
    _painted(page)
    arm_map(page)
    page.mouse.move(x + 5, y)
    t = _painted(page)
    page.mouse.up()
    _answered(page, before)
    return t


def _spot(page, i: int, shift: float = 0.0) -> tuple[float, float]:
    box = map_plot_area(page)
    fx = 0.1 + 0.8 * ((i * 0.618034 + shift) % 1.0)
    fy = 0.1 + 0.8 * ((i * 0.414214 + 0.5 + shift) % 1.0)
    return box["x"] + fx * box["width"], box["y"] + fy * box["height"]


def hover(page, i: int) -> float | None:
    arm_map(page)
    page.mouse.move(*_spot(page, i, 0.37))
    _painted(page, 2_000)  # the pointer comes from elsewhere: let its first paint pass
    arm_map(page)
    page.mouse.move(*_spot(page, i))
    return _painted(page)


def click(page, i: int) -> float | None:
    """At the hover's last spot: press and release in place; the paint of the server's answer."""
    before = _address(page)
    arm_map(page)
    page.mouse.down()
    page.mouse.up()
    t = _painted(page, 30_000)
    _answered(page, before)
    page.mouse.move(5, 5)  # off the chart: the image goes back to the sliders' point
    return t


def open_floor(browser, floor_url: str, errors: list[str]):
    """The floor page, loaded and instrumented for `press_floor`."""
    floor = new_page(browser, errors)
    floor.goto(floor_url)
    floor.locator("[data-testid='stMain'] [data-testid='stImage'] img").wait_for(timeout=120_000)
    instrument(floor)
    return floor


def run(url: str, floor_url: str, rounds: int) -> dict[str, list]:
    """All measurements in ms, by kind (None: nothing painted in time)."""
    results: dict[str, list] = {kind: [] for kind in KINDS}
    errors: list[str] = []
    with chromium() as browser:
        floor = open_floor(browser, floor_url, errors)
        page = new_page(browser, errors)
        page.goto(f"{url}/map")
        wait_map_drawn(page, min_points=10_000)  # the map and the browser's first decode
        page.wait_for_function(  # the runtime and the model are loaded
            "(sel) => (document.querySelector(sel).contentWindow.__decodedFrames || 0) > 0",
            arg=MAP_FRAME,
            timeout=120_000,
        )
        wait_quiet(page)
        instrument_map(page)
        results["points"] = page.evaluate(
            "(sel) => document.querySelector(sel).contentDocument.querySelector('.js-plotly-plot')._fullData"
            ".reduce((n, t) => n + (t.visible !== false && t.x ? t.x.length : 0), 0)",
            MAP_FRAME,
        )
        for i in range(rounds):
            results["floor"].append(press_floor(floor, i))
            results["key"].append(press_key(page, i))
            results["drag"].append(drag_step(page, i))
            results["hover"].append(hover(page, i))
            results["click"].append(click(page, i))
    results["page errors"] = errors
    return results


def summary(results: dict[str, list], kinds: tuple[str, ...] = KINDS, goals: dict = GOALS) -> list[dict]:
    """One row per kind: count, misses, median and p95 in ms and as ratios to the floor's median, and the goal."""
    floor = percentiles([t for t in results["floor"] if t is not None])["median"]
    rows = []
    for kind in kinds:
        done = [t for t in results[kind] if t is not None]
        stats = percentiles(done)
        goal = goals.get(kind)
        rows.append(
            {
                "interaction": kind,
                "n": stats["n"],
                "missed": len(results[kind]) - len(done),
                "median_ms": stats["median"],
                "p95_ms": stats["p95"],
                "median_x_floor": stats["median"] / floor,
                "p95_x_floor": stats["p95"] / floor,
                "goal_x_floor": f"{goal[0]} / {goal[1]}" if goal else "",
            }
        )
    return rows


def against_floor(
    argv: list[str] | None,
    prog: str,
    doc: str,
    run: Callable[[str, str, int], dict],
    summarize: Callable[[dict], list[dict]],
    title: Callable[[dict], str],
    rounds: int,
) -> int:
    """A benchmark's command line: start the app and the floor page (or use --url), `run(url, floor_url, rounds)`,
    print `summarize(results)` under `title(results)`; the exit code."""
    p = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    p.add_argument("--url", help="a running app (default: start one); the floor page always gets its own server")
    p.add_argument("--rounds", type=int, default=rounds, help=f"rounds of one of each interaction (default {rounds})")
    p.add_argument("--checkpoints", default=os.environ.get("VAE_CHECKPOINTS", "checkpoints"))
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    env = {"VAE_CHECKPOINTS": str(Path(args.checkpoints).resolve())}
    with ExitStack() as servers:
        url = servers.enter_context(running_app(args.url, env))
        floor_url = servers.enter_context(running_app(None, env, script="bench/floor_app.py"))
        results = run(url, floor_url, args.rounds)
    rows = summarize(results)
    return report(f"{title(results)} ({machine()})", rows, list(rows[0]), results, args.json)


def main(argv: list[str] | None = None) -> int:
    return against_floor(
        argv,
        "python -m bench.latency",
        __doc__,
        run,
        summary,
        lambda r: f"/map latency vs the floor page, headless Chromium 1280x800, {r['points']} points drawn",
        50,
    )


if __name__ == "__main__":
    raise SystemExit(main())
