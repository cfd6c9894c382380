"""The browser models on a bare page: a folder with the runtime, `vae_model.js` and exported models, served over
HTTP on a free loopback port. Shared by the parity test (tests/test_browser_parity.py) and the runtime benchmark
(bench/browser_runtime.py).
"""

from __future__ import annotations

import base64
import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from pages.webmodel import RUNTIME_DIR, RUNTIME_SCRIPTS

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = RUNTIME_DIR  # the vendored TensorFlow.js files and vae_model.js

# Float32Arrays cross between Python and the page as base64 text: a JSON list of 200,000 numbers takes seconds.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>browser models</title><link rel="icon" href="data:,">
<script>
const fromBase64 = (text) => new Float32Array(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)).buffer);
const toBase64 = (values) => {{
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return btoa(text);
}};
</script>
{scripts}
</head><body></body></html>
"""


def to_base64(values) -> str:
    """Numbers (any array-like) as base64 of little-endian float32: `fromBase64(text)` in the page reads them."""
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode()


def from_base64(text: str) -> np.ndarray:
    """The page's `toBase64(Float32Array)` as a flat float32 array."""
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


def write_page(folder: Path, name: str, scripts: tuple[str, ...]) -> None:
    """An empty page at folder/name that loads `scripts` (URLs relative to it) in order."""
    tags = "\n".join(f'<script src="{s}"></script>' for s in scripts)
    (folder / name).write_text(PAGE.format(scripts=tags))


def stage_runtime(folder: Path) -> None:
    """Copy the shipped runtime (pages/webmodel/) into `folder`, with a page `index.html` that loads it."""
    for path in RUNTIME.iterdir():
        if path.is_file():
            shutil.copy(path, folder / path.name)
    write_page(folder, "index.html", RUNTIME_SCRIPTS)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port, one thread per request, no compression); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
