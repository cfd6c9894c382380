"""The training page: time from Start to a trained model, against the command line, and /map's latency meanwhile.

Three parts, in one invocation, on one server:
  speed    time to an MNIST z = 2 VAE's test −ELBO (the card's metrics) with the page's default recipe
           (vae.jobs.DEFAULTS): the command line (`python -m vae.train` with that recipe, the page's thread count and
           IWAE setting) against the page (Start pressed in headless Chromium; the clock runs from the click), runs
           interleaved; once, first, the command line's previous fast recipe (5 epochs at lr 4e-3, MLP 512-256,
           PyTorch's threads) for comparison. The goal: the page at most 10 % slower than the command line, and
           under 30 s to a test −ELBO of at most 150.
  latency  the /map slider (one arrow-key step of z1 -> the new decoded image painted; /map decodes in the browser)
           while idle, while a run started from the page trains (the tab goes from /train to /map, as a user would),
           and idle again; the goal is at most twice the idle median.

    python -m bench.train_page                       # 2 rounds of speed, 30 presses per latency phase
    python -m bench.train_page --rounds 3 --json train_page.json
    python -m bench.train_page --recipes 256x128:128:5e-3:4 512x256:128:4e-3:3   # the recipe search
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.browser import MAP_FRAME, chromium, new_page, wait_quiet
from bench.server import machine, percentiles, print_table, running_app
from vae import jobs
from vae.models import ModelConfig
from vae.train import TrainConfig

TARGET = 150.0  # nats: test −ELBO of the MNIST z = 2 VAE (issue 13)
GOAL_S = 30.0
OLD_RECIPE = TrainConfig(model=ModelConfig(hidden=(512, 256)), epochs=5, lr=4e-3)  # the command line's, before


def _poll_metrics(runs: Path, before: set[str], t0: float, timeout: float = 600.0) -> tuple[float, dict, Path]:
    """Seconds from t0 until a new run folder under `runs` has test metrics in its card; (seconds, card, folder)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder in runs.iterdir():
            if folder.name in before or not folder.is_dir():
                continue
            try:
                card = json.loads((folder / "card.json").read_text())
            except (OSError, ValueError):
                continue
            if card.get("metrics"):
                return time.perf_counter() - t0, card, folder
        time.sleep(0.05)  # polling another process's files
    raise TimeoutError(f"no run under {runs} reached its test metrics within {timeout:.0f} s")


def command_line_run(config: TrainConfig, runs: Path, threads: int | None, iwae_k: int) -> dict:
    """`python -m vae.train` with `config`: seconds to the card's metrics, and to the end (atlas written)."""
    before = {p.name for p in runs.iterdir()}
    folder = runs / f"command-line-{len(before)}"
    folder.mkdir()
    args = [
        "--config",
        str(jobs.write_config(folder, config)),
        "--iwae-k",
        str(iwae_k),
        "--quiet",
        "--out",
        str(folder),
    ]
    if threads:
        args += ["--threads", str(threads)]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "vae.train", *args], stdout=subprocess.DEVNULL)
    seconds, card, _ = _poll_metrics(runs, before, t0)
    proc.wait()
    return _row(seconds, time.perf_counter() - t0, card)


def page_run(page, url: str, runs: Path) -> dict:
    """Start pressed on /train (the page's defaults): seconds to the card's metrics, and until the page says so."""
    page.goto(f"{url}/train")
    start = page.get_by_role("button", name="Start")
    start.wait_for(timeout=120_000)
    wait_quiet(page)
    before = {p.name for p in runs.iterdir()}
    t0 = time.perf_counter()
    start.click()
    seconds, card, folder = _poll_metrics(runs, before, t0)
    page.get_by_text("Trained: test").wait_for(timeout=300_000)
    shown = time.perf_counter() - t0
    while jobs.current_job(runs).alive:  # the atlas
        time.sleep(0.05)
    return {**_row(seconds, time.perf_counter() - t0, card), "shown_s": shown}


def _row(seconds: float, total: float, card: dict) -> dict:
    return {
        "to_metrics_s": seconds,
        "to_end_s": total,
        "training_s": card["training"]["wall_time_s"],
        "neg_elbo": card["metrics"]["neg_elbo"],
    }


def speed(page, url: str, runs: Path, rounds: int, threads: int) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {"command line, previous recipe": [], "command line": [], "page": []}
    page.goto("about:blank")  # no page polls the server while the command line trains
    results["command line, previous recipe"].append(command_line_run(OLD_RECIPE, runs, None, 0))
    print("  previous recipe:", results["command line, previous recipe"][-1], flush=True)
    for _ in range(rounds):
        page.goto("about:blank")
        results["command line"].append(command_line_run(jobs.DEFAULTS, runs, threads, jobs.DEFAULT_IWAE_K))
        print("  command line:", results["command line"][-1], flush=True)
        results["page"].append(page_run(page, url, runs))
        print("  page:", results["page"][-1], flush=True)
    return results


# In the map's frame: a key press on a decode slider starts the clock (the event's timestamp); it stops at the first
# animation frame after the chart has painted a newly decoded image (its __decodedFrames count went up). The /map
# page decodes in the browser, so this is what a user sees.
FRAME_PROBE = """() => {
  if (window.__trainProbe) return;
  const probe = window.__trainProbe = {start: 0, frames: 0, done: 0};
  document.addEventListener('keydown', (e) => {
    Object.assign(probe, {start: e.timeStamp, frames: window.__decodedFrames, done: 0});
  }, true);
  const tick = () => {
    if (probe.start && !probe.done && window.__decodedFrames > probe.frames) probe.done = performance.now();
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def _map_frame(page):
    return page.locator(MAP_FRAME).element_handle().content_frame()


def _presses(page, n: int, while_true=lambda: True) -> list[float]:
    """Up to n arrow-key steps of the z1 slider (ten right, ten left, ...): ms to the new decoded image each."""
    frame = _map_frame(page)
    frame.evaluate(FRAME_PROBE)
    slider = frame.get_by_role("slider", name="z₁")
    times = []
    for i in range(n):
        if not while_true():
            break
        slider.focus()
        slider.press("ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft")
        with contextlib.suppress(Exception):  # playwright TimeoutError: nothing new was painted
            frame.wait_for_function("() => window.__trainProbe.done > 0", timeout=30_000, polling="raf")
            times.append(frame.evaluate("() => window.__trainProbe.done - window.__trainProbe.start"))
        wait_quiet(page)  # the release reruns the page on the server: let it finish before the next press
    return times


def latency(page, url: str, runs: Path, presses: int, epochs: int) -> dict[str, list[float]]:
    """/map slider latency idle, while a run started on /train trains, and idle again."""

    def open_map() -> None:
        page.goto(f"{url}/map")
        page.wait_for_function(  # the map drawn and the browser decoding on its own
            "(sel) => { const f = document.querySelector(sel); const w = f && f.contentWindow;"
            " return w && w.__decodedFrames > 0; }",
            arg=MAP_FRAME,
            timeout=120_000,
        )

    results: dict[str, list[float]] = {}
    open_map()
    results["idle"] = _presses(page, presses)
    page.goto(f"{url}/train")
    box = page.get_by_role("spinbutton", name="Epochs")
    box.wait_for(timeout=120_000)
    box.fill(str(epochs))  # long enough for every press to fall inside training
    box.press("Enter")
    page.wait_for_function(
        "(n) => [...document.querySelectorAll('input')].some(i => i.ariaLabel === 'Epochs' && i.value === n)",
        arg=str(epochs),
    )
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Epoch 1 of").wait_for(timeout=120_000)  # training has begun
    open_map()
    results["while training"] = _presses(page, presses, lambda: jobs.active_job(runs) is not None)
    trained_through = jobs.active_job(runs) is not None
    jobs.stop(runs)
    while jobs.current_job(runs).alive:
        time.sleep(0.05)
    results["idle again"] = _presses(page, presses)
    results["run trained throughout"] = [float(trained_through)]
    return results


def recipes(specs: list[str], threads: int) -> list[dict]:
    """Each recipe 'WIDTHS:BATCH:LR:EPOCHS' (e.g. 256x128:128:5e-3:4; MNIST z = 2, seed 0, cosine) trained in this
    process on `threads` threads: test −ELBO after each epoch and the training seconds until then."""
    import torch

    from vae.data import load_split
    from vae.evaluate import evaluate
    from vae.train import start_run, train_epoch

    torch.set_num_threads(threads)
    train, test = load_split("mnist", True), load_split("mnist", False)
    rows = []
    for spec in specs:
        widths, batch, lr, epochs = spec.split(":")
        config = TrainConfig(
            model=ModelConfig(hidden=tuple(int(w) for w in widths.split("x"))),
            batch_size=int(batch),
            lr=float(lr),
            epochs=int(epochs),
        )
        model, optimizer, _ = start_run(config, train)
        seconds, losses = 0.0, []
        for epoch in range(config.epochs):
            t0 = time.perf_counter()
            train_epoch(model, optimizer, train, config, epoch)
            seconds += time.perf_counter() - t0
            losses.append(f"{evaluate(model.eval(), test, iwae_k=0)['neg_elbo']:.1f}")
        rows.append({"recipe": spec, "test_neg_elbo_by_epoch": " ".join(losses), "training_s": seconds})
        print(f"  {rows[-1]}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.train_page", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=2, help="command-line and page runs, each (default 2)")
    p.add_argument("--presses", type=int, default=30, help="slider presses per latency phase (default 30)")
    p.add_argument("--epochs-while-pressing", type=int, default=30, help="the run trained meanwhile (default 30)")
    p.add_argument("--skip", choices=("speed", "latency"), help="leave one part out")
    p.add_argument(
        "--recipes",
        nargs="+",
        metavar="W:B:LR:E",
        help="instead, train these recipes in turn, e.g. 256x128:128:5e-3:4 (MLP widths, batch, lr, epochs), and "
        "print the test -ELBO after each epoch",
    )
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    threads = jobs.default_threads()
    if args.recipes:
        rows = recipes(args.recipes, threads)
        print_table(f"MNIST z = 2 VAE recipes, seed 0, {threads} thread(s) ({machine()})", rows, list(rows[0]))
        return 0
    with tempfile.TemporaryDirectory(prefix="vae-runs-") as tmp:
        runs = Path(tmp)
        env = {"VAE_RUNS": str(runs), "VAE_CHECKPOINTS": str(Path(os.environ.get("VAE_CHECKPOINTS", "checkpoints")))}
        os.environ["VAE_RUNS"] = str(runs)
        with running_app(None, env) as url, chromium() as browser:
            page = new_page(browser)
            results: dict = {}
            if args.skip != "speed":
                results["speed"] = speed(page, url, runs, args.rounds, threads)
            if args.skip != "latency":
                results["latency"] = latency(page, url, runs, args.presses, args.epochs_while_pressing)
    d = jobs.DEFAULTS
    recipe = (
        f"MLP {'-'.join(map(str, d.model.hidden))}, {d.epochs} epochs, batch {d.batch_size}, lr {d.lr:g} cosine, "
        f"{threads} thread(s), IWAE k = {jobs.DEFAULT_IWAE_K}"
    )
    if "speed" in results:
        rows = []
        cli = percentiles([r["to_metrics_s"] for r in results["speed"]["command line"]])["median"]
        for kind, runs_ in results["speed"].items():
            to_metrics = percentiles([r["to_metrics_s"] for r in runs_])
            rows.append(
                {
                    "trainer": kind,
                    "n": to_metrics["n"],
                    "to_metrics_median_s": to_metrics["median"],
                    "to_metrics_max_s": to_metrics["max"],
                    "training_median_s": percentiles([r["training_s"] for r in runs_])["median"],
                    "to_end_median_s": percentiles([r["to_end_s"] for r in runs_])["median"],
                    "worst_neg_elbo": max(r["neg_elbo"] for r in runs_),
                    "vs_command_line": to_metrics["median"] / cli,
                }
            )
        print_table(
            f"Start -> test -ELBO (MNIST z = 2); page recipe: {recipe}; goal <= {TARGET} nats within {GOAL_S:.0f} s, "
            f"page <= 1.1 x command line ({machine()})",
            rows,
            list(rows[0]),
        )
        results["speed_rows"] = rows
    if "latency" in results:
        lat = results["latency"]
        idle = percentiles(lat["idle"] + lat["idle again"])["median"]
        rows = [
            {"phase": phase, **percentiles(lat[phase]), "vs_idle": percentiles(lat[phase])["median"] / idle}
            for phase in ("idle", "while training", "idle again")
        ]
        print_table("/map slider -> new decoded image (ms), goal while training <= 2 x idle", rows, list(rows[0]))
        if not lat["run trained throughout"][0]:
            print("note: the run ended before the presses did; raise --epochs-while-pressing")
        results["latency_rows"] = rows
    if args.json:
        command = "python -m bench.train_page " + " ".join(sys.argv[1:] if argv is None else argv)
        args.json.write_text(json.dumps({**results, "machine": machine(), "command": command}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
