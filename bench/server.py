"""Start and stop the real app (`streamlit run app.py`) on a free loopback port, and find the headless Chromium
that drives it; shared by the benchmarks and the tests."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


class ChromiumMissingError(RuntimeError):
    """No Chromium to drive: none named by $CHROMIUM, on the PATH, or installed by Playwright."""


def find_chromium(bundled: str | None = None) -> str:
    """The Chromium to drive: $CHROMIUM, else chromium / chromium-browser / google-chrome on the PATH, else
    `bundled` (Playwright's own browser, `playwright.chromium.executable_path`) when it is on disk."""
    if named := os.environ.get("CHROMIUM"):
        if found := shutil.which(named):
            return found
        raise ChromiumMissingError(f"CHROMIUM is set to {named}, which is not an executable Chromium or Chrome.")
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    if bundled and Path(bundled).is_file():
        return bundled
    raise ChromiumMissingError(
        "No Chromium found: set CHROMIUM to a Chromium or Chrome executable, install one (`apt-get install "
        "chromium`), or install Playwright's own with `python -m playwright install chromium`."
    )


def launch_chromium(playwright):
    """A headless Chromium (see `find_chromium`) from a started Playwright (`sync_playwright()`)."""
    path = find_chromium(playwright.chromium.executable_path)
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_app(
    env: dict[str, str] | None = None, script: str = "app.py", root: Path = ROOT
) -> tuple[subprocess.Popen, str]:
    """Start `streamlit run <script>` in `root` (this checkout, or another one to compare with) on a free loopback
    port without waiting; returns (process, base URL).

    The server's output goes to a temporary file (`proc.log`), which `wait_healthy` quotes if the server dies. Its
    components expose their window.__* counters, which the tests and benchmarks read (`pages.webmodel.TEST_HOOKS`).
    """
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        script,
        "--server.headless=true",
        f"--server.port={port}",
        "--server.address=127.0.0.1",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
    ]
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by stop_app)
    proc = subprocess.Popen(
        cmd,
        cwd=root,
        env={**os.environ, "VAE_TEST_HOOKS": "1", **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    proc.log = log
    return proc, f"http://127.0.0.1:{port}"


def _output(proc: subprocess.Popen) -> str:
    proc.log.seek(0)
    return proc.log.read()[-4000:]


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 90.0) -> None:
    """Poll /_stcore/health until the server answers (raises if it exits or stays silent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}:\n{_output(proc)}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.02)  # readiness poll
    output = _output(proc)  # read before stop_app closes the log
    stop_app(proc)
    raise RuntimeError(f"streamlit did not answer on {url} within {timeout:.0f} s:\n{output}")


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.log.close()


def start_app(env: dict[str, str] | None = None, timeout: float = 90.0) -> tuple[subprocess.Popen, str]:
    """Start `streamlit run app.py` and return (process, base URL) once it answers."""
    proc, url = launch_app(env)
    wait_healthy(proc, url, timeout)
    return proc, url


@contextmanager
def running_app(url: str | None = None, env: dict[str, str] | None = None, script: str = "app.py") -> Iterator[str]:
    """Yield the base URL of the app: `url` when given (already running; start it with VAE_TEST_HOOKS=1 for the
    probes that read the components' counters), else a server started for the block."""
    if url:
        yield url.rstrip("/")
        return
    proc, base = launch_app(env, script)
    try:
        wait_healthy(proc, base)
        yield base
    finally:
        stop_app(proc)


def machine() -> str:
    """One line describing this machine, for the results tables."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, torch {torch.__version__}"


def percentiles(values: list[float]) -> dict[str, float]:
    """Median, 95th percentile and max of `values` (same unit), plus the count."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    if not len(v):
        return {"n": 0, "median": float("nan"), "p95": float("nan"), "max": float("nan")}
    return {"n": len(v), "median": float(np.median(v)), "p95": float(np.percentile(v, 95)), "max": float(v.max())}


def print_table(title: str, rows: list[dict], columns: list[str]) -> None:
    """A small fixed-width table on stdout."""
    print(f"\n{title}")
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths, strict=True)))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


def report(title: str, rows: list[dict], columns: list[str], results: dict, json_path: Path | None) -> int:
    """Print the table and any page errors, write rows and raw results to `json_path`; the exit code (1 on errors)."""
    print_table(title, rows, columns)
    if results["page errors"]:
        print(f"page errors: {results['page errors']}")
    if json_path:
        json_path.write_text(json.dumps({"rows": rows, "raw": results, "machine": machine()}, indent=1))
    return 1 if results["page errors"] else 0
