"""Cold start: from `streamlit run app.py` to the map drawn in the browser (10,000 points) and the first image
decoded in the browser, against the floor page's own first visit (`streamlit run bench/floor_app.py` -> its image).

  first start   the first server start of this run (its caches empty; the OS may or may not hold the files)
  warm start    a new server process again, right after (OS file cache and bytecode warm; Streamlit caches empty)
  revisit       a new browser tab on a server that has already drawn the map (Streamlit caches full)

Each start of the app follows a start of the floor page, so drift hits both alike; the ratio is the app's time
over the floor's in the same round. `--against DIR` also starts the app of another checkout in every round (e.g.
the build before decoding in the browser: `git worktree add /tmp/before bfbefbb`), in turn before and after this
one; its first decoded image is the server's `st.image`. `runtime_requested_s` is when the browser asked for the
decoding runtime's first script: issue 12 wants it after the map is drawn. The browser is started before the clock,
as a user's would be; each start gets a fresh tab.

    python -m bench.cold_start                 # 1 first start, then 5 warm starts and 5 revisits, interleaved
    python -m bench.cold_start --repeats 3 --json cold.json
    python -m bench.cold_start --repeats 4 --against /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from bench.browser import MAP_FRAME, chromium, new_page
from bench.server import ROOT, launch_app, machine, percentiles, print_table, stop_app, wait_healthy

GOAL_WARM_S = 5.0
RUNTIME_SCRIPT = "tf-core.es2017.min.js"  # the first of pages.webmodel.RUNTIME_SCRIPTS

MAP_POINTS = """([sel, minPoints]) => {
  const frame = document.querySelector(sel);
  const gd = frame && frame.contentDocument && frame.contentDocument.querySelector('.js-plotly-plot');
  if (!gd || !gd._fullData || !gd.querySelector('canvas, .scatterlayer')) return false;
  return gd._fullData.reduce((n, t) => n + (t.visible !== false && t.x ? t.x.length : 0), 0) >= minPoints;
}"""
DECODED = "(sel) => (document.querySelector(sel).contentWindow.__decodedFrames || 0) > 0"
# The build before decoding in the browser showed the decoded point as the main area's first image.
SERVER_DECODED = """() => { const img = document.querySelector("[data-testid='stMain'] [data-testid='stImage'] img");
  return img && img.complete && img.naturalWidth > 0; }"""


def visit_map(browser, url: str, t0: float, ours: bool = True) -> dict:
    """Open /map in a fresh tab; seconds since t0 until the first decoded image is shown (Python's or the
    browser's), the map is drawn and the browser's first decode (`ours`; an older build's image is Python's)."""
    page = new_page(browser)
    requested = []
    page.on("request", lambda r: requested.append(time.perf_counter()) if RUNTIME_SCRIPT in r.url else None)
    t0_epoch = time.time() - (time.perf_counter() - t0)
    page.goto(f"{url}/map")
    if not ours:
        page.wait_for_function(SERVER_DECODED, timeout=120_000, polling="raf")
        first_image = time.perf_counter() - t0
    page.wait_for_function(MAP_POINTS, arg=[MAP_FRAME, 10_000], timeout=120_000, polling="raf")
    drawn = time.perf_counter() - t0
    decoded = None
    if ours:
        page.wait_for_function(DECODED, arg=MAP_FRAME, timeout=120_000, polling="raf")
        decoded = time.perf_counter() - t0
        # the chart's own clock: a probe here cannot run while the chart's frame draws the map
        first_image = page.frame_locator(MAP_FRAME).locator("body").evaluate("() => window.__firstImageAt") / 1000
        first_image -= t0_epoch
    page.context.close()
    return {
        "first_image_s": first_image,
        "map_drawn_s": drawn,
        "decoded_s": decoded,
        "runtime_requested_s": requested[0] - t0 if requested else None,
    }


def start_to_map(browser, env: dict[str, str], root: Path = ROOT) -> tuple[dict, object, str]:
    """Start a server (of the checkout in `root`), open /map as soon as it answers, and wait for the map; returns
    times (s), process, URL."""
    t0 = time.perf_counter()
    proc, url = launch_app(env, root=root)
    wait_healthy(proc, url)
    times = {"server_up_s": time.perf_counter() - t0, **visit_map(browser, url, t0, ours=root == ROOT)}
    return times, proc, url


def floor_first_visit(browser, env: dict[str, str]) -> float:
    """Seconds from `streamlit run bench/floor_app.py` to its image shown in a fresh tab."""
    t0 = time.perf_counter()
    proc, url = launch_app(env, script="bench/floor_app.py")
    try:
        wait_healthy(proc, url)
        page = new_page(browser)
        page.goto(url)
        page.wait_for_function(
            "() => { const img = document.querySelector(\"[data-testid='stMain'] [data-testid='stImage'] img\");"
            " return img && img.complete && img.naturalWidth > 0; }",
            timeout=120_000,
            polling="raf",
        )
        shown = time.perf_counter() - t0
        page.context.close()
        return shown
    finally:
        stop_app(proc)


def revisit(browser, url: str) -> dict:
    return visit_map(browser, url, time.perf_counter())


def other_build(browser, env: dict[str, str], root: Path, floor: float) -> dict:
    """A start of the app in another checkout, against this round's floor."""
    times, proc, _ = start_to_map(browser, env, root=root)
    stop_app(proc)
    return {**times, "floor_s": floor}


def run(env: dict[str, str], repeats: int, against: Path | None = None) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {"first start": [], "warm start": [], "revisit": []}
    if against is not None:
        results |= {f"{against.name}: first start": [], f"{against.name}: warm start": []}
        other_env = {**env, "VAE_CHECKPOINTS": str(against / "checkpoints"), "PYTHONPATH": str(against)}
    with chromium() as browser:
        for i in range(repeats + 1):
            start = "first start" if i == 0 else "warm start"
            floor = floor_first_visit(browser, env)

            if against is not None and i % 2 == 1:  # in turn first and second after the floor
                results[f"{against.name}: {start}"].append(other_build(browser, other_env, against, floor))
            times, proc, url = start_to_map(browser, env)
            try:
                times["floor_s"] = floor
                results[start].append(times)
                if i > 0:
                    results["revisit"].append(revisit(browser, url))
            finally:
                stop_app(proc)
            if against is not None and i % 2 == 0:
                results[f"{against.name}: {start}"].append(other_build(browser, other_env, against, floor))
    return results


def x_floor(runs: list[dict], key: str) -> float:
    """The median of the runs' `key` over their round's floor."""
    return percentiles([r[key] / r["floor_s"] for r in runs if "floor_s" in r and r[key] is not None])["median"]


def summary(results: dict[str, list[dict]]) -> list[dict]:
    rows = []
    for kind, runs in results.items():
        keys = ("server_up_s", "floor_s", "first_image_s", "map_drawn_s", "decoded_s", "runtime_requested_s")
        med = {key: percentiles([r[key] for r in runs if r.get(key) is not None])["median"] for key in keys}

        rows.append(
            {
                "start": kind,
                "n": len(runs),
                "floor_median_s": med["floor_s"],
                "server_up_median_s": med["server_up_s"],
                "first_image_median_s": med["first_image_s"],
                "map_drawn_median_s": med["map_drawn_s"],
                "runtime_requested_median_s": med["runtime_requested_s"],
                "decoded_median_s": med["decoded_s"],
                "first_image_x_floor": x_floor(runs, "first_image_s"),
                "map_drawn_x_floor": x_floor(runs, "map_drawn_s"),
                "decoded_x_floor": x_floor(runs, "decoded_s"),
                "map_drawn_max_s": percentiles([r["map_drawn_s"] for r in runs])["max"],
                "goal_s": GOAL_WARM_S if kind == "warm start" else "",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="warm starts (and revisits) after the first (default 5)")
    p.add_argument("--checkpoints", default=os.environ.get("VAE_CHECKPOINTS", "checkpoints"))
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--against", type=Path, help="another checkout of the app, started in every round too")
    args = p.parse_args(argv)
    against = args.against.resolve() if args.against else None
    results = run({"VAE_CHECKPOINTS": str(Path(args.checkpoints).resolve())}, args.repeats, against)
    rows = summary(results)
    print_table(
        f"Cold start: `streamlit run` -> /map drawn and first decoded image, vs the floor page ({machine()})",
        rows,
        list(rows[0]),
    )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "raw": results, "machine": machine()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
