"""Concurrent users: N sessions at once, each moving /map's sliders and uploading images on /image.

Every session drives the real server over Streamlit's websocket protocol (bench/app_client.py), checks that
each image it is shown is the one the model gives for *its own* input, and times every interaction.

    python -m bench.load                       # 20 sessions x 25 interactions per page, own server
    python -m bench.load --url http://127.0.0.1:8501 --sessions 5 --interactions 10 --json load.json
    python -m bench.load --sessions 1,20 --pages map --interactions 5   # 1 session, then 20, on one server
    python -m bench.load --sessions 1,20 --pages map --interactions 5 --pace 2   # each releases every 2 s
    python -m bench.load --sessions 1,40 --pages map --pace 2 --shared --train-at-cap --large-uploads 5

Without --url it starts `streamlit run app.py` on a free loopback port, serving $VAE_CHECKPOINTS, and reports the
server's peak memory (VmHWM). --shared starts it in shared mode (VAE_MODE=shared); --train-at-cap trains a run at
shared mode's size cap (the widest MLP under its parameter cap, its epoch cap) in the server's runs folder while
the sessions work; --large-uploads N adds one session that uploads N 16-bit PNGs of 7,000 x 7,000 pixels to /image.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from streamlit.proto.WidgetStates_pb2 import WidgetState

from bench.app_client import AppClient
from bench.server import launch_app, machine, percentiles, print_table, stop_app, wait_healthy
from pages.ui.picker import PICK_DATASET, PICK_MODEL, dataset_title, option_label
from vae import anomaly, catalog, images, jobs, latent
from vae.checkpoint import load_atlas, load_model, shipped_root
from vae.data import load_split
from vae.models import ModelConfig, build_model
from vae.serving import SHARED_CPU_SHARE, SHARED_DEFAULTS

# The models the sessions use, in turn: two share each model's cached copy at 20 sessions... and more.
MODELS = ("mnist-vae-z2", "fashion-mnist-vae-z16", "mnist-ae-z16", "fashion-mnist-vae-z2")
TOLERANCE = 4.0  # grey levels: mean |shown - expected| over the 28 x 28 pixels (Streamlit may send a JPEG)
MAP_CHART = "map_chart"  # the /map chart's key: its value carries a slider's release


@dataclass
class Interaction:
    page: str
    run_s: float  # request until the script run finished
    image_s: float  # request until the new image had arrived and been downloaded
    error: float  # mean grey-level difference between the image shown and this session's expected image
    foil: float  # the same against the image another input would give (how different a wrong image is)


@dataclass
class SessionReport:
    index: int
    model: str
    interactions: list[Interaction] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Expected:
    """What the model gives for a session's input, computed here from the same checkpoint files (read-only)."""

    def __init__(self, checkpoints: Path):
        self.checkpoints = Path(checkpoints)
        self._models: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def model(self, name: str):
        with self._lock:
            if name not in self._models:
                model, card = load_model(self.checkpoints / name)
                self._models[name] = (model, card, anomaly.complexity_fit(load_atlas(self.checkpoints / name)))
            return self._models[name]

    def decoded(self, name: str, code: np.ndarray) -> np.ndarray:
        return latent.decode(self.model(name)[0], np.asarray(code, dtype=np.float32)[None])[0]

    def read(self, name: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        """(model input uint8, reconstruction in [0, 1]) of an uploaded file, as the /image page computes them."""
        model, card, fit = self.model(name)
        prepared = images.prepare_bytes(data, card["dataset"], auto_invert=True)
        return prepared.pixels, anomaly.read_image(model, prepared.pixels, fit).reconstruction


def difference(shown: np.ndarray, expected: np.ndarray) -> float:
    """Mean absolute grey-level difference after shrinking the enlarged image shown back to 28 x 28."""
    expected = np.asarray(expected, dtype=np.float64)
    if expected.max() <= 1.0:
        expected = expected * 255.0
    k = shown.shape[0] // expected.shape[0]
    if shown.shape != (expected.shape[0] * k, expected.shape[1] * k):
        return float("inf")
    blocks = shown.astype(np.float64).reshape(expected.shape[0], k, expected.shape[1], k).mean(axis=(1, 3))
    return float(np.abs(blocks - expected).mean())


def pick_model(client: AppClient, name: str) -> None:
    """Choose the shipped model `name` in the sidebar, the dataset filter first, as a user would."""
    entry = catalog.find(catalog.catalog(shipped_root()), name)
    client.set_string(PICK_DATASET, dataset_title(entry.dataset))
    client.set_string(PICK_MODEL, option_label(entry))


def upload_file(pixels: np.ndarray, seed: int) -> bytes:
    """A test image as a user's file: enlarged, dark ink on light paper, PNG (the page has to undo all that)."""
    rng = np.random.default_rng(seed)
    big = np.repeat(np.repeat(255 - pixels, 4, axis=0), 4, axis=1)
    pad = rng.integers(8, 40, size=4)
    canvas = np.pad(big, ((pad[0], pad[1]), (pad[2], pad[3])), constant_values=255)
    buf = io.BytesIO()
    Image.fromarray(canvas.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def map_interactions(client: AppClient, report: SessionReport, expected: Expected, n: int, pace: float = 0.0) -> None:
    """Open /map and release its first two sliders (in the map chart's panel) n times, one step pattern per
    session; the server answers each release with its decode, which the chart shows where the browser cannot.
    `pace` > 0: one release every `pace` seconds (a drag that long, decoded in the browser, then its release),
    each session at its own phase; 0: back to back."""
    start = time.perf_counter() + pace * ((report.index * 0.618034) % 1.0)
    run = client.open("map")
    report.problems += run.errors()
    args = _chart_args(run)
    panel = json.loads(args["panel"])
    code = list(args["code"])
    # (run s, image s, image, its code, the previous code): checked after the last move, so the checks' decodes
    # do not compete with the other sessions' moves
    shown = []
    for i in range(n):
        if pace:
            time.sleep(max(0.0, start + i * pace - time.perf_counter()))  # the user's drag before the release
        dim = i % 2
        (lo, hi), step = panel["ranges"][dim], panel["step"]
        steps = int((hi - lo) / step)
        code[dim] = round(lo + step * ((37 * report.index + 11 * i + 5) % (steps + 1)), 2)  # a walk per session
        state = WidgetState(json_value=json.dumps({"event": i + 1, "code": code}))
        run = client.set(MAP_CHART, state)
        report.problems += run.errors()
        args = _chart_args(run)
        if args is None:
            report.problems.append(f"/map move {i}: no map chart in the run")
            continue
        code = list(args["code"])
        t0 = time.perf_counter()
        image = client.fetch_image(args["image"])
        image_s = args["arrived"] + time.perf_counter() - t0
        shown.append((run.seconds, image_s, image, list(code), shown[-1][3] if shown else [-v for v in code]))
    for run_s, image_s, image, own, foil in shown:
        error = difference(image, expected.decoded(report.model, np.array(own)))
        foil_error = difference(image, expected.decoded(report.model, np.array(foil)))
        report.interactions.append(Interaction("map", run_s, image_s, error, foil_error))


def _chart_args(run) -> dict | None:
    """The /map chart's arguments in a run (code, image, panel, ...), with "arrived": its arrival in seconds."""
    for element, arrived in zip(run.elements, run.arrivals, strict=True):
        if element.WhichOneof("type") == "component_instance" and element.component_instance.component_name.endswith(
            "latent_map"
        ):
            return json.loads(element.component_instance.json_args) | {"arrived": arrived}
    return None


def image_interactions(
    client: AppClient, report: SessionReport, expected: Expected, uploads: np.ndarray, n: int
) -> None:
    """Open /image and upload n different images, checking the model's input and its reconstruction."""
    run = client.open("image")
    report.problems += run.errors()
    previous = None
    for i in range(n):
        data = upload_file(uploads[i], seed=1000 * report.index + i)
        run = client.upload("image_upload", f"s{report.index}-{i}.png", data)
        report.problems += run.errors()
        shown = run.images()
        if len(shown) < 2:
            report.problems.append(f"/image upload {i}: {len(shown)} images in the run, expected input and recon")
            continue
        (input_url, _), (recon_url, arrived) = shown[:2]
        t0 = time.perf_counter()
        recon = client.fetch_image(recon_url)
        fetched = time.perf_counter() - t0
        pixels, reconstruction = expected.read(report.model, data)
        input_error = difference(client.fetch_image(input_url), pixels)
        error = max(input_error, difference(recon, reconstruction))
        foil = difference(recon, previous if previous is not None else 1.0 - reconstruction)
        report.interactions.append(Interaction("image", run.seconds, arrived + fetched, error, foil))
        previous = reconstruction


def session(
    url: str,
    index: int,
    model: str,
    expected: Expected,
    uploads: np.ndarray,
    n: int,
    start: threading.Barrier,
    timeout: float,
    pages: tuple[str, ...] = ("map", "image"),
    pace: float = 0.0,
) -> SessionReport:
    report = SessionReport(index, model)
    try:
        with AppClient(url, timeout=timeout) as client:
            client.open("map")
            pick_model(client, model)
            start.wait()
            if "map" in pages:
                map_interactions(client, report, expected, n, pace)
            if "image" in pages:
                image_interactions(client, report, expected, uploads, n)
    except Exception as err:  # reported, never swallowed: the test asserts there are none
        report.problems.append(f"{type(err).__name__}: {err}")
        start.abort()  # no-op once everyone has started; else nobody waits for this session
    return report


def run_load(
    url: str,
    checkpoints: Path,
    data_dir: str | None,
    sessions: int = 20,
    interactions: int = 25,
    models: tuple[str, ...] = MODELS,
    timeout: float = 120.0,
    pages: tuple[str, ...] = ("map", "image"),
    pace: float = 0.0,
) -> tuple[list[SessionReport], float]:
    """Run `sessions` sessions at once; returns their reports and the wall time of the concurrent part."""
    expected = Expected(checkpoints)
    names = [models[i % len(models)] for i in range(sessions)]
    splits = {}
    for name in set(names):
        dataset = expected.model(name)[1]["dataset"]
        if dataset not in splits:
            splits[dataset] = load_split(dataset, train=False, root=data_dir).images.numpy()
    reports: list[SessionReport | None] = [None] * sessions
    barrier = threading.Barrier(sessions + 1, timeout=timeout)

    def work(i: int) -> None:
        dataset = expected.model(names[i])[1]["dataset"]
        uploads = splits[dataset][i * interactions : (i + 1) * interactions]
        reports[i] = session(url, i, names[i], expected, uploads, interactions, barrier, timeout, pages, pace)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(sessions)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a session that failed to start says so itself
        barrier.wait()  # all sessions connected and on their model
    t0 = time.perf_counter()
    for t in threads:
        t.join(timeout=timeout * interactions)
    wall = time.perf_counter() - t0
    return [
        r if r is not None else SessionReport(i, names[i], problems=["did not finish"]) for i, r in enumerate(reports)
    ], wall


def summary(reports: list[SessionReport]) -> list[dict]:
    """Latency percentiles (ms) per page, over all sessions' interactions."""
    rows = []
    for page in ("map", "image"):
        done = [x for r in reports for x in r.interactions if x.page == page]
        for what, values in (("new image shown", [x.image_s for x in done]), ("run finished", [x.run_s for x in done])):
            p = percentiles([1000 * v for v in values])
            rows.append(
                {
                    "page": f"/{page}",
                    "latency": what,
                    "n": p["n"],
                    "median_ms": p["median"],
                    "p95_ms": p["p95"],
                    "max_ms": p["max"],
                }
            )
    return rows


def widest_mlp_under(max_parameters: int) -> tuple[int, int]:
    """The widest MLP (w, w / 2), w a multiple of 32, of a z = 2 VAE with at most `max_parameters` weights."""
    best = (32, 16)
    for w in range(32, 8193, 32):
        with torch.device("meta"):
            n = sum(p.numel() for p in build_model(ModelConfig(hidden=(w, w // 2))).parameters())
        if n > max_parameters:
            break
        best = (w, w // 2)
    return best


@contextlib.contextmanager
def training_at_cap(runs: Path, data_dir: str | None) -> Iterator[list[str]]:
    """A `python -m vae.train` run at shared mode's size cap in `runs`, with the threads, CPU priority and CPU share
    the training page gives its runs in shared mode (`vae.jobs`), for the block; yields its command line."""
    hidden = widest_mlp_under(SHARED_DEFAULTS["max_parameters"])
    cmd = [sys.executable, "-m", "vae.train", "--hidden", *map(str, hidden), "--quiet", "--iwae-k", "0"]
    cmd += ["--threads", str(jobs.default_threads()), "--nice", str(jobs.NICE), "--cpu-share", str(SHARED_CPU_SHARE)]
    cmd += ["--epochs", str(SHARED_DEFAULTS["max_epochs"])] + (["--data-dir", data_dir] if data_dir else [])
    proc = subprocess.Popen(cmd, env={**os.environ, "VAE_RUNS": str(runs)}, stdout=subprocess.DEVNULL)
    try:
        yield cmd
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def large_png(seed: int, side: int = 7000) -> bytes:
    """A 16-bit greyscale PNG of side x side pixels: a dark stroke on light paper (small file, large image)."""
    image = np.full((side, side), 60000, dtype=np.uint16)
    rng = np.random.default_rng(seed)
    x0, y0 = rng.integers(side // 4, side // 2, size=2)
    image[y0 : y0 + side // 3, x0 : x0 + side // 20] = 2000
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def large_uploads(url: str, n: int, timeout: float) -> SessionReport:
    """One session uploading n large 16-bit PNGs to /image; each must give the input and its reconstruction."""
    report = SessionReport(-1, "mnist-vae-z2")
    files = [large_png(i) for i in range(min(n, 3))]
    try:
        with AppClient(url, timeout=timeout) as client:
            client.open("image")
            for i in range(n):
                run = client.upload("image_upload", f"large-{i}.png", files[i % len(files)])
                report.problems += run.errors()
                if len(run.images()) < 2:
                    report.problems.append(f"large upload {i}: {len(run.images())} images, expected input and recon")
    except Exception as err:  # reported, never swallowed
        report.problems.append(f"{type(err).__name__}: {err}")
    return report


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def server(url: str | None, env: dict[str, str]) -> Iterator[tuple[str, int | None]]:
    """(base URL, server pid): `url` as given (pid unknown), else `streamlit run app.py` started for the block."""
    if url:
        yield url.rstrip("/"), None
        return
    proc, base = launch_app(env)
    try:
        wait_healthy(proc, base)
        yield base, proc.pid
    finally:
        stop_app(proc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a running app (default: start one)")
    p.add_argument("--sessions", default="20", help="sessions at once; a list (1,20) runs each in turn (default 20)")
    p.add_argument("--interactions", type=int, default=25, help="per page and session (default 25)")
    p.add_argument("--pages", default="map,image", help="pages each session uses (default map,image)")
    p.add_argument("--pace", type=float, default=0.0, help="seconds between a session's /map releases (default 0)")
    p.add_argument("--checkpoints", default=os.environ.get("VAE_CHECKPOINTS", "checkpoints"))
    p.add_argument("--data-dir", default=os.environ.get("VAE_DATA_DIR"))
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--shared", action="store_true", help="start the server in shared mode (VAE_MODE=shared)")
    p.add_argument("--train-at-cap", action="store_true", help="train a run at the shared size cap meanwhile")
    p.add_argument("--large-uploads", type=int, default=0, help="one more session uploads this many 49 MP PNGs")
    args = p.parse_args(argv)
    counts = [int(n) for n in args.sessions.split(",")]
    pages = tuple(args.pages.split(","))
    runs = Path(tempfile.mkdtemp(prefix="bench-load-runs-"))
    env = {"VAE_CHECKPOINTS": str(Path(args.checkpoints).resolve()), "VAE_RUNS": str(runs)}
    env |= {"VAE_MODE": "shared"} if args.shared else {}
    results, problems, errors = [], [], []
    with server(args.url, env) as (url, pid):
        for sessions in counts:
            busy = sessions > counts[0]  # the first count is the idle reference
            training = training_at_cap(runs, args.data_dir) if args.train_at_cap and busy else contextlib.nullcontext()
            with training as cmd, ThreadPoolExecutor(1) as pool:
                if cmd:
                    print(f"training meanwhile: {' '.join(cmd[1:])}")
                uploads = (
                    pool.submit(large_uploads, url, args.large_uploads, 600) if args.large_uploads and busy else None
                )
                reports, wall = run_load(
                    url, Path(args.checkpoints), args.data_dir, sessions, args.interactions, pages=pages, pace=args.pace
                )
                if uploads is not None:
                    reports.append(uploads.result())
            rows = summary(reports)
            problems += [f"{sessions} sessions, session {r.index}: {m}" for r in reports for m in r.problems]
            errors += [x.error for r in reports for x in r.interactions]
            print_table(
                f"{sessions} concurrent sessions x {args.interactions} interactions per page "
                f"({wall:.1f} s wall; {machine()})",
                rows,
                list(rows[0]),
            )
            results.append(
                {"sessions": sessions, "rows": rows, "wall_s": wall, "reports": [asdict(r) for r in reports]}
            )
        peak = peak_rss_mb(pid) if pid is not None else None
    if len(results) > 1:  # each count's medians against the first's
        print(f"\nmedians against {counts[0]} session(s):")
        for what in ("run finished", "new image shown"):
            base = next(r["median_ms"] for r in results[0]["rows"] if r["page"] == "/map" and r["latency"] == what)
            for res in results[1:]:
                m = next(r["median_ms"] for r in res["rows"] if r["page"] == "/map" and r["latency"] == what)
                print(f"  /map {what}: {res['sessions']} sessions {m:.0f} ms / {base:.0f} ms = {m / base:.2f}x")
    print(
        f"\nimage check: max error {max(errors, default=float('nan')):.2f} grey levels "
        f"(tolerance {TOLERANCE}); problems: {len(problems)}"
    )
    for line in problems[:20]:
        print("  " + line)
    if peak is not None:
        print(f"server peak memory (VmHWM): {peak:.0f} MB")
    if args.json:
        record = {"results": results, "problems": problems, "peak_rss_mb": peak, "machine": machine()}
        args.json.write_text(json.dumps(record, indent=1))
    return 1 if problems or any(e > TOLERANCE for e in errors) else 0


if __name__ == "__main__":
    raise SystemExit(main())
