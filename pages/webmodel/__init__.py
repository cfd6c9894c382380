"""Serving the browser models to Streamlit components.

A component's files are served from one folder, and Streamlit refuses links that lead out of it. So each component
gets a folder in the user's cache, made once per version of its files: its own page and scripts, the vendored
TensorFlow.js runtime with `vae_model.js` (this folder), and any extra files (the map's plotly.js). A checkpoint's
browser model (`vae.web`) is copied into `models/<fingerprint>/` of that folder on first use, so the component
fetches it by a relative URL.

    root = stage_component("latent_map", Path(__file__).parent, ("index.html", "map_chart.js"))
    url = browser_model(root, sel.folder)   # "models/3f2a.../" or None: decode on the server then
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from vae.checkpoint import CheckpointError, weights_sha256
from vae.web import GRAPH, WebExportError, web_model_dir

RUNTIME_DIR = Path(__file__).parent
RUNTIME_SCRIPTS = ("tf-core.es2017.min.js", "tf-backend-wasm.es2017.min.js", "vae_model.js")
"""Load these in this order (each with a <script> tag) before using `loadModel`."""
LOADER = "runtime.js"
"""Every component page loads it first: `loadScript`, and `loadRuntimeScripts` for the RUNTIME_SCRIPTS."""
RUNTIME_FILES = (LOADER, *RUNTIME_SCRIPTS, "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm.wasm")
MODELS = "models"


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vae-explorer"


def _publish(staging: Path, target: Path) -> None:
    """Rename a fully written staging folder to `target`; another process that got there first wins."""
    try:
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


def stage_component(name: str, source: Path, files: Sequence[str], extra: Mapping[str, Path] | None = None) -> Path:
    """A folder holding `files` from `source`, the browser runtime and `extra` (served name -> file).

    Made once per content of those files, in the user's cache folder, and never changed afterwards except for the
    models that `browser_model` adds.
    """
    sources = {f: source / f for f in files} | {f: RUNTIME_DIR / f for f in RUNTIME_FILES} | dict(extra or {})
    digest = hashlib.sha256()
    for served, path in sorted(sources.items()):
        digest.update(served.encode() + path.read_bytes())
    target = cache_root() / f"{name}-{digest.hexdigest()[:12]}"
    if not (target / ".complete").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="staging-", dir=target.parent))
        for served, path in sources.items():
            shutil.copy(path, staging / served)
        (staging / ".complete").touch()
        _publish(staging, target)
    return target


def browser_model(component: Path, checkpoint: Path) -> str | None:
    """The URL, relative to the component's page, of the checkpoint's browser model (pass it to `loadModel`).

    Exported on first use (`vae.web.web_model_dir`) and copied into the component's folder under the weights'
    fingerprint. None when the model cannot be exported or read: the page then decodes on the server.
    """
    try:
        source = web_model_dir(checkpoint)
        key = weights_sha256(checkpoint)[:16]
    except (CheckpointError, WebExportError, OSError):
        return None
    target = component / MODELS / key
    if not (target / GRAPH).exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="staging-", dir=target.parent))
        for path in source.iterdir():
            shutil.copy(path, staging / path.name)
        _publish(staging, target)
    return f"{MODELS}/{key}/"
