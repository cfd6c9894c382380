"""Cold start: from `streamlit run app.py` to the map drawn in the browser (10,000 points and the decoded image).

  first start   the first server start of this run (its caches empty; the OS may or may not hold the files)
  warm start    a new server process again, right after (OS file cache and bytecode warm; Streamlit caches empty)
  revisit       a new browser tab on a server that has already drawn the map (Streamlit caches full)

The browser is started before the clock, as a user's would be; each start gets a fresh tab.

    python -m bench.cold_start                 # 1 first start, then 5 warm starts and 5 revisits, interleaved
    python -m bench.cold_start --repeats 3 --json cold.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from bench.browser import chromium, new_page, wait_map_drawn
from bench.server import launch_app, machine, percentiles, print_table, stop_app, wait_healthy

GOAL_WARM_S = 5.0


def start_to_map(browser, env: dict[str, str]) -> tuple[dict, object, str]:
    """Start a server, open /map as soon as it answers, and wait for the map; returns times (s), process, URL."""
    t0 = time.perf_counter()
    proc, url = launch_app(env)
    wait_healthy(proc, url)
    healthy = time.perf_counter() - t0
    page = new_page(browser)
    page.goto(f"{url}/map")
    wait_map_drawn(page, min_points=10_000)
    drawn = time.perf_counter() - t0
    page.context.close()
    return {"server_up_s": healthy, "map_drawn_s": drawn}, proc, url


def revisit(browser, url: str) -> dict:
    t0 = time.perf_counter()
    page = new_page(browser)
    page.goto(f"{url}/map")
    wait_map_drawn(page, min_points=10_000)
    drawn = time.perf_counter() - t0
    page.context.close()
    return {"map_drawn_s": drawn}


def run(env: dict[str, str], repeats: int) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {"first start": [], "warm start": [], "revisit": []}
    with chromium() as browser:
        for i in range(repeats + 1):
            times, proc, url = start_to_map(browser, env)
            try:
                results["first start" if i == 0 else "warm start"].append(times)
                if i > 0:
                    results["revisit"].append(revisit(browser, url))
            finally:
                stop_app(proc)
    return results


def summary(results: dict[str, list[dict]]) -> list[dict]:
    rows = []
    for kind, runs in results.items():
        drawn = percentiles([r["map_drawn_s"] for r in runs])
        up = percentiles([r["server_up_s"] for r in runs if "server_up_s" in r])
        rows.append(
            {
                "start": kind,
                "n": drawn["n"],
                "server_up_median_s": up["median"],
                "map_drawn_median_s": drawn["median"],
                "map_drawn_max_s": drawn["max"],
                "goal_s": GOAL_WARM_S if kind == "warm start" else "",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="warm starts (and revisits) after the first (default 5)")
    p.add_argument("--checkpoints", default=os.environ.get("VAE_CHECKPOINTS", "checkpoints"))
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    results = run({"VAE_CHECKPOINTS": str(Path(args.checkpoints).resolve())}, args.repeats)
    rows = summary(results)
    print_table(
        f"Cold start: `streamlit run app.py` -> /map drawn in headless Chromium ({machine()})", rows, list(rows[0])
    )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "raw": results, "machine": machine()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
