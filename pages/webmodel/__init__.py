"""What every Streamlit component of the app shares on the Python side: its served folder, the browser model's URL,
plotly.js, files published by content, and the test hooks.

A component's files are served from one folder, and Streamlit refuses links that lead out of it. So each component
gets a folder in the user's cache, made once per version of its files: its own page and scripts, `component.js`
and the vendored TensorFlow.js runtime with `vae_model.js` (this folder), and any extra files (plotly.js). A
checkpoint's browser model (`vae.web`) is exported on first use into `models/<fingerprint>/` of the cache folder, once
for all components, and copied into the same place in each component's folder, so the component fetches it by a
relative URL; the checkpoint folder itself is only read.

    root = stage_component("latent_map", Path(__file__).parent, ("index.html", "map_chart.js"))
    chart = declare("latent_map", root)     # call it as components.declare_component's function
    url = model_url(root, sel.folder)       # "models/3f2a.../" or None: decode on the server then
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import plotly
import streamlit as st
import streamlit.components.v1 as components

from vae.checkpoint import WEIGHTS, CheckpointError
from vae.web import GRAPH, PARTS, WebExportError, web_model_dir

RUNTIME_DIR = Path(__file__).parent
RUNTIME_SCRIPTS = ("tf-core.es2017.min.js", "tf-backend-wasm.es2017.min.js", "vae_model.js")
"""Load these in this order (each with a <script> tag) before using `loadModel`."""
LOADER = "component.js"
"""Every component page loads it first: the frame messages, painting, the map projection and the runtime's start."""
RUNTIME_FILES = (LOADER, *RUNTIME_SCRIPTS, "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm.wasm")
MODELS = "models"
TEST_HOOKS = "VAE_TEST_HOOKS"
"""Set to 1 (the test and benchmark servers do): components then expose their counters as window.__* for probes."""
_GL2D = RUNTIME_DIR / "plotly-gl2d.min.js"  # npm plotly.js's dist/ (MIT licence)


def cache_root() -> Path:
    """The folder the components are served from: ~/.cache/vae-explorer ($XDG_CACHE_HOME), or, where that cannot
    be written (a read-only home, a container's user without one), a folder of this user's in the temporary
    directory."""
    return _writable(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vae-explorer")


@functools.cache
def _writable(preferred: Path) -> Path:
    for folder in (preferred, Path(tempfile.gettempdir()) / f"vae-explorer-{os.getuid()}"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                return folder
        except OSError:
            continue
    return Path(tempfile.mkdtemp(prefix="vae-explorer-"))


def plotly_js() -> Path:
    """The plotly.js to serve: our gl2d partial bundle (1.5 MB: scatter, scattergl, parcoords, splom) when it is the
    version the plotly package ships, else the package's full 4.8 MB bundle, which parses slower (bench/README.md)."""
    full = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return _GL2D if _version(_GL2D) == _version(full) else full


def _version(script: Path) -> str | None:
    with script.open(encoding="utf-8") as f:
        found = re.search(r"plotly\.js.* v(\d+\.\d+\.\d+)", f.read(200))
    return found.group(1) if found else None


def _publish(staging: Path, target: Path) -> None:
    """Rename a fully written staging folder to `target`; another process that got there first wins."""
    try:
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


def stage_component(name: str, source: Path, files: Sequence[str], extra: Mapping[str, Path] | None = None) -> Path:
    """A folder holding `files` from `source`, the shared scripts and runtime, and `extra` (served name -> file).

    Made once per content of those files, in the user's cache folder, and never changed afterwards except for the
    models that `model_url` adds and the files that `publish` adds.
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


def test_hooks() -> bool:
    """Whether components expose their window.__* counters (`TEST_HOOKS` set to 1)."""
    return os.environ.get(TEST_HOOKS) == "1"


def declare(name: str, folder: Path) -> Callable[..., object]:
    """`components.declare_component(name, path=folder)`, whose calls also pass test_hooks=True under `TEST_HOOKS`."""
    component = components.declare_component(name, path=str(folder))

    def call(**kwargs):
        return component(**kwargs, **({"test_hooks": True} if test_hooks() else {}))

    return call


MODELS_KEPT = 32  # browser models kept in a component's folder; the least recently staged go first
_MODEL_FILES = (GRAPH, *(f"{part}.safetensors" for part in PARTS))


def model_url(component: Path, checkpoint: Path) -> str | None:
    """The URL, relative to the component's page, of the checkpoint's browser model (pass it to `loadModel`); None
    when the model cannot be exported or read: the page then decodes on the server.

    Exported on first use (`vae.web.web_model_dir`), looked up once per version of the weights file (its path, size
    and modification time), so a rerun does not hash the weights again, and copied into the component's folder
    (its expected regular files only) whenever it is not there.
    """
    try:
        info = (Path(checkpoint) / WEIGHTS).stat()
        source = _exported(str(checkpoint), info.st_size, info.st_mtime_ns)
        if source is None:
            return None
        target = Path(component) / MODELS / source.name
        if not (target / GRAPH).exists():
            _stage_model(source, target)
    except OSError:
        return None
    return f"{MODELS}/{target.name}/"


@st.cache_resource(show_spinner=False, max_entries=64)
def _exported(checkpoint: str, size: int, mtime_ns: int) -> Path | None:
    try:
        return web_model_dir(checkpoint, cache_root() / MODELS)  # exported once for all components
    except (CheckpointError, WebExportError, OSError):
        return None


def _stage_model(source: Path, target: Path) -> None:
    """Copy an exported model's files (regular files of the expected names, no links) into a component's folder,
    keeping the MODELS_KEPT models staged last."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=target.parent))
    for name in _MODEL_FILES:
        path = source / name
        if path.is_symlink() or not path.is_file():
            shutil.rmtree(staging, ignore_errors=True)
            raise OSError(f"{path} is not a regular file")
        shutil.copyfile(path, staging / name, follow_symlinks=False)
    _publish(staging, target)
    staged = []
    for folder in target.parent.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if not folder.name.startswith("staging-"):
                staged.append((folder.stat().st_mtime_ns, folder))
    for _, old in sorted(staged)[:-MODELS_KEPT]:
        shutil.rmtree(old, ignore_errors=True)


PUBLISHED = "published"
KEEP_PUBLISHED = 256  # files kept in a served folder; the oldest go first, and a page still using one writes it again


def publish(component: Path, data: bytes, suffix: str) -> str:
    """The URL, relative to the component's page, of a served file holding `data`: named for its content, written
    once (atomically), so any number of sessions and app processes can share it."""
    name = f"{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
    target = component / PUBLISHED / name
    now = time.time_ns()  # a file's time is its last use (the file system's own clock may be too coarse to order)
    try:
        os.utime(target, ns=(now, now))
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix="staging-", delete=False) as f:
            f.write(data)
        os.utime(f.name, ns=(now, now))
        os.replace(f.name, target)
        _prune(target.parent)
    return f"{PUBLISHED}/{name}"


def _prune(folder: Path) -> None:
    """Remove all but the KEEP_PUBLISHED files used last (another process's files being written are left alone)."""
    used = []
    for file in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):  # removed meanwhile by another process
            if not file.name.startswith("staging-"):
                used.append((file.stat().st_mtime_ns, file))
    for _, old in sorted(used)[:-KEEP_PUBLISHED]:
        old.unlink(missing_ok=True)


def figure_url(component: Path, figure_json: str) -> str:
    """The URL of a Plotly figure's JSON. A component fetches it when it changes, so a script run (a slider's
    release, a click) sends it a few hundred bytes, not the figure's hundreds of kilobytes."""
    return publish(component, figure_json.encode(), ".json")


def map_points_url(component: Path, coords: np.ndarray, codes: np.ndarray) -> str:
    """The URL of a binary file of a map's points: float32 map positions (N, 2), then their codes (N, z). A component
    reads it for UMAP, which has no inverse: the browser takes the mean code of the nearest map points, as
    `vae.latent.MapProjection` does (`MapProjection.spec(points=...)`)."""
    data = np.concatenate([np.asarray(coords, "<f4").ravel(), np.asarray(codes, "<f4").ravel()])
    return publish(component, data.tobytes(), ".f32")
